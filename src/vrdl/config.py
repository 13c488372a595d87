"""Reading and validating a study config: YAML numbers as numbers, the schema (its optimizer,
data set and model parts from the registries), every semantic check, each problem named by its
key. `vrdl.plan` builds on the validated config; no torch and no Snakemake here either.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
import re
from pathlib import Path

import jsonschema
import yaml

from vrdl import datasets, models, settings
from vrdl.cluster import group_problems
from vrdl.optim import registry
from vrdl.optim.registry import format_value as fmt_value

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """An invalid config: `problems` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "Invalid configuration (config/README.md documents every key):\n  " + "\n  ".join(problems)
        )



# PyYAML reads 1e-5 (no dot) as a string; take it for the number it spells.
_EXPONENT_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def coerce_exponent_strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = coerce_exponent_strings(value)
    elif isinstance(node, list):
        node[:] = [coerce_exponent_strings(value) for value in node]
    elif isinstance(node, str) and _EXPONENT_NUMBER.match(node):
        return float(node)
    return node


def load_config(path: str | Path) -> dict:
    """A config file's contents; ConfigError naming the file when it cannot be read or parsed."""
    try:
        with open(path) as handle:
            return coerce_exponent_strings(yaml.safe_load(handle) or {})
    except OSError as err:
        raise ConfigError([f"cannot read config file {path}: {err.strerror}"]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{path}{where}: not valid YAML ({getattr(err, 'problem', None) or err})"]) from None


def read_json(path: str | Path, flag: str):
    """A JSON file given by a command-line flag; ValueError naming the flag and the file."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as err:
        raise ValueError(f"cannot read {flag} {path}: {err.strerror}") from None
    except ValueError as err:
        raise ValueError(f"{flag} {path} is not valid JSON ({err})") from None


def merge(base: dict, override: dict) -> dict:
    """`override` over `base` as Snakemake merges several --configfile: mappings key by key
    (recursively), every other value replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = merge(merged[key], value)
        merged[key] = value
    return merged


def load_configs(paths) -> dict:
    """Several config files merged like Snakemake's `--configfile A B` (later ones win)."""
    config: dict = {}
    for path in paths:
        loaded = load_config(path)
        if not isinstance(loaded, dict):
            raise ConfigError([f"{path}: holds a {type(loaded).__name__}, not a mapping of config keys"])
        config = merge(config, loaded)
    return config


def key_path(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def nonfinite_problems(node, path=()) -> list[str]:
    """.inf and .nan anywhere in a config, naming the key (they pass number checks otherwise)."""
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in nonfinite_problems(value, (*path, key))]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in nonfinite_problems(value, (*path, i))]
    if isinstance(node, float) and not math.isfinite(node):
        return [f"{key_path(path)}: {node} is not a finite number"]
    return []


def _optimizer_schemas() -> dict:
    """The schema's optimizer part, from the registry: per optimizer its study block (grid,
    fixed, epochs, switches)."""
    blocks = {}
    for name, entry in registry.OPTIMIZERS.items():
        values = {h.name: h.schema() for h in entry.hparams}
        grid = {key: {"type": "array", "minItems": 1, "uniqueItems": True, "items": value}
                for key, value in values.items()}
        block = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "grid": {"type": "object", "additionalProperties": False, "minProperties": 1,
                         "properties": grid},
                "fixed": {"type": "object", "additionalProperties": False, "properties": values},
                "epochs": {"$ref": "#/$defs/positive_int"},
            },
        }
        if entry.reference == "snapshot":
            block["properties"]["cache_snapshot_grads"] = {
                "description": "`vrdl train --cache-snapshot-grads`: reuse the snapshot pass's batch "
                               "gradients (same curves, less work)",
                "type": "boolean", "default": False,
            }  # fmt: skip
        blocks[name] = block
    return blocks


# Config keys that are `vrdl train` settings: their enum or bounds and default come from vrdl.settings.
_RUN_SETTING_KEYS = {
    ("properties", "compute", "properties", "device"): "device",
    ("properties", "compute", "properties", "precision"): "precision",
    ("properties", "compute", "properties", "channels_last"): "channels_last",
    ("properties", "compute", "properties", "compile"): "compile",
    ("$defs", "study", "properties", "augment"): "augment",
    ("$defs", "metainit", "properties", "augment"): "augment",
    ("$defs", "metainit", "properties", "metainit", "properties", "data"): "metainit_data",
    ("$defs", "variance", "properties", "batches"): "variance_batches",
    ("$defs", "ablation", "properties", "variance", "properties", "batches"): "variance_batches",
    ("$defs", "selection", "properties", "folds"): "folds",
    ("$defs", "selection", "properties", "val_fraction"): "val_fraction",
}


