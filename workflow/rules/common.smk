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
        if "seed" in study and "seeds" in study:
            problems.append(f"studies.{name}.seed: give seed or seeds, not both")
        selection = study["selection"]
        if ("folds" in selection) == ("val_fraction" in selection):
            problems.append(
                f"studies.{name}.selection: give exactly one of folds and val_fraction"
            )
        variance = study.get("variance")
        if variance:
            for optimizer in variance.get("optimizers", study["optimizers"]):
                if optimizer not in study["optimizers"]:
                    problems.append(
                        f"studies.{name}.variance.optimizers: {optimizer} is not an optimizer "
                        "of this study"
                    )
                    continue
                epochs = study["optimizers"][optimizer].get("epochs", study["epochs"])
                if not any(e <= epochs for e in variance["epochs"]):
                    problems.append(
                        f"studies.{name}.variance.epochs: none within the {epochs} epochs "
                        f"of {optimizer}"
                    )
        if study.get("stacked"):
            problems += stacking_problems(cfg, name, study)
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
        problems += hparams_problems("metainit.hparams", meta["optimizer"], meta["hparams"])
        if meta.get("cache_snapshot_grads") and meta["optimizer"] != "svrg":
            problems.append("metainit.cache_snapshot_grads: only for svrg")
    convex = cfg.get("convex")
    if convex:
        for optimizer, spec in convex["optimizers"].items():
            problems += hparams_problems(
                f"convex.optimizers.{optimizer}.hparams", optimizer, spec["hparams"]
            )
    ablation = cfg.get("ablation")
    if ablation:
        problems += hparams_problems(
            "ablation.hparams", ablation.get("optimizer", "svrg"), ablation["hparams"]
        )
        if max(ablation["variance"]["epochs"]) > ablation["epochs"]:
            problems.append(
                f"ablation.variance.epochs: beyond the run's {ablation['epochs']} epochs"
            )
        if ablation["model"] == "logreg":
            problems.append("ablation.model: logreg has no batch norm and no augmentation to lock")
    return problems


def hparams_problems(where, optimizer, hparams):
    problems = [
        f"{where}.{key}: {optimizer} takes {', '.join(OPTIMIZER_HPARAMS[optimizer])}"
        for key in sorted(set(hparams) - set(OPTIMIZER_HPARAMS[optimizer]))
    ]
    for key in REQUIRED_HPARAMS.get(optimizer, ()):
        if key not in hparams:
            problems.append(f"{where}.{key}: required for {optimizer}")
    return problems


def stacking_problems(cfg, name, study):
    """`vrdl train-grid` stacks runs without BN or augmentation of small models only."""
    where = f"studies.{name}.stacked"
    problems = []
    if study["model"] not in ("lenet", "logreg"):
        problems.append(f"{where}: vrdl train-grid stacks LeNet/logreg runs, not {study['model']}")
    augment = study.get("augment", "auto")
    if augment == "on" or (augment == "auto" and study["dataset"].startswith("cifar")):
        problems.append(f"{where}: vrdl train-grid needs augment off (this study augments)")
    compute = cfg.get("compute") or {}
    for key in ("compile", "channels_last"):
        if compute.get(key):
            problems.append(f"{where}: vrdl train-grid does not support compute.{key}")
    if (study["optimizers"].get("svrg") or {}).get("cache_snapshot_grads"):
        problems.append(
            f"{where}: vrdl train-grid does not support optimizers.svrg.cache_snapshot_grads"
        )
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


def normalise_seeds(cfg):
    """`seed: N` is short for `seeds: [N]`; afterwards every study has `seeds` only."""
    for study in cfg["studies"].values():
        if "seeds" not in study:
            study["seeds"] = [study.get("seed", 1)]
        study.pop("seed", None)


normalise_seeds(config)


def final_seeds(study):
    return STUDIES[study]["seeds"]


def tune_seeds(study):
    return STUDIES[study]["selection"].get("seeds", final_seeds(study))


def study_variance(study, optimizer):
    """The variance-diagnostics settings of a study's final runs of `optimizer`, or None."""
    variance = STUDIES[study].get("variance")
    if variance and optimizer in variance.get("optimizers", STUDIES[study]["optimizers"]):
        return variance
    return None


