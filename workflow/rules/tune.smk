# One training run per study x BN x optimizer x grid point x seed x fold (or hold-out split),
# evaluated on the validation part each epoch. The other training rules (final, metainit,
# convex, ablation) are this rule with their own files and arguments (`use rule tune as ...`).
# A study with `stacked: true` trains each BN-off (optimizer, seed) grid in one
# `vrdl train-grid` job instead, writing the same files.


rule tune:
    input:
        data=study_data,
    output:
        csv=f"{TUNE}.csv",
        json=f"{TUNE}.json",
    log:
        log_path(TUNE),
    group:
        tune_group
    conda:
        "../../envs/vrdl.yaml"
    threads: COMPUTE["threads"]
    resources:
        **training_resources(study_model),
    params:
        args=tune_params,
        code=training_code,
        checkpoint=checkpoint_path(TUNE),
    script:
        "../../scripts/train.py"


# `stacked: true`: one rule per grid (their outputs differ in number, so one rule each), preferred
# over `tune` for the files both could write.
for group in STUDIES.stacked_groups():

    rule:
        name:
            group["name"]
        input:
            data=data_input(STUDIES[group["study"]].cfg["dataset"]),
        output:
            csv=[TUNE.format(**run) + ".csv" for run in group["runs"]],
            json=[TUNE.format(**run) + ".json" for run in group["runs"]],
        log:
            f"logs/{group['stem']}.stacked.log",
        conda:
            "../../envs/vrdl.yaml"
        threads: COMPUTE["threads"]
        resources:
            **training_resources(STUDIES[group["study"]].cfg["model"]),
        params:
            runs=STUDIES.stacked_params(group),
            code=run_code(group["optimizer"], stacked=True),
            device=COMPUTE["device"],
            spec=f"checkpoints/{group['stem']}.grid.json",
            checkpoint=f"checkpoints/{group['stem']}.grid.ckpt",
        script:
            "../../scripts/train_grid.py"

    workflow.ruleorder(group["name"], "tune")


# `cluster.group_runs`: the check that ends each group of tune runs sharing one cluster job
# (vrdl.cluster). Reading every run of the group also joins them in the DAG, so that Snakemake
# submits them as one job.
rule tune_group:
    input:
        runs=group_csvs,
        meta=group_jsons,
    output:
        PATHS.tune_group,
    log:
        f"{LOGS}/tune_groups/{{study}}/group~{{group}}.log",
    group:
        lambda wildcards: f"tune_{wildcards.study}"
    conda:
        "../../envs/vrdl.yaml"
    resources:
        **group_check_resources(),
    params:
        code=script_code("tune_group.py"),
        runs=group_run_params,
    script:
        "../../scripts/tune_group.py"