def build_schema(path: str | Path = SCHEMA) -> dict:
    """The config schema with its optimizer, data set and model parts filled in from the registries,
    and its run settings' enums, bounds and defaults from vrdl.settings."""
    with open(path) as handle:
        schema = yaml.safe_load(handle)
    for keys, name in _RUN_SETTING_KEYS.items():
        functools.reduce(dict.__getitem__, keys, schema).update(settings.BY_NAME[name].schema())
    defs = schema["$defs"]
    defs["dataset"]["enum"] = list(datasets.DATASETS)
    defs["model"]["enum"] = list(models.MODELS)
    names = list(registry.OPTIMIZERS)
    defs["optimizer"] = {"enum": names}
    defs["variance_reduced"] = {"enum": [n for n in names if registry.OPTIMIZERS[n].reference != "none"]}
    defs["optimizer_blocks"]["properties"] = _optimizer_schemas()
    defs["optimizer_hparams"]["properties"] = {
        name: {"type": "object", "additionalProperties": False, "required": ["hparams"],
               "properties": {"hparams": {"$ref": "#/$defs/hparams"},
                              "epochs": {"$ref": "#/$defs/positive_int"}}}
        for name in names
    }
    # a point (convex, metainit, ablation, paper): any optimizer's keys; config_problems checks
    # them against the optimizer named beside them
    defs["hparams"]["properties"] = {
        h.name: h.schema() for entry in registry.OPTIMIZERS.values() for h in entry.hparams
    }
    return schema


def _leaf_errors(error):
    """The errors inside anyOf/oneOf that say what is wrong, not 'matches no branch'."""
    if not error.context:
        yield error
        return
    leaves = [sub for sub in error.context if not (sub.validator == "type" and not sub.relative_path)]
    if not leaves:
        yield error
    for sub in leaves:
        yield from _leaf_errors(sub)


def _describe(error):
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return [f"{key_path([*error.absolute_path, key])}: unknown key{hint}" for key in extra]
    if error.validator == "propertyNames":
        return [f"{key_path([*error.absolute_path, error.instance])}: {error.message}"]
    return [f"{where or '(top level)'}: {error.message}"]


def _with_defaults(validator_class):
    """A validator that fills in the schema's defaults while it checks (as snakemake.utils.validate)."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def _strict_integers(cls):
    """The validator with `integer` meaning an int: jsonschema takes 2.0 for one (epochs: 2.0
    then failed every job with a TypeError)."""
    checker = cls.TYPE_CHECKER.redefine("integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool))
    return jsonschema.validators.extend(cls, type_checker=checker)


def config_problems(cfg: dict, schema: dict) -> list[str]:
    """Every schema violation and semantic problem of a config, one line each, naming the key."""
    problems = nonfinite_problems(cfg)
    if problems:
        return problems
    validator = _strict_integers(jsonschema.validators.validator_for(schema))(schema)
    for error in validator.iter_errors(cfg):
        for leaf in _leaf_errors(error):
            problems.extend(_describe(leaf))
    if problems:
        return sorted(set(problems))
    problems += extra_optimizer_problems(cfg)
    if problems:
        return problems
    for name, study in with_extra_optimizers(cfg)["studies"].items():
        problems += _study_problems(cfg, name, study)
    problems += precision_problems(with_extra_optimizers(cfg))
    for section in ("metainit", "ablation"):
        if cfg.get(section):
            problems += size_problems(section, cfg[section])
    if cfg.get("convex"):
        problems += size_problems("convex", dict(cfg["convex"], model="logreg"))
    meta = cfg.get("metainit")
    if meta:
        problems += registry.get(meta["optimizer"]).problems(meta["hparams"], "metainit.hparams")
        if meta.get("cache_snapshot_grads") and registry.get(meta["optimizer"]).reference != "snapshot":
            problems.append("metainit.cache_snapshot_grads: only for optimizers with snapshots (svrg, alpha_svrg)")
    problems += claim_problems(with_extra_optimizers(cfg))
    problems += group_problems(cfg)
    convex = cfg.get("convex")
    if convex:
        for optimizer, spec in convex["optimizers"].items():
            problems += registry.get(optimizer).problems(spec["hparams"], f"convex.optimizers.{optimizer}.hparams")
    ablation = cfg.get("ablation")
    if ablation:
        entry = registry.get(ablation.get("optimizer", "svrg"))
        hparam_problems = entry.problems(ablation["hparams"], "ablation.hparams")
        problems += hparam_problems
        if not hparam_problems and entry.reference_kind(ablation["hparams"]) == "none":  # MARS-approx
            problems.append(f"ablation.hparams: {entry.name} takes no second gradient with these settings, "
                            "so there is no augmentation to lock (mars: exact: true)")
        if max(ablation["variance"]["epochs"]) > ablation["epochs"]:
            problems.append(f"ablation.variance.epochs: beyond the run's {ablation['epochs']} epochs")
        if models.get(ablation["model"]).no_bn:
            problems.append(f"ablation.model: {ablation['model']} takes no batch norm (ablation.bn)")
    return problems


def train_size(setting: dict, split: str | None = None) -> int:
    """Samples a run trains on: the data set's training set less the validation part, subset."""
    n = datasets.get(setting["dataset"]).train_size
    if split == "holdout":
        n -= round(n * setting["selection"]["val_fraction"])
    elif split is not None:
        folds, fold = setting["selection"]["folds"], int(split.split("~")[1])
        n -= n // folds + (1 if fold < n % folds else 0)  # torch.tensor_split's part sizes
    subset = setting.get("train_subset")
    return min(n, subset) if subset else n


