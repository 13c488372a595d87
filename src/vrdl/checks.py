"""The config checks beyond the schema (vrdl.schema): what the schema cannot say (sizes against
the data, hyperparameters against their optimizer, claims, stacking, clusters), each problem one
line naming its key; a side study's own checks are its stage's (`SideStage.problems`).
`validated` runs both and returns the config the plan reads. No torch and no Snakemake here."""

from __future__ import annotations

import copy
import math

from vrdl import datasets, models
from vrdl.cluster import group_problems
from vrdl.config import ConfigError, coerce_exponent_strings, key_path, study_bns, train_size
from vrdl.optim import registry
from vrdl.paths import MAX_NAME
from vrdl.schema import build_schema, fill_defaults, schema_problems
from vrdl.stages import SIDE_STAGES
from vrdl.stages.grids import grid_points, stacking_problems


def side_blocks(cfg: dict) -> list[tuple]:
    """(stage, its config block) of every side study the config runs."""
    return [(stage, cfg[stage.key]) for stage in SIDE_STAGES if cfg.get(stage.key)]


def config_problems(cfg: dict, schema: dict) -> list[str]:
    """Every schema violation and semantic problem of a config, one line each, naming the key."""
    problems = nonfinite_problems(cfg) or name_problems(cfg) or schema_problems(cfg, schema)
    if problems:
        return problems
    problems += extra_optimizer_problems(cfg)
    if problems:
        return problems
    for name, study in with_extra_optimizers(cfg)["studies"].items():
        problems += _study_problems(cfg, name, study)
    problems += precision_problems(with_extra_optimizers(cfg))
    for stage, block in side_blocks(cfg):
        problems += size_problems(stage.key, stage.setting_of(block)) + stage.problems(block, cfg)
    problems += claim_problems(with_extra_optimizers(cfg))
    problems += group_problems(cfg)
    return problems


def name_problems(cfg: dict) -> list[str]:
    """Names that become folder names (vrdl.paths.MAX_NAME): the config's and its studies'."""
    problems = []
    if isinstance(cfg.get("name"), str) and len(cfg["name"]) > MAX_NAME:
        problems.append(f"name: {len(cfg['name'])} characters, too long for a folder name in every run's path; "
                        f"use at most {MAX_NAME}")
    for study in cfg.get("studies") or {}:
        if len(study) > MAX_NAME:
            problems.append(f"studies.{study[:20]}...: a study name of {len(study)} characters, too long for a "
                            f"folder name in every run's path; use at most {MAX_NAME}")
    return problems


def validated(config: dict) -> dict:
    """The config checked (ConfigError naming every problem's key), with the schema's defaults
    filled in, the extra optimizers merged and `seed: N` turned into `seeds: [N]`."""
    if not config:
        raise ConfigError(["(top level): no configuration given"])
    config = coerce_exponent_strings(config)
    schema = build_schema()
    problems = config_problems(config, schema)
    if problems:
        raise ConfigError(problems)
    fill_defaults(config, schema)
    config = with_extra_optimizers(config)
    for study in config["studies"].values():  # `seed: N` is short for `seeds: [N]`
        if "seeds" not in study:
            study["seeds"] = [study.get("seed", 1)]
        study.pop("seed", None)
    return config


def nonfinite_problems(node, path=()) -> list[str]:
    """.inf and .nan anywhere in a config, naming the key (they pass number checks otherwise)."""
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in nonfinite_problems(value, (*path, key))]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in nonfinite_problems(value, (*path, i))]
    if isinstance(node, float) and not math.isfinite(node):
        return [f"{key_path(path)}: {node} is not a finite number"]
    return []


def size_problems(where: str, setting: dict) -> list[str]:
    """What `vrdl train` would refuse in every job of `setting` (a study or a side study's block):
    more folds than samples, a hold-out of nothing, a minibatch larger than the training portion,
    a width that makes the model absurdly large, images the model cannot take. Checked here,
    naming the key."""
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
    if setting.get("train_subset") and setting["train_subset"] > n:
        problems.append(f"{where}.train_subset: {setting['train_subset']:,} is more than the {n:,} training samples "
                        f"of {setting['dataset']}; use at most {n:,}, or omit it for all of them")
    smallest = min(train_size(setting, split) for split in splits)
    if setting["batch_size"] > smallest:
        because = " (train_subset)" if smallest == setting.get("train_subset") else ""
        problems.append(f"{where}.batch_size: {setting['batch_size']} is larger than the {smallest:,} samples its "
                        f"runs train on{because}: use at most {smallest:,}")
    model = models.get(setting["model"])
    if setting.get("width") is not None and not model.width:
        takes = ", ".join(name for name, m in models.MODELS.items() if m.width)
        problems.append(f"{where}.width: {model.name} has no width, so it would be recorded but not used; "
                        f"remove it (models with one: {takes})")
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
    where = f"studies.{name}"
    problems = size_problems(where, study)
    if "seed" in study and "seeds" in study:
        problems.append(f"{where}.seed: give seed or seeds, not both")
    selection = study["selection"]
    if selection != "paper" and ("folds" in selection) == ("val_fraction" in selection):
        problems.append(f"{where}.selection: give exactly one of folds and val_fraction")
    problems += variance_problems(where, study)
    if study.get("stacked") is True:  # `auto` stacks only what can (vrdl.stages.study)
        problems += stacking_problems(cfg, name, study)
    problems += target_problems(where, study)
    for optimizer, spec in study["optimizers"].items():
        problems += grid_problems(f"{where}.optimizers.{optimizer}", optimizer, spec, selection == "paper")
    return problems + paper_problems(where, study)


