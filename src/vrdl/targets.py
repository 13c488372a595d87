"""Time to target: the gradient computations (and wall time) each optimizer's final runs need to
first reach a target test loss.

The target of a study setting is either a given loss or the best loss a reference optimizer's
final runs reach (the minimum over epochs of its mean-over-seeds test-loss curve), optionally
relaxed by a relative slack. A run reaches the target at the first epoch whose eval_loss is at
or below it; a run that never does "did not reach", which is a result, not missing data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Target:
    loss: float
    source: str  # how the loss was chosen, for the report: "best test loss of sgd (+1%)", "given"


@dataclass(frozen=True)
class TimeToTarget:
    """One optimizer's runs (one per seed) against a target."""

    optimizer: str
    reached: int  # runs that reached the target
    runs: int
    grad_evals: float  # median over the runs that reached it; nan if none did
    wall_s: float

    @property
    def reached_all(self) -> bool:
        return self.reached == self.runs


def first_reach(curve: pd.DataFrame, target: float) -> tuple[float, float]:
    """(grad_evals, wall_s) of the first row with eval_loss <= target; (nan, nan) if none."""
    hit = curve[curve["eval_loss"] <= target]
    if hit.empty:
        return math.nan, math.nan
    row = hit.iloc[0]
    return float(row["grad_evals"]), float(row["wall_s"])


def reference_target(curves: Sequence[pd.DataFrame], label: str, slack: float = 0.0) -> Target:
    """The best (lowest) loss of the mean-over-seeds eval_loss curve of `curves`, times 1 + slack.
    Seeds are aligned by epoch (a diverged seed's missing epochs make the mean missing there)."""
    if slack < 0:
        raise ValueError(f"slack must be >= 0, got {slack}")
    if not curves:
        raise ValueError(f"no runs of the reference optimizer {label}")
    losses = pd.concat([c.set_index("epoch")["eval_loss"] for c in curves], axis=1)
    mean = losses.mean(axis=1, skipna=False)
    mean = mean[mean.map(math.isfinite)]
    if mean.empty:
        raise ValueError(f"the reference optimizer {label} has no finite test loss to use as target")
    source = f"best test loss of {label}" + (f" (+{slack:.0%})" if slack else "")
    return Target(float(mean.min()) * (1 + slack), source)


def study_target(spec: Mapping, curves: Mapping[str, Sequence[pd.DataFrame]]) -> Target:
    """The target a study's `time_to_target` settings name: a given `loss`, else the best loss of
    the `reference` optimizer's final runs (in `curves`) with `slack`."""
    if spec.get("loss") is not None:
        return Target(float(spec["loss"]), "given")
    reference = spec.get("reference", "sgd")
    return reference_target(curves.get(reference, []), reference, spec.get("slack", 0.0))


def time_to_target(curves: Mapping[str, Sequence[pd.DataFrame]], target: Target) -> list[TimeToTarget]:
    """Per optimizer, in the order of `curves`: how many runs reached the target and the median
    gradient computations and wall time they needed."""
    rows = []
    for optimizer, runs in curves.items():
        hits = [first_reach(curve, target.loss) for curve in runs]
        reached = [hit for hit in hits if math.isfinite(hit[0])]
        grad_evals = float(pd.Series([h[0] for h in reached]).median()) if reached else math.nan
        wall_s = float(pd.Series([h[1] for h in reached]).median()) if reached else math.nan
        rows.append(TimeToTarget(optimizer, len(reached), len(runs), grad_evals, wall_s))
    return rows