def size_problems(where: str, setting: dict) -> list[str]:
    """What `vrdl train` would refuse in every job of `setting` (a study, metainit, convex or
    ablation): more folds than samples, a hold-out of nothing, a minibatch larger than the
    training portion, a width that makes the model absurdly large, images the model cannot take.
    Checked here, naming the key."""
    data = datasets.get(setting["dataset"])
    n = data.train_size
    selection = setting.get("selection")
    splits: list[str | None] = [None]  # the final runs: the whole training set
    if isinstance(selection, dict) and "folds" in selection:
        if selection["folds"] > n:
            return [f"{where}.selection.folds: {selection['folds']} folds of the {n:,} training samples of "
                    f"{setting['dataset']}; use at most {n:,} (the paper: 4)"]
        splits += [f"fold~{i}" for i in range(selection["folds"])]
    elif isinstance(selection, dict) and "val_fraction" in selection:
        if not 0 < round(n * selection["val_fraction"]) < n:
            return [f"{where}.selection.val_fraction: {selection['val_fraction']} of the {n:,} training samples of "
                    f"{setting['dataset']} leaves no validation or no training data (the paper: 0.05)"]
        splits.append("holdout")
    problems = []
    smallest = min(train_size(setting, split) for split in splits)
    if setting["batch_size"] > smallest:
        because = " (train_subset)" if smallest == setting.get("train_subset") else ""
        problems.append(f"{where}.batch_size: {setting['batch_size']} is larger than the {smallest:,} samples its "
                        f"runs train on{because}: use at most {smallest:,}")
    model = models.get(setting["model"])
    if setting.get("width", 1) > 1 and model.width:
        problem = models.size_problem(model.name, setting["width"], num_classes=data.num_classes,  # imports torch
                                      in_channels=data.channels, image_size=data.image_size, bn=False)
        if problem:
            problems.append(f"{where}.width: {problem}")
    problem = model.image_size_problem(data.image_size)
    if problem:
        problems.append(f"{where}.model: {problem} ({setting['dataset']})")
    return problems


