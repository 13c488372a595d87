# Snakemake glue around the study plan (vrdl.plan): the config is validated and expanded there
# (runs, paths, `vrdl train` arguments, the report manifest); here are the input, params and
# output functions of the rules, which add what only Snakemake knows (checkpoints, ancient()).
import csv
import json
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

REPO = Path(workflow.basedir).parent

try:  # the installed vrdl, else this checkout's src/ (as scripts/vrdl_env.py does)
    import vrdl.plan
except ModuleNotFoundError:
    sys.path.insert(0, str(REPO / "src"))
from vrdl import plan as vp  # noqa: E402

if not config:
    raise WorkflowError(
        "No configuration given. Pass one explicitly: --configfile config/config.yaml "
        "(the paper's full study) or --configfile config/quick.yaml (the CPU demo)."
    )
try:
    # Fills in the schema's defaults in `config` itself, which the rule scripts read.
    PLAN = vp.Plan(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
except vp.ConfigError as err:
    raise WorkflowError(str(err)) from None

STUDIES = PLAN.studies
METAINIT, CONVEX, ABLATION = PLAN.metainit, PLAN.convex, PLAN.ablation
DATA_DIR = PLAN.data_dir
COMPUTE = PLAN.compute
TUNE, SELECTED, TUNING_TABLE, FINAL = vp.TUNE, vp.SELECTED, vp.TUNING_TABLE, vp.FINAL
METAINIT_RUN, CONVEX_RUN, ABLATION_RUN = vp.METAINIT_RUN, vp.CONVEX_RUN, vp.ABLATION_RUN
FIGURES = vp.FIGURES
REPORT, report_table = vp.REPORT, vp.report_table
checkpoint_path, log_path, variance_csv = vp.checkpoint_path, vp.log_path, vp.variance_csv
variance_figure = vp.variance_figure
stacked_groups, stacked_params = PLAN.stacked_groups, PLAN.stacked_params
convex_runs, ablation_runs = PLAN.convex_runs, PLAN.ablation_runs
convex_files, ablation_files = PLAN.convex_files, PLAN.ablation_files
all_results = PLAN.all_results


wildcard_constraints:
    study="|".join(re.escape(name) for name in STUDIES) or "(?!)",
    bn="on|off",
    optimizer="|".join(vp.registry.OPTIMIZERS),
    point=r"[a-z_]+~[^/]+",
    seed=r"\d+",
    split=r"fold~\d+|holdout",
    variant="on|off",
    locking="on|off",


def planned(method, *args):
    """A plan method's answer; its refusal (an unconfigured seed or point) as a WorkflowError."""
    try:
        return method(*args)
    except vp.PlanError as err:
        raise WorkflowError(str(err)) from None


def data_input(dataset):
    # ancient: the prepared tensors are a fixed function of the raw files, so re-preparing
    # them (a new mtime) must not retrain the whole study.
    return ancient(f"{DATA_DIR}/{dataset}.pt")


def library_code(*names):
    """Library modules whose edits should rerun a rule (mtime), when this checkout has them;
    relative to the working directory, so a moved checkout keeps its metadata."""
    paths = [REPO / "src" / "vrdl" / name for name in names]
    return [os.path.relpath(path) for path in paths if path.exists()]


def library_templates():
    """The report's templates and stylesheet: an edit reruns the report."""
    folder = REPO / "src" / "vrdl" / "templates"
    return sorted(os.path.relpath(path) for path in folder.iterdir()) if folder.is_dir() else []


def data_source(wildcards):
    return config["data"]["sources"].get(wildcards.dataset)


def study_data(wildcards):
    return data_input(STUDIES[wildcards.study]["dataset"])


def metainit_data(wildcards):
    return data_input(METAINIT["dataset"])


def convex_data(wildcards):
    return data_input(CONVEX["dataset"])


def ablation_data(wildcards):
    return data_input(ABLATION["dataset"])


# ---------------------------------------------------------------------------------------------
# tune and select


def tune_params(wildcards):
    return planned(PLAN.tune_args, dict(wildcards.items()))


def select_csvs(wildcards):
    return PLAN.tune_files(wildcards.study, wildcards.bn, ".csv")


def select_jsons(wildcards):
    return PLAN.tune_files(wildcards.study, wildcards.bn, ".json")


def select_run_params(wildcards):
    return PLAN.select_run_params(wildcards.study, wildcards.bn)


# ---------------------------------------------------------------------------------------------
# final runs: the hyperparameters `select` chose, or the paper's (`selection: paper`)


def wait_for_selection(study, bn):
    """The selected.tsv of a setting, once the select checkpoint made it (None: from the paper)."""
    if PLAN.from_paper(study):
        return None
    return checkpoints.select.get(study=study, bn=bn).output.selected


def final_hparams(wildcards):
    selected = wait_for_selection(wildcards.study, wildcards.bn)
    if selected is None:
        return PLAN.paper_hparams(wildcards.study, wildcards.bn, wildcards.optimizer)
    with open(selected, newline="") as handle:
        rows = {
            row["optimizer"]: row
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        }
    if wildcards.optimizer not in rows:
        raise WorkflowError(f"{selected} has no row for {wildcards.optimizer}")
    return json.loads(rows[wildcards.optimizer]["hparams"])


def final_input(wildcards):
    # Only the data: the selection reaches the job through params, so a select rerun that
    # picks the same point leaves the final run alone.
    wait_for_selection(wildcards.study, wildcards.bn)
    return {"data": data_input(STUDIES[wildcards.study]["dataset"])}


def final_params(wildcards):
    return planned(PLAN.final_args, dict(wildcards.items()), final_hparams(wildcards))


def final_outputs():
    outputs = dict(
        csv=report(
            f"{FINAL}.csv",
            caption="../report/final.rst",
            category="Final runs",
            labels={
                "study": "{study}",
                "bn": "{bn}",
                "optimizer": "{optimizer}",
                "seed": "{seed}",
            },
        ),
        json=f"{FINAL}.json",
    )
    if PLAN.final_variance:
        outputs["variance"] = variance_csv(FINAL)
    return outputs


# ---------------------------------------------------------------------------------------------
# MetaInit, convex study, ablation


def metainit_params(wildcards):
    return PLAN.metainit_args(wildcards.variant)


def convex_params(wildcards):
    return planned(PLAN.convex_args, wildcards.optimizer, wildcards.seed)


def ablation_params(wildcards):
    return planned(PLAN.ablation_args, wildcards.locking, wildcards.seed)


# ---------------------------------------------------------------------------------------------
# Figures and report


def tuning_title(wildcards):
    return PLAN.tuning_title(wildcards.study, wildcards.bn)


def final_title(wildcards):
    return PLAN.final_title(wildcards.study, wildcards.bn)


def target_title(wildcards):
    return PLAN.target_title(wildcards.study, wildcards.bn)


def target_spec(wildcards):
    return PLAN.time_to_target(wildcards.study)


def metainit_title(wildcards):
    return PLAN.metainit_title()


def variance_title(wildcards):
    return PLAN.variance_title(wildcards.study)


def convex_title(wildcards):
    return PLAN.convex_title()


def ablation_title(wildcards):
    return PLAN.ablation_title()


def final_csvs(wildcards):
    # Waiting for the selection like `final` does makes Snakemake re-evaluate this job after
    # `select`, so a select rerun that leaves every final run alone leaves the figure alone.
    wait_for_selection(wildcards.study, wildcards.bn)
    return PLAN.final_files(wildcards.study, wildcards.bn, ".csv")


def final_jsons(wildcards):
    return [path.removesuffix(".csv") + ".json" for path in final_csvs(wildcards)]


def final_run_params(wildcards):
    """What each CSV of `final_csvs` is: its optimizer and seed."""
    return [
        dict(optimizer=run["optimizer"], seed=run["seed"])
        for run in PLAN.final_runs(wildcards.study, wildcards.bn)
    ]


def variance_csvs(wildcards):
    for bn in PLAN.study_bns(wildcards.study):
        wait_for_selection(wildcards.study, bn)
    return PLAN.variance_files(wildcards.study)


def variance_run_params(wildcards):
    return [
        dict(bn=run["bn"], optimizer=run["optimizer"], seed=run["seed"])
        for run in PLAN.variance_runs(wildcards.study)
    ]


def report_inputs(wildcards):
    return PLAN.report_inputs()


def report_manifest(wildcards):
    return PLAN.report_manifest()
