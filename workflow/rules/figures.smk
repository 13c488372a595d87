# Figures (PNG for the report, PDF for papers): loss against gradient computations.


rule figure_tuning:
    input:
        runs=select_csvs,
        meta=select_jsons,
        code=library_code("plots.py"),
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
        "logs/figures/{study}_bn~{bn}_tuning.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        runs=select_run_params,
        title=tuning_title,
    script:
        "../../scripts/figures.py"


rule figure_final:
    input:
        runs=final_csvs,
        meta=final_jsons,
        code=library_code("plots.py"),
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
        "logs/figures/{study}_bn~{bn}_final.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        labels=final_labels,
        title=final_title,
    script:
        "../../scripts/figures.py"


rule figure_metainit:
    input:
        runs=expand(f"{METAINIT_RUN}.csv", variant=["off", "on"]),
        meta=expand(f"{METAINIT_RUN}.json", variant=["off", "on"]),
        code=library_code("plots.py"),
    output:
        png=report(
            f"{FIGURES}/metainit.png",
            caption="../report/figure_metainit.rst",
            category="Figures",
            subcategory="MetaInit",
        ),
        pdf=f"{FIGURES}/metainit.pdf",
    log:
        "logs/figures/metainit.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        labels=["without MetaInit", "with MetaInit"],
        title=metainit_title,
    script:
        "../../scripts/figures.py"
