# Per study and BN setting, each optimizer's grid point with the lowest mean final-epoch
# validation loss (diverged points excluded). A checkpoint: `final` reads the choice through
# params, so it reruns only when the choice changes.


checkpoint select:
    input:
        runs=select_csvs,
        meta=select_jsons,
    output:
        selected=report(
            SELECTED,
            caption="../report/selected.rst",
            category="Selected hyperparameters",
            labels={"study": "{study}", "bn": "{bn}"},
        ),
        table=TUNING_TABLE,
    log:
        f"{LOGS}/select/{{study}}/bn~{{bn}}.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        code=script_code("select.py"),
        runs=select_run_params,
    script:
        "../../scripts/select.py"
