# The tidy tables of the config's results (vrdl.tables): runs.parquet and runs.csv (one row per
# run: identity, every hyperparameter, final and best losses, provenance) and curves.parquet
# (one row per run and epoch), every run read through the checked reader.


rule tables:
    input:
        unpack(table_inputs),
    output:
        **PLAN.tables(),
    log:
        f"{LOGS}/tables.log",
    conda:
        "../../envs/vrdl.yaml"
    params:
        runs=table_runs,
        code=script_code("tables.py"),
    script:
        "../../scripts/tables.py"
