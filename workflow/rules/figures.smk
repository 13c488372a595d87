# Figures (PNG for the report, PDF for papers): loss against gradient computations; with
# several seeds, the mean over seeds with a min-max band.


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


rule figure_metainit:
    input:
        runs=expand(f"{METAINIT_RUN}.csv", variant=["off", "on"]),
        meta=expand(f"{METAINIT_RUN}.json", variant=["off", "on"]),
    output:
        png=report(
            f"{FIGURES}/metainit.png",
            caption="../report/figure_metainit.rst",
            category="Figures",
            subcategory="MetaInit",
        ),
        pdf=f"{FIGURES}/metainit.pdf",
    log:
        f"{LOGS}/figures/metainit.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("figures.py"),
        labels=["without MetaInit", "with MetaInit"],
        title=metainit_title,
    script:
        "../../scripts/figures.py"


rule figure_variance:
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
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("figures.py"),
        runs=variance_run_params,
        title=variance_title,
        band="min-max",
    script:
        "../../scripts/figures.py"


rule figure_convex:
    input:
        runs=convex_files(".csv"),
        meta=convex_files(".json"),
    output:
        png=report(
            f"{FIGURES}/convex.png",
            caption="../report/figure_convex.rst",
            category="Figures",
            subcategory="Convex sanity study",
        ),
        pdf=f"{FIGURES}/convex.pdf",
    log:
        f"{LOGS}/figures/convex.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("figures.py"),
        runs=convex_runs(),
        title=convex_title,
        band="min-max",
    script:
        "../../scripts/figures.py"


rule figure_ablation:
    input:
        runs=ablation_files(".csv"),
        variance=ablation_files(".variance.csv"),
    output:
        png=report(
            f"{FIGURES}/ablation.png",
            caption="../report/figure_ablation.rst",
            category="Figures",
            subcategory="Transform-locking ablation",
        ),
        pdf=f"{FIGURES}/ablation.pdf",
    log:
        f"{LOGS}/figures/ablation.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("figures.py"),
        runs=ablation_runs(),
        title=ablation_title,
        band="min-max",
    script:
        "../../scripts/figures.py"