def _study_problems(cfg, name, study) -> list[str]:
    problems = size_problems(f"studies.{name}", study)
    if "seed" in study and "seeds" in study:
        problems.append(f"studies.{name}.seed: give seed or seeds, not both")
    selection = study["selection"]
    from_paper = selection == "paper"
    if not from_paper and ("folds" in selection) == ("val_fraction" in selection):
        problems.append(f"studies.{name}.selection: give exactly one of folds and val_fraction")
    variance = study.get("variance")
    if variance:
        for optimizer in variance.get("optimizers", study["optimizers"]):
            if optimizer not in study["optimizers"]:
                problems.append(f"studies.{name}.variance.optimizers: {optimizer} is not an optimizer of this study")
                continue
            epochs = study["optimizers"][optimizer].get("epochs", study["epochs"])
            if not any(e <= epochs for e in variance["epochs"]):
                problems.append(f"studies.{name}.variance.epochs: none within the {epochs} epochs of {optimizer}")
    if study.get("stacked") is True:  # `auto` stacks only what can (vrdl.stages.study)
        problems += stacking_problems(cfg, name, study)
    target = study.get("time_to_target") or {}
    if "loss" in target and "reference" in target:
        problems.append(f"studies.{name}.time_to_target: give reference or loss, not both")
    elif "reference" in target and target["reference"] not in study["optimizers"]:
        problems.append(f"studies.{name}.time_to_target.reference: {target['reference']} is not an optimizer "
                        "of this study; name one of them or give a target `loss`")
    for optimizer, spec in study["optimizers"].items():
        where = f"studies.{name}.optimizers.{optimizer}"
        entry = registry.get(optimizer)
        grid, fixed = spec.get("grid", {}), spec.get("fixed", {})
        if not from_paper and "grid" not in spec:
            problems.append(f"{where}: 'grid' is a required property (or selection: paper)")
        for key in sorted(set(grid) & set(fixed)):
            problems.append(f"{where}.fixed.{key}: also a grid axis; keep one")
        if not from_paper:
            for key in entry.required:
                if key not in grid and key not in fixed:
                    problems.append(f"{where}.grid.{key}: required for {optimizer}")
            if entry.check:  # hyperparameters that must agree (alpha-SVRG's base and its settings)
                for point, hparams in grid_points(spec).items():
                    problems += entry.problems(hparams, f"{where} (point {point})")
    for setting, paper in study.get("paper", {}).items():
        for optimizer, hparams in paper.get("selected", {}).items():
            entry = registry.get(optimizer)
            where = f"studies.{name}.paper.{setting}.selected.{optimizer}"
            problems += [p for p in entry.problems(hparams, where) if not p.endswith(f"required for {optimizer}")]
    if from_paper:
        for bn in study_bns(study):
            selected = study.get("paper", {}).get(f"bn_{bn}", {}).get("selected", {})
            for optimizer, spec in study["optimizers"].items():
                where = f"studies.{name}.paper.bn_{bn}.selected.{optimizer}"
                if optimizer not in selected:
                    problems.append(f"{where}: missing; selection: paper takes the finals' hyperparameters from here")
                    continue
                point = {**spec.get("fixed", {}), **selected[optimizer]}
                problems += [p for p in registry.get(optimizer).problems(point, where) if "required" in p]
    return problems


def claim_problems(cfg) -> list[str]:
    """A declared claim names configured studies, and optimizers that run together somewhere."""
    problems = []
    for i, claim in enumerate(cfg.get("claims") or []):
        where = f"claims[{i}] ({claim['name']})"
        studies = claim.get("studies") or list(cfg["studies"])
        unknown = [s for s in studies if s not in cfg["studies"]]
        if unknown:
            problems.append(f"{where}.studies: no study {', '.join(unknown)} (studies: {', '.join(cfg['studies'])})")
            continue
        if claim["better"] in claim["than"]:
            problems.append(f"{where}: {claim['better']} is both better and in than")
        wanted = {claim["better"], *claim["than"]}
        if not any(claim["better"] in cfg["studies"][s]["optimizers"]
                   and set(claim["than"]) & set(cfg["studies"][s]["optimizers"]) for s in studies):
            problems.append(f"{where}: no study of {', '.join(studies)} runs {' and '.join(sorted(wanted))} "
                            "(it could never be judged)")
    return problems


def extra_optimizer_problems(cfg) -> list[str]:
    """`extra_optimizers` names configured studies and optimizers they do not have yet."""
    extra = cfg.get("extra_optimizers") or {}
    problems = []
    for study, blocks in extra.get("studies", {}).items():
        where = f"extra_optimizers.studies.{study}"
        if study not in cfg["studies"]:
            problems.append(f"{where}: no such study (studies: {', '.join(cfg['studies'])})")
            continue
        problems += [f"{where}.{optimizer}: already in studies.{study}.optimizers; keep one"
                     for optimizer in blocks if optimizer in cfg["studies"][study]["optimizers"]]
    return problems


def with_extra_optimizers(cfg: dict) -> dict:
    """The config with `extra_optimizers` (when enabled) merged into its studies' optimizers."""
    extra = cfg.get("extra_optimizers") or {}
    if not extra.get("enabled"):
        return cfg
    cfg = copy.deepcopy(cfg)
    for study, blocks in extra["studies"].items():
        cfg["studies"][study]["optimizers"].update(copy.deepcopy(blocks))
    return cfg