STUDIES = config["studies"]
METAINIT = config.get("metainit") or None
CONVEX = config.get("convex") or None
ABLATION = config.get("ablation") or None
DATA_DIR = config["data"]["dir"]
COMPUTE = config["compute"]
POINTS = {
    (study, optimizer): grid_points(spec)
    for study, cfg in STUDIES.items()
    for optimizer, spec in cfg["optimizers"].items()
}
# Whether `final` writes RUN.variance.csv: a rule's outputs are the same for all its jobs, so
# when any study asks for diagnostics, runs without them get a header-only file.
FINAL_VARIANCE = any(study.get("variance") for study in STUDIES.values())

# ---------------------------------------------------------------------------------------------
# Paths (results/ and logs/ are relative to the working directory)

TUNE = "results/{study}/bn~{bn}/tune/{optimizer}/{point}/seed~{seed}/{split}"
SELECTED = "results/{study}/bn~{bn}/selected.tsv"
TUNING_TABLE = "results/{study}/bn~{bn}/tuning.tsv"
FINAL = "results/{study}/bn~{bn}/final/{optimizer}/seed~{seed}"
METAINIT_RUN = "results/metainit/metainit~{variant}"
CONVEX_RUN = "results/convex/{optimizer}/seed~{seed}"
ABLATION_RUN = "results/ablation/locking~{locking}/seed~{seed}"
FIGURES = "results/figures"


wildcard_constraints:
    study="|".join(re.escape(name) for name in STUDIES) or "(?!)",
    bn="on|off",
    optimizer="|".join(OPTIMIZER_HPARAMS),
    point=r"[a-z_]+~[^/]+",
    seed=r"\d+",
    split=r"fold~\d+|holdout",
    variant="on|off",
    locking="on|off",


def checkpoint_path(stem):
    """Per-epoch checkpoints mirror results/ under checkpoints/, outside every declared output,
    so that Snakemake keeps them when a job fails and the rerun resumes."""
    return f"checkpoints/{stem.removeprefix('results/')}.ckpt"


def log_path(stem):
    return f"logs/{stem.removeprefix('results/')}.log"


def variance_csv(stem):
    """Where `vrdl train --variance-epochs` writes its diagnostics (vrdl.train.variance_path)."""
    return f"{stem}.variance.csv"


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


def tune_runs(study, bn, optimizers=None, seeds=None):
    """Tune runs of one study and BN setting in a stable order (optimizer, point, seed, split):
    dicts of wildcards."""
    return [
        dict(
            study=study, bn=bn, optimizer=optimizer, point=point, seed=seed, split=split
        )
        for optimizer in optimizers or STUDIES[study]["optimizers"]
        for point in POINTS[(study, optimizer)]
        for seed in seeds or tune_seeds(study)
        for split in splits(study)
    ]


def all_tune_runs():
    return [
        run
        for study in STUDIES
        for bn in study_bns(study)
        for run in tune_runs(study, bn)
    ]


def final_runs(study=None, bn=None):
    return [
        dict(study=s, bn=b, optimizer=optimizer, seed=seed)
        for s in ([study] if study else STUDIES)
        for b in ([bn] if bn else study_bns(s))
        for optimizer in STUDIES[s]["optimizers"]
        for seed in final_seeds(s)
    ]


def study_settings():
    return [dict(study=study, bn=bn) for study in STUDIES for bn in study_bns(study)]


def variance_runs(study):
    """Final runs of a study that write variance diagnostics."""
    return [
        run
        for run in final_runs(study)
        if study_variance(run["study"], run["optimizer"])
    ]


def stacked_groups():
    """The tune grids that `stacked: true` trains in one `vrdl train-grid` job each: per
    BN-off setting, optimizer and seed of a stacked study, all grid points and folds."""
    groups = []
    for study, cfg in STUDIES.items():
        if not cfg.get("stacked") or "off" not in study_bns(study):
            continue
        for optimizer in cfg["optimizers"]:
            for seed in tune_seeds(study):
                name = re.sub(r"\W", "_", f"tune_stacked_{study}_{optimizer}_seed{seed}")
                stem = f"{study}/bn~off/tune/{optimizer}/seed~{seed}"
                groups.append(
                    dict(
                        name=name,
                        study=study,
                        stem=stem,
                        runs=tune_runs(study, "off", [optimizer], [seed]),
                    )
                )
    return groups


