# The convex sanity study: multinomial logistic regression with an L2 term, each optimizer at a
# fixed step size from the config (no tuning), the training objective tracked every epoch.


rule convex:
    input:
        data=convex_data,
    output:
        csv=report(
            f"{CONVEX_RUN}.csv",
            caption="../report/convex.rst",
            category="Convex sanity study",
            labels={"optimizer": "{optimizer}", "seed": "{seed}"},
        ),
        json=f"{CONVEX_RUN}.json",
    log:
        log_path(CONVEX_RUN),
    conda:
        "../../envs/vrdl.yaml"
    threads: COMPUTE["threads"]
    resources:
        gpu=COMPUTE["gpus_per_job"],
    params:
        args=convex_params,
        code=training_code,
        checkpoint=checkpoint_path(CONVEX_RUN),
    script:
        "../../scripts/train.py"
