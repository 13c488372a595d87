# Config validation, the grid of runs, paths and input/params functions shared by all rules.
import csv
import itertools
import json
import os
import re
from pathlib import Path

import jsonschema
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

REPO = Path(workflow.basedir).parent
SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"

# Hyperparameters each optimizer takes, which ones it cannot do without, their `vrdl train` flags.
OPTIMIZER_HPARAMS = {
    "sgd": ("lr",),
    "adam": ("lr",),
    "adagrad": ("lr",),
    "svrg": ("lr", "snapshot_every"),
    "storm": ("c", "k", "w"),
}
REQUIRED_HPARAMS = {
    "sgd": ("lr",),
    "adam": ("lr",),
    "adagrad": ("lr",),
    "svrg": ("lr",),
}
CLI_FLAGS = {
    "lr": "--lr",
    "snapshot_every": "--snapshot-every",
    "c": "--storm-c",
    "k": "--storm-k",
    "w": "--storm-w",
}

# PyYAML reads 1e-5 (no dot) as a string; take it for the number it spells.
_EXPONENT_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _coerce_exponent_strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = _coerce_exponent_strings(value)
    elif isinstance(node, list):
        node[:] = [_coerce_exponent_strings(value) for value in node]
    elif isinstance(node, str) and _EXPONENT_NUMBER.match(node):
        return float(node)
    return node


def _key_path(path):
    text = ""
    for part in path:
        text += (
            f"[{part}]"
            if isinstance(part, int)
            else (f".{part}" if text else str(part))
        )
    return text


def _leaf_errors(error):
    """The errors inside anyOf/oneOf that say what is wrong, not 'matches no branch'."""
    if not error.context:
        yield error
        return
    leaves = [
        sub
        for sub in error.context
        if not (sub.validator == "type" and not sub.relative_path)
    ]
    if not leaves:
        yield error
    for sub in leaves:
        yield from _leaf_errors(sub)


def _describe(error):
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [
            f"{_key_path([*error.absolute_path, key])}: unknown key{hint}"
            for key in extra
        ]
    if error.validator == "propertyNames":
        return [f"{_key_path([*error.absolute_path, error.instance])}: {error.message}"]
    return [f"{where or '(top level)'}: {error.message}"]


