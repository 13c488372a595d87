# The toy side study (tests/side_study/toy.py): its two training runs and its figure.
TOY_RUN = SIDES["toy"].stem


wildcard_constraints:
    arm="low|high",


localrules:
    figure_toy,


use rule tune as toy with:
    input:
        data=side_data("toy"),
    output:
        csv=f"{TOY_RUN}.csv",
        json=f"{TOY_RUN}.json",
    log:
        log_path(TOY_RUN),
    resources:
        **side_resources("toy"),
    params:
        args=side_args("toy"),
        code=side_code("toy"),
        checkpoint=checkpoint_path(TOY_RUN),


use rule figure_final as figure_toy with:
    input:
        runs=SIDES["toy"].files(".csv"),
    output:
        png=f"{FIGURES}/toy.png",
        pdf=f"{FIGURES}/toy.pdf",
    log:
        f"{LOGS}/figures/toy.log",
    params:
        runs=SIDES["toy"].runs(),
        title=side_title("toy"),
