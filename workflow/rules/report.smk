# One HTML page with what was run, the selected hyperparameters beside the paper's, the final
# test loss/accuracy of every optimizer (over seeds), the study's claims checked against them
# (vrdl.claims), the extensions (variance, convex study, ablation) and all figures.


rule report:
    input:
        unpack(report_inputs),
        code=library_code("report.py", "claims.py", "runs.py", "targets.py"),
    output:
        report(
            "results/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        "logs/report.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        manifest=report_manifest,
    script:
        "../../scripts/report.py"
