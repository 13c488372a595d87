# One HTML page with what was run, the selected hyperparameters beside the paper's, the final
# test loss/accuracy of every optimizer (over seeds), the study's claims checked against them
# (vrdl.claims), the extensions (variance, convex study, ablation) and all figures.


rule report:
    input:
        unpack(report_inputs),
    output:
        report(
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