def stacked_params(group):
    """`vrdl train-grid` spec: each run's `vrdl train` arguments, with its own --out."""
    return [
        tune_args(run) + ["--out", TUNE.format(**run) + ".csv"] for run in group["runs"]
    ]


def convex_runs():
    if not CONVEX:
        return []
    return [
        dict(optimizer=optimizer, seed=seed)
        for optimizer in CONVEX["optimizers"]
        for seed in CONVEX["seeds"]
    ]


def ablation_runs():
    if not ABLATION:
        return []
    return [
        dict(locking=locking, seed=seed)
        for locking in ("on", "off")
        for seed in ABLATION["seeds"]
    ]


# ---------------------------------------------------------------------------------------------
# Arguments of `vrdl train` (everything that decides a result; the script adds --out,
# --checkpoint, --data-dir and --threads)


def speed_args():
    """compute.precision/channels_last/compile; nothing at their defaults (so a config without
    them keeps its params, and its results)."""
    args = []
    if COMPUTE["precision"] != "fp32":
        args += ["--precision", COMPUTE["precision"]]
    if COMPUTE["channels_last"]:
        args.append("--channels-last")
    if COMPUTE["compile"]:
        args.append("--compile")
    return args


def train_args(setting, optimizer, hparams, bn, epochs, seed, split=None):
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
        "--seed", str(seed),
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
    return args + speed_args()


def optimizer_args(study, optimizer):
    """Per-optimizer switches of a study that are no hyperparameters (same curves, less work)."""
    spec = STUDIES[study]["optimizers"][optimizer]
    return ["--cache-snapshot-grads"] if spec.get("cache_snapshot_grads") else []


def variance_args(variance, epochs):
    """--variance-epochs (those within the run's epochs) and --variance-batches."""
    if not variance:
        return []
    within = sorted(e for e in variance["epochs"] if e <= epochs)
    return [
        "--variance-epochs", ",".join(map(str, within)),
        "--variance-batches", str(variance["batches"]),
    ]  # fmt: skip


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


def select_csvs(wildcards):
    return [
        TUNE.format(**run) + ".csv" for run in tune_runs(wildcards.study, wildcards.bn)
    ]


def select_jsons(wildcards):
    return [
        TUNE.format(**run) + ".json" for run in tune_runs(wildcards.study, wildcards.bn)
    ]


def select_run_params(wildcards):
    """What each tune CSV of `select_csvs` is: optimizer, grid point, seed, split, hyperparameters."""
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


def _check_seed(wildcards, seeds, where):
    if int(wildcards.seed) not in seeds:
        raise WorkflowError(f"seed {wildcards.seed} is not configured ({where})")


def tune_args(run):
    """`vrdl train` arguments of one tune run (a dict of wildcards)."""
    study = STUDIES[run["study"]]
    return train_args(
        study,
        run["optimizer"],
        POINTS[(run["study"], run["optimizer"])][run["point"]],
        run["bn"],
        epochs_for(run["study"], run["optimizer"]),
        run["seed"],
        split=run["split"],
    ) + optimizer_args(run["study"], run["optimizer"])


