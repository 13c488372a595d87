# Figures (PNG for the report, PDF for papers): loss against gradient computations; with
# several seeds, the mean over seeds with a min-max band. The side studies' figures are in
# their rule files.


rule figure_tuning:
    input:
        runs=select_csvs,
        meta=select_jsons,
    output:
        png=report(
            f"{FIGURES}/{{study}}_bn~{{bn}}_tuning.png",
            caption="../report/figure_tuning.rst",
            category="Figures",
            subcategory="Tuning",
            labels={"study": "{study}", "bn": "{bn}"},
        ),
        pdf=f"{FIGURES}/{{study}}_bn~{{bn}}_tuning.pdf",
    log:
        f"{LOGS}/figures/{{study}}_bn~{{bn}}_tuning.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("figures.py"),
        runs=select_run_params,
        title=tuning_title,
    script:
        "../../scripts/figures.py"


rule figure_final:
    input:
        runs=final_csvs,
        meta=final_jsons,
    output:
        png=report(
            f"{FIGURES}/{{study}}_bn~{{bn}}_final.png",
            caption="../report/figure_final.rst",
            category="Figures",
            subcategory="Final",
            labels={"study": "{study}", "bn": "{bn}"},
        ),
        pdf=f"{FIGURES}/{{study}}_bn~{{bn}}_final.pdf",
    log:
        f"{LOGS}/figures/{{study}}_bn~{{bn}}_final.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("figures.py"),
        runs=final_run_params,
        title=final_title,
        band="min-max",
    script:
        "../../scripts/figures.py"


rule figure_target:
    input:
        runs=final_csvs,
        meta=final_jsons,
    output:
        png=report(
            f"{FIGURES}/{{study}}_bn~{{bn}}_target.png",
            caption="../report/figure_target.rst",
            category="Figures",
            subcategory="Time to target",
            labels={"study": "{study}", "bn": "{bn}"},
        ),
        pdf=f"{FIGURES}/{{study}}_bn~{{bn}}_target.pdf",
    log:
        f"{LOGS}/figures/{{study}}_bn~{{bn}}_target.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("figures.py"),
        runs=final_run_params,
        target=target_spec,
        title=target_title,
    script:
        "../../scripts/figures.py"


use rule figure_final as figure_variance with:
    input:
        runs=variance_csvs,
    output:
        png=report(
            variance_figure("{study}"),
            caption="../report/figure_variance.rst",
            category="Figures",
            subcategory="Gradient variance",
            labels={"study": "{study}"},
        ),
        pdf=variance_figure("{study}", "pdf"),
    log:
        f"{LOGS}/figures/{{study}}_variance.log",
    params:
        runs=variance_run_params,
        title=variance_title,
