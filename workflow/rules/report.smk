# One HTML page: the claims (the study's and the config's) as a table and a figure, what was
# run, the selected hyperparameters beside the paper's, the final test loss/accuracy of every
# optimizer (over seeds), the extensions (variance, convex study, ablation) and all figures;
# beside it, its claims and time-to-target tables as TSV.


rule report:
    input:
        unpack(report_inputs),
    output:
        **PLAN.report_tables(),
        html=report(
            PATHS.report,
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        f"{LOGS}/report.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("report.py"),
        manifest=report_manifest,
    script:
        "../../scripts/report.py"
