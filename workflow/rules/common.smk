# Snakemake glue around the study plan (vrdl.plan): the config is validated and expanded there
# (runs, paths, `vrdl train` arguments, the report manifest); here are the input, params and
# output functions of the rules, which add what only Snakemake knows (checkpoints, ancient()).
import functools
import json
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

# This file's workflow/ directory, also when another project's Snakefile uses the workflow as a
# `module` (workflow.basedir is then that project's). Outputs go to the working directory.
WORKFLOW_DIR = Path(str(workflow.current_basedir)).parent
REPO = WORKFLOW_DIR.parent

# This checkout's vrdl, never another checkout's installed one: the plan, the code fingerprints
# and the jobs (scripts/vrdl_env.py) all use the src/ beside this workflow when it is there.
if (REPO / "src" / "vrdl").is_dir():
    sys.path.insert(0, str(REPO / "src"))
from vrdl import fingerprint  # noqa: E402
from vrdl.cluster import resource_names  # noqa: E402
from vrdl import plan as vp  # noqa: E402
from vrdl.optim.registry import OPTIMIZERS  # noqa: E402
from vrdl.paths import variance_csv  # noqa: E402
from vrdl.runs import RunFileError, check_run_files  # noqa: E402
from vrdl.seals import seal_problem  # noqa: E402
from vrdl.select import SelectionError, read_selection  # noqa: E402

if not config:
    raise WorkflowError(
        "No configuration given. Pass one explicitly: --configfile config/config.yaml "
        "(the paper's full study) or --configfile config/quick.yaml (the CPU demo)."
    )
try:
    # Fills in the schema's defaults in `config` itself, which the rule scripts read.
    PLAN = vp.Plan(config, workflow.configfiles)
except vp.ConfigError as err:
    raise WorkflowError(str(err)) from None
logger.info(
    f"vrdl from {fingerprint.source_root()}; results of config {PLAN.paths.name!r} in {PLAN.paths.root}/"
)

STUDIES, SIDES = PLAN.studies, PLAN.sides
DATA_DIR = PLAN.data_dir
COMPUTE = PLAN.compute
PATHS = PLAN.paths
TUNE, SELECTED, TUNING_TABLE, FINAL = (
    PATHS.tune,
    PATHS.selected,
    PATHS.tuning_table,
    PATHS.final,
)
FIGURES, LOGS = PATHS.figures, f"logs/{PATHS.name}"
checkpoint_path, log_path, variance_figure = (
    PATHS.checkpoint,
    PATHS.log,
    PATHS.variance_figure,
)


wildcard_constraints:
    study="|".join(re.escape(name) for name in STUDIES) or "(?!)",
    bn="on|off",
    optimizer="|".join(OPTIMIZERS),
    point=r"[a-z_]+~[^/]+",
    seed=r"\d+",
    split=r"fold~\d+|holdout",
    group=r"\d+",


def planned(method, *args):
    """A plan method's answer; its refusal (an unconfigured seed or point) as a WorkflowError."""
    try:
        return method(*args)
    except vp.PlanError as err:
        raise WorkflowError(str(err)) from None


# The run files checked in this call (each once)
VERIFIED = set()


def verified(csvs):
    """`csvs`, the runs a job reads, each checked again on every call (vrdl.runs.check_run_files:
    hashes, not mtimes), so that a run file edited or swapped since it was written is caught even
    when Snakemake would find nothing to do. A refused run is set aside and so reruns in this
    call; a dry run only names it (-n moves no file)."""
    for csv in csvs:
        if csv in VERIFIED or not Path(csv).exists():
            continue
        VERIFIED.add(csv)
        try:
            check_run_files(csv, heal=not workflow.dryrun)
        except RunFileError as err:
            rerun = "a run without -n reruns it" if workflow.dryrun else "it reruns now"
            logger.warning(f"{err} ({rerun})")
        except OSError as err:
            # it cannot be set aside: the job reading it refuses it, naming it
            logger.warning(f"{csv} cannot be checked or set aside: {err.strerror}")
    return csvs


def resealed(seal):
    """A derived file (vrdl.seals) edited or replaced since its job wrote it: the seal is removed,
    so that the job rebuilds the files in this call (a dry run only names it)."""
    problem = seal_problem(seal)
    if not problem:
        return
    rebuild = "a run without -n rebuilds it" if workflow.dryrun else "rebuilding it"
    try:
        if not workflow.dryrun:
            Path(seal).unlink()
    except OSError as err:
        # its job then fails writing there, with one line naming the cause
        rebuild = f"{seal} cannot be removed: {err.strerror}"
    logger.warning(f"{problem} ({rebuild})")