def precision_problems(cfg) -> list[str]:
    """compute.precision bf16 with an optimizer that runs in fp32 only (registry `fp32_only`)."""
    precision = (cfg.get("compute") or {}).get("precision", "fp32")
    if precision == "fp32":
        return []
    used = {(f"studies.{name}.optimizers.{optimizer}", optimizer)
            for name, study in cfg["studies"].items() for optimizer in study["optimizers"]}
    for key in ("metainit", "ablation"):
        if cfg.get(key):
            used.add((f"{key}.optimizer", cfg[key].get("optimizer", "svrg")))
    if cfg.get("convex"):
        used |= {(f"convex.optimizers.{o}", o) for o in cfg["convex"]["optimizers"]}
    return [f"{where}: {optimizer} runs in fp32 only ({registry.get(optimizer).fp32_only}); "
            f"compute.precision is {precision}"
            for where, optimizer in sorted(used) if registry.get(optimizer).fp32_only]


def stacking_problems(cfg, name, study) -> list[str]:
    """Why `vrdl train-grid` cannot stack this study's tune grids (runs without BN or augmentation
    of small models only), one line per reason, naming studies.NAME.stacked."""
    problems = study_stacking_problems(cfg, name, study)
    for optimizer, spec in study["optimizers"].items():
        problem = optimizer_stacking_problem(optimizer, spec)
        if problem:
            problems.append(f"studies.{name}.stacked: {problem}")
    return problems


def study_stacking_problems(cfg, name, study) -> list[str]:
    where = f"studies.{name}.stacked"
    problems = []
    if not models.get(study["model"]).stackable:
        stackable = "/".join(name for name, model in models.MODELS.items() if model.stackable)
        problems.append(f"{where}: vrdl train-grid stacks {stackable} runs, not {study['model']}")
    augment = study.get("augment", "auto")
    if augment == "on" or (augment == "auto" and datasets.get(study["dataset"]).augment):
        problems.append(f"{where}: vrdl train-grid needs augment off (this study augments)")
    # compute.compile is fine: each run's --compile makes train-grid compile its stacked step
    if (cfg.get("compute") or {}).get("channels_last"):
        problems.append(f"{where}: vrdl train-grid does not support compute.channels_last")
    return problems


def optimizer_stacking_problem(optimizer, spec) -> str | None:
    if spec.get("cache_snapshot_grads"):
        return f"vrdl train-grid does not support optimizers.{optimizer}.cache_snapshot_grads"
    if not registry.get(optimizer).stacked:
        return f"vrdl train-grid has no stacked update rule for {optimizer}"
    return None


def validated(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """The config checked (ConfigError naming every problem's key), with the schema's defaults
    filled in, the extra optimizers merged and `seed: N` turned into `seeds: [N]`."""
    if not config:
        raise ConfigError(["(top level): no configuration given"])
    config = coerce_exponent_strings(config)
    schema = build_schema(schema_path)
    problems = config_problems(config, schema)
    if problems:
        raise ConfigError(problems)
    _with_defaults(jsonschema.validators.validator_for(schema))(schema).validate(config)
    config = with_extra_optimizers(config)
    for study in config["studies"].values():  # `seed: N` is short for `seeds: [N]`
        if "seeds" not in study:
            study["seeds"] = [study.get("seed", 1)]
        study.pop("seed", None)
    return config


# ---------------------------------------------------------------------------------------------
# Grid points and their names in paths


def point_name(axes: dict) -> str:
    """Path name of a grid point, axes sorted: {'k': 0.1, 'c': 100.0} -> 'c~100_k~0.1'."""
    return "_".join(f"{key}~{fmt_value(axes[key])}" for key in sorted(axes))


def grid_points(spec: dict) -> dict:
    """{point name: all hyperparameters of that point (grid axes and fixed values)}."""
    grid = spec.get("grid", {})
    keys = sorted(grid)
    points = {}
    for values in itertools.product(*(grid[key] for key in keys)):
        axes = dict(zip(keys, values, strict=True))
        points[point_name(axes)] = {**spec.get("fixed", {}), **axes}
    return points


def bn_name(value) -> str:
    return "on" if value in (True, "on") else "off"


def study_bns(study: dict) -> list[str]:
    return sorted({bn_name(value) for value in study.get("bn", ["off"])}, key=["on", "off"].index)
