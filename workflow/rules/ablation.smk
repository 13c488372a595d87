# The transform-locking ablation: the same SVRG (or STORM) run on augmented data with both
# gradients of a step on the same augmentation (locking on, the default) or on a fresh one
# (off), with gradient-variance diagnostics.


rule ablation:
    input:
        data=ablation_data,
    output:
        csv=report(
            f"{ABLATION_RUN}.csv",
            caption="../report/ablation.rst",
            category="Transform-locking ablation",
            labels={"locking": "{locking}", "seed": "{seed}"},
        ),
        json=f"{ABLATION_RUN}.json",
        variance=variance_csv(ABLATION_RUN),
    log:
        log_path(ABLATION_RUN),
    conda:
        "../../envs/vrdl.yaml"
    threads: COMPUTE["threads"]
    resources:
        gpu=COMPUTE["gpus_per_job"],
    params:
        args=ablation_params,
        code=ablation_code,
        checkpoint=checkpoint_path(ABLATION_RUN),
    script:
        "../../scripts/train.py"