def tune_params(wildcards):
    _check_seed(
        wildcards,
        tune_seeds(wildcards.study),
        f"studies.{wildcards.study}.seeds / selection.seeds",
    )
    tune_hparams(wildcards)
    return tune_args(dict(wildcards.items()))


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
    _check_seed(
        wildcards, final_seeds(wildcards.study), f"studies.{wildcards.study}.seeds"
    )
    epochs = epochs_for(wildcards.study, wildcards.optimizer)
    return (
        train_args(
            STUDIES[wildcards.study],
            wildcards.optimizer,
            selected_hparams(wildcards),
            wildcards.bn,
            epochs,
            int(wildcards.seed),
        )
        + optimizer_args(wildcards.study, wildcards.optimizer)
        + variance_args(study_variance(wildcards.study, wildcards.optimizer), epochs)
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
    if FINAL_VARIANCE:
        outputs["variance"] = variance_csv(FINAL)
    return outputs


def metainit_params(wildcards):
    meta = METAINIT
    args = train_args(
        meta,
        meta["optimizer"],
        meta["hparams"],
        bn_name(meta["bn"]),
        meta["epochs"],
        meta["seed"],
    )
    if meta.get("cache_snapshot_grads"):
        args.append("--cache-snapshot-grads")
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


def convex_params(wildcards):
    if wildcards.optimizer not in CONVEX["optimizers"]:
        raise WorkflowError(f"{wildcards.optimizer} is not in convex.optimizers")
    _check_seed(wildcards, CONVEX["seeds"], "convex.seeds")
    spec = CONVEX["optimizers"][wildcards.optimizer]
    # Logistic regression on the raw pixels (no augmentation): convex, and with l2 > 0
    # strongly convex, where SVRG's theory promises linear convergence.
    setting = dict(CONVEX, model="logreg", augment="off")
    args = train_args(
        setting,
        wildcards.optimizer,
        spec["hparams"],
        "off",
        spec.get("epochs", CONVEX["epochs"]),
        int(wildcards.seed),
    )
    return args + ["--l2", fmt_value(CONVEX["l2"]), "--track-objective"]


def ablation_params(wildcards):
    _check_seed(wildcards, ABLATION["seeds"], "ablation.seeds")
    a = ABLATION
    args = train_args(
        a, a["optimizer"], a["hparams"], bn_name(a["bn"]), a["epochs"], int(wildcards.seed)
    )
    args += variance_args(a["variance"], a["epochs"])
    if wildcards.locking == "off":
        args.append("--no-transform-locking")
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


def seeds_note(seeds):
    n = len(seeds)
    return f"mean of {n} seeds, band: min-max" if n > 1 else f"seed {seeds[0]}"


def final_title(wildcards):
    title = (
        f"{study_title(wildcards.study)}, BN {wildcards.bn}: selected hyperparameters on "
        f"the test set ({seeds_note(final_seeds(wildcards.study))})"
    )
    return _with_paper_figure(
        title, paper_setting(wildcards.study, wildcards.bn).get("figure")
    )


def metainit_title(wildcards):
    title = METAINIT.get("title") or f"{METAINIT['optimizer']} on {METAINIT['model']}"
    return _with_paper_figure(title, METAINIT.get("paper", {}).get("figure"))


def variance_title(wildcards):
    seeds = final_seeds(wildcards.study)
    return (
        f"{study_title(wildcards.study)}: gradient variance of the final runs "
        f"({seeds_note(seeds)})"
    )


def convex_title(wildcards):
    title = CONVEX.get("title") or f"Logistic regression on {CONVEX['dataset']}"
    return f"{title} (l2 = {CONVEX['l2']:g}; {seeds_note(CONVEX['seeds'])})"


def ablation_title(wildcards):
    title = ABLATION.get("title") or (
        f"{ABLATION['optimizer']} on {ABLATION['model']} with augmentation"
    )
    return f"{title}: transform locking on vs off ({seeds_note(ABLATION['seeds'])})"


def final_csvs(wildcards):
    # Waiting for the selection like `final` does makes Snakemake re-evaluate this job after
    # `select`, so a select rerun that leaves every final run alone leaves the figure alone.
    checkpoints.select.get(study=wildcards.study, bn=wildcards.bn)
    return [
        FINAL.format(**run) + ".csv"
        for run in final_runs(wildcards.study, wildcards.bn)
    ]


def final_jsons(wildcards):
    return [path.removesuffix(".csv") + ".json" for path in final_csvs(wildcards)]


def final_run_params(wildcards):
    """What each CSV of `final_csvs` is: its optimizer and seed."""
    return [
        dict(optimizer=run["optimizer"], seed=run["seed"])
        for run in final_runs(wildcards.study, wildcards.bn)
    ]


def variance_csvs(wildcards):
    for bn in study_bns(wildcards.study):
        checkpoints.select.get(study=wildcards.study, bn=bn)
    return [variance_csv(FINAL.format(**run)) for run in variance_runs(wildcards.study)]


def variance_run_params(wildcards):
    return [
        dict(bn=run["bn"], optimizer=run["optimizer"], seed=run["seed"])
        for run in variance_runs(wildcards.study)
    ]


def variance_studies():
    return [study for study in STUDIES if variance_runs(study)]


def figure_path(study, bn, kind, ext="png"):
    return f"{FIGURES}/{study}_bn~{bn}_{kind}.{ext}"


def variance_figure(study, ext="png"):
    return f"{FIGURES}/{study}_variance.{ext}"


def convex_files(ext):
    return [CONVEX_RUN.format(**run) + ext for run in convex_runs()]


def ablation_files(ext):
    return [ABLATION_RUN.format(**run) + ext for run in ablation_runs()]


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
    for study in variance_studies():
        inputs["variance"] = inputs.get("variance", []) + [
            variance_csv(FINAL.format(**run)) for run in variance_runs(study)
        ]
        inputs["figures"] += [variance_figure(study, e) for e in ("png", "pdf")]
    if METAINIT:
        inputs["metainit"] = [
            METAINIT_RUN.format(variant=v) + e
            for v in ("off", "on")
            for e in (".csv", ".json")
        ]
        inputs["figures"] += [f"{FIGURES}/metainit.png", f"{FIGURES}/metainit.pdf"]
    if CONVEX:
        inputs["convex"] = convex_files(".csv") + convex_files(".json")
        inputs["figures"] += [f"{FIGURES}/convex.png", f"{FIGURES}/convex.pdf"]
    if ABLATION:
        inputs["ablation"] = (
            ablation_files(".csv")
            + ablation_files(".json")
            + ablation_files(".variance.csv")
        )
        inputs["figures"] += [f"{FIGURES}/ablation.png", f"{FIGURES}/ablation.pdf"]
    return inputs


def _final_paths(study, bn, optimizer):
    return [
        FINAL.format(study=study, bn=bn, optimizer=optimizer, seed=seed) + ".csv"
        for seed in final_seeds(study)
    ]


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
                        optimizer: _final_paths(study, bn, optimizer)
                        for optimizer in cfg["optimizers"]
                    },
                    figures={
                        kind: figure_path(study, bn, kind)
                        for kind in ("tuning", "final")
                    },
                )
            )
        variance = None
        if variance_runs(study):
            variance = dict(
                runs=[
                    dict(
                        bn=run["bn"],
                        optimizer=run["optimizer"],
                        seed=run["seed"],
                        csv=variance_csv(FINAL.format(**run)),
                    )
                    for run in variance_runs(study)
                ],
                settings={
                    key: value
                    for key, value in cfg["variance"].items()
                    if key != "optimizers"
                },
                figure=variance_figure(study),
            )
        studies.append(
            dict(
                name=study,
                title=study_title(study),
                model=cfg["model"],
                setup={key: cfg.get(key) for key in RUN_KEYS},
                selection=cfg["selection"],
                tune_seeds=tune_seeds(study),
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
                variance=variance,
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
    convex = None
    if CONVEX:
        convex = dict(
            title=CONVEX.get("title") or "Convex sanity check",
            setup={
                key: CONVEX.get(key)
                for key in (
                    "dataset", "l2", "epochs", "batch_size", "seeds",
                    "train_subset", "eval_subset",
                )  # fmt: skip
            },
            runs=[
                dict(
                    run,
                    hparams=CONVEX["optimizers"][run["optimizer"]]["hparams"],
                    csv=CONVEX_RUN.format(**run) + ".csv",
                )
                for run in convex_runs()
            ],
            figure=f"{FIGURES}/convex.png",
        )
    ablation = None
    if ABLATION:
        ablation = dict(
            title=ABLATION.get("title") or "Transform-locking ablation",
            setup={
                key: ABLATION.get(key)
                for key in (*RUN_KEYS, "optimizer", "hparams", "variance")
            },
            runs=[
                dict(
                    run,
                    csv=ABLATION_RUN.format(**run) + ".csv",
                    variance=variance_csv(ABLATION_RUN.format(**run)),
                )
                for run in ablation_runs()
            ],
            figure=f"{FIGURES}/ablation.png",
        )
    return {
        "report": "results/report.html",
        "studies": studies,
        "metainit": metainit,
        "convex": convex,
        "ablation": ablation,
    }


RUN_KEYS = (
    "dataset", "model", "bn", "width", "epochs", "batch_size", "seeds", "seed",
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
        if FINAL_VARIANCE:
            files.append(variance_csv(FINAL.format(**run)))
    if METAINIT:
        files += [
            METAINIT_RUN.format(variant=v) + e
            for v in ("off", "on")
            for e in (".csv", ".json")
        ]
    inputs = report_inputs(None)
    files += inputs.get("convex", []) + inputs.get("ablation", [])
    return [*files, *inputs["figures"], "results/report.html"]