def data_input(dataset):
    # ancient: the prepared tensors are a fixed function of the raw files, so re-preparing
    # them (a new mtime) must not retrain the whole study.
    return ancient(f"{DATA_DIR}/{dataset}.pt")


# Code fingerprints (vrdl.fingerprint) as params: an edit of the code a job runs reruns it.
@functools.cache
def run_code(optimizer, stacked=False):
    """What a training run of `optimizer` executes: the loop, its imports, the optimizer, and
    the rule script that starts it."""
    script = "train_grid.py" if stacked else "train.py"
    return "+".join(
        (fingerprint.run_fingerprint(optimizer, stacked), script_code(script))
    )


@functools.cache
def script_code(script):
    """What an analysis rule's script executes: its vrdl imports, and theirs."""
    return fingerprint.script_fingerprint(REPO / "scripts" / script)


def training_code(wildcards):
    return run_code(wildcards.optimizer)


def data_source(wildcards):
    return config["data"]["sources"].get(wildcards.dataset)


def study_data(wildcards):
    return data_input(STUDIES[wildcards.study].cfg["dataset"])


def check_every_target(log):
    """`onsuccess`: a call for the whole study that ends with a result missing exits non-zero
    naming it, never "done". A safety net: Snakemake has dropped every job after one whose
    output is an ancient() input (a forced prepare_data) and exited 0 with nothing trained.
    """
    settings = workflow.dag_settings
    if settings.targets or settings.target_jobs or settings.until or settings.omit_from:
        return  # the user asked for part of the study
    missing = [path for path in PLAN.all_results() if not Path(path).exists()]
    if missing:
        shown = "\n  ".join(missing[:10]) + ("\n  ..." if len(missing) > 10 else "")
        logger.error(
            f"This call ended without {len(missing)} of the study's results:\n  {shown}\n"
            "Run the same command again; if it says the same, report it (with the log above)."
        )
        sys.exit(1)  # no traceback: the message says it all


# ---------------------------------------------------------------------------------------------
# What training jobs ask a cluster for (vrdl.cluster), and the groups of tune runs


def training_resources(model):
    """A training rule's `resources:`; `model` names the runs' model, or is a function of the
    wildcards that does. The time grows with the attempt: a resubmitted job resumes."""
    model_of = model if callable(model) else lambda wildcards: model

    def value(key):
        return lambda wildcards: PLAN.resources(model_of(wildcards))[key]

    resources = {key: value(key) for key in resource_names(COMPUTE)}
    resources["runtime"] = (
        lambda wildcards, attempt: value("runtime")(wildcards) * attempt
    )
    return resources


def group_check_resources():
    """The check of a group: seconds, in its runs' partition (a cluster job has one)."""
    resources = {"runtime": 5, "mem_mb": 2000}
    if "slurm_partition" in resource_names(COMPUTE):
        resources["slurm_partition"] = PLAN.config["cluster"]["gpu_partition"] or ""
    return resources


def study_model(wildcards):
    return STUDIES[wildcards.study].cfg["model"]


def tune_group(wildcards):
    """The Snakemake group of a tune run (`cluster.group_runs`), None when it runs alone."""
    return PLAN.tune_groups.name(dict(wildcards.items()))


def group_runs(wildcards):
    return PLAN.tune_groups.runs(wildcards.study, int(wildcards.group))


def group_csvs(wildcards):
    return [TUNE.format(**run) + ".csv" for run in group_runs(wildcards)]


def group_jsons(wildcards):
    return [TUNE.format(**run) + ".json" for run in group_runs(wildcards)]


def group_run_params(wildcards):
    study = STUDIES[wildcards.study]
    return [
        dict(run, hparams=study.tune_hparams(run["optimizer"], run["point"]))
        for run in group_runs(wildcards)
    ]


# ---------------------------------------------------------------------------------------------
# tune and select


def tune_params(wildcards):
    return planned(STUDIES.tune_args, dict(wildcards.items()))


def select_csvs(wildcards):
    return verified(STUDIES.tune_files(wildcards.study, wildcards.bn, ".csv"))


def select_jsons(wildcards):
    return STUDIES.tune_files(wildcards.study, wildcards.bn, ".json")


def select_run_params(wildcards):
    return STUDIES.select_run_params(wildcards.study, wildcards.bn)


# ---------------------------------------------------------------------------------------------
# final runs: the hyperparameters `select` chose, or the paper's (`selection: paper`)


def wait_for_selection(study, bn):
    """The selected.tsv of a setting, once the select checkpoint made it (None: from the paper)."""
    if STUDIES[study].from_paper:
        return None
    return checkpoints.select.get(study=study, bn=bn).output.selected


