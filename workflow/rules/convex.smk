# The convex sanity study: multinomial logistic regression with an L2 term, each optimizer at a
# fixed step size from the config (no tuning), the training objective tracked every epoch
# (vrdl.stages.convex), and its figure.
CONVEX_RUN = SIDES["convex"].stem


# seconds-long: runs where Snakemake runs
localrules:
    figure_convex,


use rule tune as convex with:
    input:
        data=side_data("convex"),
    output:
        csv=report(
            f"{CONVEX_RUN}.csv",
            caption="../report/convex.rst",
            category="Convex sanity study",
            labels={"optimizer": "{optimizer}", "seed": "{seed}"},
        ),
        json=f"{CONVEX_RUN}.json",
    log:
        log_path(CONVEX_RUN),
    resources:
        **side_resources("convex"),
    params:
        args=side_args("convex"),
        code=side_code("convex"),
        checkpoint=checkpoint_path(CONVEX_RUN),


use rule figure_final as figure_convex with:
    input:
        runs=SIDES["convex"].files(".csv"),
        meta=SIDES["convex"].files(".json"),
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
    params:
        runs=SIDES["convex"].runs(),
        title=side_title("convex"),
