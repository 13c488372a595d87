# The same SVRG run with (variant on) and without (off) MetaInit, evaluated on the test set.


rule metainit:
    input:
        data=metainit_data,
    output:
        csv=report(
            f"{METAINIT_RUN}.csv",
            caption="../report/metainit.rst",
            category="MetaInit",
            labels={"metainit": "{variant}"},
        ),
        json=f"{METAINIT_RUN}.json",
    log:
        log_path(METAINIT_RUN),
    conda:
        "../../envs/vrdl.yaml"
    threads: COMPUTE["threads"]
    resources:
        gpu=COMPUTE["gpus_per_job"],
    params:
        args=metainit_params,
        code=metainit_code,
        checkpoint=checkpoint_path(METAINIT_RUN),
    script:
        "../../scripts/train.py"