def final_hparams(wildcards):
    selected = wait_for_selection(wildcards.study, wildcards.bn)
    if selected is None:
        return STUDIES[wildcards.study].paper_hparams(wildcards.bn, wildcards.optimizer)
    try:  # checked against tuning.tsv; a refused one is moved aside, so the next run selects again
        rows = read_selection(selected, heal=not workflow.dryrun).set_index("optimizer")
    except SelectionError as err:
        raise WorkflowError(str(err)) from None
    if wildcards.optimizer not in rows.index:
        raise WorkflowError(
            f"{selected} has no row for {wildcards.optimizer}: delete it and run snakemake again"
        )
    return json.loads(rows.loc[wildcards.optimizer, "hparams"])


def final_input(wildcards):
    # Only the data: the selection reaches the job through params, so a select rerun that
    # picks the same point leaves the final run alone.
    wait_for_selection(wildcards.study, wildcards.bn)
    return {"data": study_data(wildcards)}


def final_params(wildcards):
    return planned(
        STUDIES.final_args, dict(wildcards.items()), final_hparams(wildcards)
    )


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
    if STUDIES.final_variance:
        outputs["variance"] = variance_csv(FINAL)
    return outputs


# ---------------------------------------------------------------------------------------------
# Side studies (vrdl.stages.SIDE_STAGES): the Snakefile includes each one's rule file, which asks
# for its stage's functions by key.
SIDE_RULES = [stage.rules for stage in vp.SIDE_STAGES]


def side_data(key):
    return lambda wildcards: data_input(planned(lambda: SIDES[key].dataset))


def side_args(key):
    return lambda wildcards: planned(SIDES[key].args, dict(wildcards.items()))


def side_code(key):
    return lambda wildcards: run_code(SIDES[key].optimizer(dict(wildcards.items())))


def side_resources(key):
    return training_resources(lambda wildcards: SIDES[key].model)


def side_title(key):
    return lambda wildcards: SIDES[key].title()


# ---------------------------------------------------------------------------------------------
# Figures and report


def tuning_title(wildcards):
    return STUDIES[wildcards.study].tuning_title(wildcards.bn)


def final_title(wildcards):
    return STUDIES[wildcards.study].final_title(wildcards.bn)


def target_title(wildcards):
    return STUDIES[wildcards.study].target_title(wildcards.bn)


def target_spec(wildcards):
    return STUDIES[wildcards.study].time_to_target()


def variance_title(wildcards):
    return STUDIES[wildcards.study].variance_title()


def final_csvs(wildcards):
    # Waiting for the selection like `final` does makes Snakemake re-evaluate this job after
    # `select`, so a select rerun that leaves every final run alone leaves the figure alone.
    csvs = verified(STUDIES.final_files(wildcards.study, wildcards.bn, ".csv"))
    wait_for_selection(wildcards.study, wildcards.bn)
    return csvs


def final_jsons(wildcards):
    return [path.removesuffix(".csv") + ".json" for path in final_csvs(wildcards)]


def final_run_params(wildcards):
    """What each CSV of `final_csvs` is: its optimizer and seed."""
    return [
        dict(optimizer=run["optimizer"], seed=run["seed"])
        for run in STUDIES.final_runs(wildcards.study, wildcards.bn)
    ]


def variance_csvs(wildcards):
    for bn in STUDIES[wildcards.study].bns:
        wait_for_selection(wildcards.study, bn)
    return STUDIES.variance_files(wildcards.study)


def variance_run_params(wildcards):
    return [
        dict(bn=run["bn"], optimizer=run["optimizer"], seed=run["seed"])
        for run in STUDIES.variance_runs(wildcards.study)
    ]


def report_inputs(wildcards):
    resealed(PLAN.report_tables()["seal"])  # first, as in table_inputs
    return PLAN.report_inputs()


def report_manifest(wildcards):
    return PLAN.report_manifest()


# ---------------------------------------------------------------------------------------------
# The tidy tables


def table_inputs(wildcards):
    """Every run's CSV and JSON, once the selections the final runs wait for are made."""
    # Checks first: before the wait, which Snakemake's first pass of the DAG ends, so that what
    # they remove is missing when Snakemake looks at the files.
    resealed(PLAN.tables()["seal"])
    csvs = verified([run["csv"] for run in PLAN.table_runs()])
    for setting in STUDIES.settings(selected_only=True):
        wait_for_selection(setting["study"], setting["bn"])
    return {
        "csvs": csvs,
        "jsons": [path.removesuffix(".csv") + ".json" for path in csvs],
    }


def table_runs(wildcards):
    return PLAN.table_runs()
