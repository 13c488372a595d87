# The transform-locking ablation: the same SVRG (or STORM) run on augmented data with both
# gradients of a step on the same augmentation (locking on, the default) or on a fresh one
# (off), with gradient-variance diagnostics (vrdl.stages.ablation), and its figure.
ABLATION_RUN = SIDES["ablation"].stem


wildcard_constraints:
    locking="on|off",


# seconds-long: runs where Snakemake runs
localrules:
    figure_ablation,


use rule tune as ablation with:
    input:
        data=side_data("ablation"),
    output:
        csv=report(
            f"{ABLATION_RUN}.csv",
            caption="../report/ablation.rst",
            category="Transform-locking ablation",
            labels={"locking": "{locking}", "seed": "{seed}"},
        ),
        json=f"{ABLATION_RUN}.json",
        variance=variance_csv(ABLATION_RUN),
    log:
        log_path(ABLATION_RUN),
    resources:
        **side_resources("ablation"),
    params:
        args=side_args("ablation"),
        code=side_code("ablation"),
        checkpoint=checkpoint_path(ABLATION_RUN),


use rule figure_final as figure_ablation with:
    input:
        runs=SIDES["ablation"].files(".csv"),
        variance=SIDES["ablation"].files(".variance.csv"),
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
    params:
        runs=SIDES["ablation"].runs(),
        title=side_title("ablation"),