def variance_problems(where: str, study: dict) -> list[str]:
    """The variance diagnostics name the study's optimizers, at epochs within their runs."""
    variance = study.get("variance")
    if not variance:
        return []
    problems = []
    for optimizer in variance.get("optimizers", study["optimizers"]):
        if optimizer not in study["optimizers"]:
            problems.append(f"{where}.variance.optimizers: {optimizer} is not an optimizer of this study")
            continue
        epochs = study["optimizers"][optimizer].get("epochs", study["epochs"])
        if not any(e <= epochs for e in variance["epochs"]):
            problems.append(f"{where}.variance.epochs: none within the {epochs} epochs of {optimizer}")
    return problems


def target_problems(where: str, study: dict) -> list[str]:
    """time_to_target: a reference optimizer of the study, or a loss, not both."""
    target = study.get("time_to_target") or {}
    if "loss" in target and "reference" in target:
        return [f"{where}.time_to_target: give reference or loss, not both"]
    if "reference" in target and target["reference"] not in study["optimizers"]:
        return [f"{where}.time_to_target.reference: {target['reference']} is not an optimizer "
                "of this study; name one of them or give a target `loss`"]
    return []


def grid_problems(where: str, optimizer: str, spec: dict, from_paper: bool) -> list[str]:
    """An optimizer's grid: there unless the paper selects, each key once, every required key
    given, each point's hyperparameters in agreement (registry `check`)."""
    entry = registry.get(optimizer)
    grid, fixed = spec.get("grid", {}), spec.get("fixed", {})
    problems = [f"{where}.fixed.{key}: also a grid axis; keep one" for key in sorted(set(grid) & set(fixed))]
    if from_paper:
        return problems
    if "grid" not in spec:
        problems.insert(0, f"{where}: 'grid' is a required property (or selection: paper)")
    problems += [f"{where}.grid.{key}: required for {optimizer}" for key in entry.required
                 if key not in grid and key not in fixed]
    if entry.check:  # hyperparameters that must agree (alpha-SVRG's base and its settings)
        for point, hparams in grid_points(spec).items():
            problems += entry.problems(hparams, f"{where} (point {point})")
    return problems


def paper_problems(where: str, study: dict) -> list[str]:
    """The paper's selected points fit their optimizers; with `selection: paper` every optimizer
    of every BN setting has one."""
    paper = study.get("paper", {})
    problems = []
    for setting, part in paper.items():
        for optimizer, hparams in part.get("selected", {}).items():
            at = f"{where}.paper.{setting}.selected.{optimizer}"
            problems += [p for p in registry.get(optimizer).problems(hparams, at)
                         if not p.endswith(f"required for {optimizer}")]
    if study["selection"] != "paper":
        return problems
    for bn in study_bns(study):
        selected = paper.get(f"bn_{bn}", {}).get("selected", {})
        for optimizer, spec in study["optimizers"].items():
            at = f"{where}.paper.bn_{bn}.selected.{optimizer}"
            if optimizer not in selected:
                problems.append(f"{at}: missing; selection: paper takes the finals' hyperparameters from here")
                continue
            point = {**spec.get("fixed", {}), **selected[optimizer]}
            problems += [p for p in registry.get(optimizer).problems(point, at) if "required" in p]
    return problems


def claim_problems(cfg) -> list[str]:
    """A declared claim names configured studies, and optimizers that run together somewhere."""
    problems = []
    for i, claim in enumerate(cfg.get("claims") or []):
        where = f"claims[{i}] ({claim['name']})"
        if "$" in claim["name"]:  # matplotlib reads $...$ as mathematics: every report job would fail
            problems.append(f"claims[{i}].name: {claim['name']!r} has a '$', which the report's figures cannot "
                            "draw; write it without '$'")
            continue
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
    used |= {pair for stage, block in side_blocks(cfg) for pair in stage.optimizers_used(block)}
    return [f"{where}: {optimizer} runs in fp32 only ({registry.get(optimizer).fp32_only}); "
            f"compute.precision is {precision}"
            for where, optimizer in sorted(used) if registry.get(optimizer).fp32_only]
