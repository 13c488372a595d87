# One HTML page: the claims (the study's and the config's) as a table and a figure, what was
# run, the selected hyperparameters beside the paper's, the final test loss/accuracy of every
# optimizer (over seeds), the extensions (variance, convex study, ablation) and all figures;
# beside it, its claims and time-to-target tables as TSV.


rule report:
    input:
        unpack(report_inputs),
        code=library_code("report.py", "claims.py", "runs.py", "targets.py", "plots.py"),
        templates=library_templates(),
    output:
        html=report(
            REPORT,
            caption="../report/report.rst",
            category="Report",
        ),
        claims=report_table("claims"),
        time_to_target=report_table("time_to_target"),
    log:
        "logs/report.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        manifest=report_manifest,
    script:
        "../../scripts/report.py"
