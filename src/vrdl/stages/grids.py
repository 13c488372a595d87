"""A study's hyperparameter grids: the points of an optimizer's grid and their names in paths, and
the stacking policy (which tune grids `vrdl train-grid` can train as one stacked job)."""

from __future__ import annotations

import itertools

from vrdl import datasets, models
from vrdl.optim import registry
from vrdl.optim.registry import format_value as fmt_value


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
