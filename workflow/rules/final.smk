# Each optimizer with its selected hyperparameters, on the full training set, evaluated on the
# test set every epoch.


rule final:
    input:
        unpack(final_input),
    output:
        csv=report(
            f"{FINAL}.csv",
            caption="../report/final.rst",
            category="Final runs",
            labels={"study": "{study}", "bn": "{bn}", "optimizer": "{optimizer}"},
        ),
        json=f"{FINAL}.json",
    log:
        log_path(FINAL),
    conda:
        "../../envs/vrdl.yaml"
    threads: COMPUTE["threads"]
    resources:
        gpu=COMPUTE["gpus_per_job"],
    params:
        args=final_params,
        checkpoint=checkpoint_path(FINAL),
    script:
        "../../scripts/train.py"
