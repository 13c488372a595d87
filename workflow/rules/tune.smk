# One training run per study x BN x optimizer x grid point x seed x fold (or hold-out split),
# evaluated on the validation part each epoch.


rule tune:
    input:
        data=study_data,
    output:
        csv=f"{TUNE}.csv",
        json=f"{TUNE}.json",
    log:
        log_path(TUNE),
    conda:
        "../../envs/vrdl.yaml"
    threads: COMPUTE["threads"]
    resources:
        gpu=COMPUTE["gpus_per_job"],
    params:
        args=tune_params,
        checkpoint=checkpoint_path(TUNE),
    script:
        "../../scripts/train.py"