def config_problems(cfg, schema):
    """Every schema violation and semantic problem of a config, one line each, naming the key."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = []
    for error in validator.iter_errors(cfg):
        for leaf in _leaf_errors(error):
            problems.extend(_describe(leaf))
    if problems:
        return sorted(set(problems))
    for name, study in cfg["studies"].items():
        for optimizer, spec in study["optimizers"].items():
            where = f"studies.{name}.optimizers.{optimizer}"
            grid, fixed = spec.get("grid", {}), spec.get("fixed", {})
            for key in sorted(set(grid) & set(fixed)):
                problems.append(f"{where}.fixed.{key}: also a grid axis; keep one")
            for key in REQUIRED_HPARAMS.get(optimizer, ()):
                if key not in grid and key not in fixed:
                    problems.append(f"{where}.grid.{key}: required for {optimizer}")
        for setting, paper in study.get("paper", {}).items():
            for optimizer, hparams in paper.get("selected", {}).items():
                for key in sorted(set(hparams) - set(OPTIMIZER_HPARAMS[optimizer])):
                    problems.append(
                        f"studies.{name}.paper.{setting}.selected.{optimizer}.{key}: "
                        f"{optimizer} takes {', '.join(OPTIMIZER_HPARAMS[optimizer])}"
                    )
    meta = cfg.get("metainit")
    if meta:
        optimizer = meta["optimizer"]
        for key in sorted(set(meta["hparams"]) - set(OPTIMIZER_HPARAMS[optimizer])):
            problems.append(
                f"metainit.hparams.{key}: {optimizer} takes {', '.join(OPTIMIZER_HPARAMS[optimizer])}"
            )
        for key in REQUIRED_HPARAMS.get(optimizer, ()):
            if key not in meta["hparams"]:
                problems.append(f"metainit.hparams.{key}: required for {optimizer}")
    return problems


def check_config(cfg):
    if not cfg:
        raise WorkflowError(
            "No configuration given. Pass one explicitly: --configfile config/config.yaml "
            "(the paper's full study) or --configfile config/quick.yaml (the CPU demo)."
        )
    _coerce_exponent_strings(cfg)
    with open(SCHEMA) as handle:
        schema = yaml.safe_load(handle)
    problems = config_problems(cfg, schema)
    if problems:
        raise WorkflowError(
            "Invalid configuration (config/README.md documents every key):\n  "
            + "\n  ".join(problems)
        )


check_config(config)
# Passes now; fills in the schema's defaults.
validate(config, schema="../schemas/config.schema.yaml")


# ---------------------------------------------------------------------------------------------
# Grid points and their names in paths


def fmt_value(value):
    """Shortest text that reads back as exactly `value`: 0.01, 1e-05, 100 (for 100.0), 2."""
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    if float(text) != float(value):
        raise ValueError(f"{value!r} does not round-trip through {text!r}")
    return text


def point_name(axes):
    """Path name of a grid point, axes sorted: {'k': 0.1, 'c': 100.0} -> 'c~100_k~0.1'."""
    return "_".join(f"{key}~{fmt_value(axes[key])}" for key in sorted(axes))


def grid_points(spec):
    """{point name: all hyperparameters of that point (grid axes and fixed values)}."""
    grid = spec["grid"]
    keys = sorted(grid)
    points = {}
    for values in itertools.product(*(grid[key] for key in keys)):
        axes = dict(zip(keys, values))
        points[point_name(axes)] = {**spec.get("fixed", {}), **axes}
    return points


def bn_name(value):
    return "on" if value in (True, "on") else "off"


def study_bns(study):
    return sorted(
        {bn_name(value) for value in STUDIES[study]["bn"]}, key=["on", "off"].index
    )


def splits(study):
    selection = STUDIES[study]["selection"]
    if "folds" in selection:
        return [f"fold~{i}" for i in range(selection["folds"])]
    return ["holdout"]


def epochs_for(study, optimizer):
    return STUDIES[study]["optimizers"][optimizer].get(
        "epochs", STUDIES[study]["epochs"]
    )


STUDIES = config["studies"]
METAINIT = config.get("metainit") or None
DATA_DIR = config["data"]["dir"]
COMPUTE = config["compute"]
POINTS = {
    (study, optimizer): grid_points(spec)
    for study, cfg in STUDIES.items()
    for optimizer, spec in cfg["optimizers"].items()
}

# ---------------------------------------------------------------------------------------------
# Paths (results/ and logs/ are relative to the working directory)

TUNE = "results/{study}/bn~{bn}/tune/{optimizer}/{point}/seed~{seed}/{split}"
SELECTED = "results/{study}/bn~{bn}/selected.tsv"
TUNING_TABLE = "results/{study}/bn~{bn}/tuning.tsv"
FINAL = "results/{study}/bn~{bn}/final/{optimizer}"
METAINIT_RUN = "results/metainit/metainit~{variant}"
FIGURES = "results/figures"


wildcard_constraints:
    study="|".join(re.escape(name) for name in STUDIES) or "(?!)",
    bn="on|off",
    optimizer="|".join(OPTIMIZER_HPARAMS),
    point=r"[a-z_]+~[^/]+",
    seed=r"\d+",
    split=r"fold~\d+|holdout",
    variant="on|off",


def checkpoint_path(stem):
    """Per-epoch checkpoints mirror results/ under checkpoints/, outside every declared output,
    so that Snakemake keeps them when a job fails and the rerun resumes."""
    return f"checkpoints/{stem.removeprefix('results/')}.ckpt"


def log_path(stem):
    return f"logs/{stem.removeprefix('results/')}.log"


def data_file(dataset):
    return f"{DATA_DIR}/{dataset}.pt"


def data_input(dataset):
    # ancient: the prepared tensors are a fixed function of the raw files, so re-preparing
    # them (a new mtime) must not retrain the whole study.
    return ancient(data_file(dataset))


def library_code(*names):
    """Library modules whose edits should rerun a rule (mtime), when this checkout has them;
    relative to the working directory, so a moved checkout keeps its metadata."""
    paths = [REPO / "src" / "vrdl" / name for name in names]
    return [os.path.relpath(path) for path in paths if path.exists()]


def tune_runs(study, bn):
    """All tune runs of one study and BN setting, in a stable order: dicts of wildcards."""
    seed = STUDIES[study]["seed"]
    return [
        dict(
            study=study, bn=bn, optimizer=optimizer, point=point, seed=seed, split=split
        )
        for optimizer in STUDIES[study]["optimizers"]
        for point in POINTS[(study, optimizer)]
        for split in splits(study)
    ]


def all_tune_runs():
    return [
        run
        for study in STUDIES
        for bn in study_bns(study)
        for run in tune_runs(study, bn)
    ]


def final_runs():
    return [
        dict(study=study, bn=bn, optimizer=optimizer)
        for study in STUDIES
        for bn in study_bns(study)
        for optimizer in STUDIES[study]["optimizers"]
    ]


def study_settings():
    return [dict(study=study, bn=bn) for study in STUDIES for bn in study_bns(study)]


# ---------------------------------------------------------------------------------------------
# Arguments of `vrdl train` (everything that decides a result; the script adds --out,
# --checkpoint, --data-dir and --threads)


def train_args(setting, optimizer, hparams, bn, epochs, split=None):
    args = [
        "--dataset", setting["dataset"],
        "--model", setting["model"],
        "--bn" if bn == "on" else "--no-bn",
    ]  # fmt: skip
    if setting.get("width") is not None:
        args += ["--width", fmt_value(setting["width"])]
    args += ["--optimizer", optimizer]
    for key in sorted(hparams):
        args += [CLI_FLAGS[key], fmt_value(hparams[key])]
    args += [
        "--epochs", str(epochs),
        "--batch-size", str(setting["batch_size"]),
        "--seed", str(setting["seed"]),
    ]  # fmt: skip
    if split == "holdout":
        args += ["--val-fraction", fmt_value(setting["selection"]["val_fraction"])]
    elif split is not None:
        args += [
            "--folds",
            str(setting["selection"]["folds"]),
            "--fold",
            split.split("~")[1],
        ]
    for key in ("train_subset", "eval_subset"):
        if setting.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", str(setting[key])]
    args += ["--augment", setting["augment"], "--device", COMPUTE["device"]]
    return args


def data_source(wildcards):
    return config["data"]["sources"].get(wildcards.dataset)


def study_data(wildcards):
    return data_input(STUDIES[wildcards.study]["dataset"])


def metainit_data(wildcards):
    return data_input(METAINIT["dataset"])


def select_csvs(wildcards):
    return [
        TUNE.format(**run) + ".csv" for run in tune_runs(wildcards.study, wildcards.bn)
    ]


def select_jsons(wildcards):
    return [
        TUNE.format(**run) + ".json" for run in tune_runs(wildcards.study, wildcards.bn)
    ]


def select_run_params(wildcards):
    """What each tune CSV of `select_csvs` is: optimizer, grid point, split, hyperparameters."""
    return [
        dict(
            optimizer=run["optimizer"],
            point=run["point"],
            split=run["split"],
            seed=run["seed"],
            hparams=POINTS[(run["study"], run["optimizer"])][run["point"]],
        )
        for run in tune_runs(wildcards.study, wildcards.bn)
    ]


def tune_hparams(wildcards):
    try:
        return POINTS[(wildcards.study, wildcards.optimizer)][wildcards.point]
    except KeyError:
        raise WorkflowError(
            f"{wildcards.point} is not a grid point of {wildcards.optimizer} in study "
            f"{wildcards.study} (config studies.{wildcards.study}.optimizers)"
        ) from None


def tune_params(wildcards):
    study = STUDIES[wildcards.study]
    if int(wildcards.seed) != study["seed"]:
        raise WorkflowError(
            f"seed {wildcards.seed} is not configured for {wildcards.study}"
        )
    return train_args(
        study,
        wildcards.optimizer,
        tune_hparams(wildcards),
        wildcards.bn,
        epochs_for(wildcards.study, wildcards.optimizer),
        split=wildcards.split,
    )


def read_selected(path):
    with open(path, newline="") as handle:
        return {
            row["optimizer"]: row
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        }


def selected_hparams(wildcards):
    """The hyperparameters `select` chose; waits for the select checkpoint of this setting."""
    selected = checkpoints.select.get(
        study=wildcards.study, bn=wildcards.bn
    ).output.selected
    rows = read_selected(selected)
    if wildcards.optimizer not in rows:
        raise WorkflowError(f"{selected} has no row for {wildcards.optimizer}")
    return json.loads(rows[wildcards.optimizer]["hparams"])


def final_input(wildcards):
    # Only the data: the selection reaches the job through params, so a select rerun that
    # picks the same point leaves the final run alone.
    checkpoints.select.get(study=wildcards.study, bn=wildcards.bn)
    return {"data": data_input(STUDIES[wildcards.study]["dataset"])}


def final_params(wildcards):
    return train_args(
        STUDIES[wildcards.study],
        wildcards.optimizer,
        selected_hparams(wildcards),
        wildcards.bn,
        epochs_for(wildcards.study, wildcards.optimizer),
    )


def metainit_params(wildcards):
    meta = METAINIT
    args = train_args(
        meta, meta["optimizer"], meta["hparams"], bn_name(meta["bn"]), meta["epochs"]
    )
    if wildcards.variant == "on":
        m = meta["metainit"]
        args += [
            "--metainit",
            "--metainit-steps", str(m["steps"]),
            "--metainit-lr", fmt_value(m["lr"]),
            "--metainit-momentum", fmt_value(m["momentum"]),
            "--metainit-eps", fmt_value(m["eps"]),
            "--metainit-data", m["data"],
        ]  # fmt: skip
    return args


# ---------------------------------------------------------------------------------------------
# Figures and report


def study_title(study):
    cfg = STUDIES[study]
    return cfg.get("title") or f"{cfg['model']} on {cfg['dataset']}"


def paper_setting(study, bn):
    return STUDIES[study].get("paper", {}).get(f"bn_{bn}", {})


def _with_paper_figure(title, figure):
    return f"{title}\n(the paper's Figure {figure})" if figure else title


def tuning_title(wildcards):
    return f"{study_title(wildcards.study)}, BN {wildcards.bn}: validation loss of the grid"


def final_title(wildcards):
    title = f"{study_title(wildcards.study)}, BN {wildcards.bn}: selected hyperparameters on the test set"
    return _with_paper_figure(
        title, paper_setting(wildcards.study, wildcards.bn).get("figure")
    )


def metainit_title(wildcards):
    title = METAINIT.get("title") or f"{METAINIT['optimizer']} on {METAINIT['model']}"
    return _with_paper_figure(title, METAINIT.get("paper", {}).get("figure"))


def final_csvs(wildcards):
    # Waiting for the selection like `final` does makes Snakemake re-evaluate this job after
    # `select`, so a select rerun that leaves every final run alone leaves the figure alone.
    checkpoints.select.get(study=wildcards.study, bn=wildcards.bn)
    return [
        FINAL.format(study=wildcards.study, bn=wildcards.bn, optimizer=optimizer)
        + ".csv"
        for optimizer in STUDIES[wildcards.study]["optimizers"]
    ]


def final_jsons(wildcards):
    return [path.removesuffix(".csv") + ".json" for path in final_csvs(wildcards)]


def final_labels(wildcards):
    return list(STUDIES[wildcards.study]["optimizers"])


def figure_path(study, bn, kind, ext="png"):
    return f"{FIGURES}/{study}_bn~{bn}_{kind}.{ext}"


def report_inputs(wildcards):
    inputs = {
        "selected": [],
        "tables": [],
        "finals": [],
        "final_meta": [],
        "figures": [],
    }
    for setting in study_settings():
        inputs["selected"].append(SELECTED.format(**setting))
        inputs["tables"].append(TUNING_TABLE.format(**setting))
        for kind in ("tuning", "final"):
            inputs["figures"] += [
                figure_path(**setting, kind=kind, ext=e) for e in ("png", "pdf")
            ]
    for run in final_runs():
        inputs["finals"].append(FINAL.format(**run) + ".csv")
        inputs["final_meta"].append(FINAL.format(**run) + ".json")
    if METAINIT:
        inputs["metainit"] = [
            METAINIT_RUN.format(variant=v) + e
            for v in ("off", "on")
            for e in (".csv", ".json")
        ]
        inputs["figures"] += [f"{FIGURES}/metainit.png", f"{FIGURES}/metainit.pdf"]
    return inputs


def report_manifest(wildcards):
    """Everything the report shows, with the paths to read it from (relative to the workdir)."""
    studies = []
    for study, cfg in STUDIES.items():
        settings = []
        for bn in study_bns(study):
            setting = dict(study=study, bn=bn)
            settings.append(
                dict(
                    bn=bn,
                    paper=paper_setting(study, bn),
                    selected=SELECTED.format(**setting),
                    tuning=TUNING_TABLE.format(**setting),
                    finals={
                        optimizer: FINAL.format(**setting, optimizer=optimizer) + ".csv"
                        for optimizer in cfg["optimizers"]
                    },
                    figures={
                        kind: figure_path(study, bn, kind)
                        for kind in ("tuning", "final")
                    },
                )
            )
        studies.append(
            dict(
                name=study,
                title=study_title(study),
                setup={key: cfg.get(key) for key in RUN_KEYS},
                selection=cfg["selection"],
                optimizers={
                    optimizer: dict(
                        grid=spec["grid"],
                        fixed=spec.get("fixed", {}),
                        epochs=epochs_for(study, optimizer),
                        points=len(POINTS[(study, optimizer)]),
                    )
                    for optimizer, spec in cfg["optimizers"].items()
                },
                settings=settings,
            )
        )
    metainit = None
    if METAINIT:
        metainit = dict(
            title=METAINIT.get("title") or "MetaInit",
            setup={
                key: METAINIT.get(key)
                for key in (*RUN_KEYS, "optimizer", "hparams", "metainit")
            },
            paper=METAINIT.get("paper", {}),
            runs={v: METAINIT_RUN.format(variant=v) + ".csv" for v in ("off", "on")},
            figure=f"{FIGURES}/metainit.png",
        )
    return dict(report="results/report.html", studies=studies, metainit=metainit)


RUN_KEYS = (
    "dataset", "model", "bn", "width", "epochs", "batch_size", "seed",
    "augment", "train_subset", "eval_subset",
)  # fmt: skip


def all_results():
    files = []
    for run in all_tune_runs():
        files += [TUNE.format(**run) + ext for ext in (".csv", ".json")]
    for setting in study_settings():
        files += [SELECTED.format(**setting), TUNING_TABLE.format(**setting)]
    for run in final_runs():
        files += [FINAL.format(**run) + ext for ext in (".csv", ".json")]
    if METAINIT:
        files += [
            METAINIT_RUN.format(variant=v) + e
            for v in ("off", "on")
            for e in (".csv", ".json")
        ]
    figures = report_inputs(None)["figures"]
    return [*files, *figures, "results/report.html"]
