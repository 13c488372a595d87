# The same run with (variant on) and without (off) MetaInit, evaluated on the test set
# (vrdl.stages.metainit), and their figure.
METAINIT_RUN = SIDES["metainit"].stem


wildcard_constraints:
    variant="on|off",


# seconds-long: runs where Snakemake runs
localrules:
    figure_metainit,


use rule tune as metainit with:
    input:
        data=side_data("metainit"),
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
    resources:
        **side_resources("metainit"),
    params:
        args=side_args("metainit"),
        code=side_code("metainit"),
        checkpoint=checkpoint_path(METAINIT_RUN),


rule figure_metainit:
    input:
        runs=SIDES["metainit"].files(".csv"),
        meta=SIDES["metainit"].files(".json"),
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
        title=side_title("metainit"),
    script:
        "../../scripts/figures.py"
