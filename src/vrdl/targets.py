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
    source: str  # how the loss was chosen: "lowest point of the mean test-loss curve of sgd (+1%)", "given"


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
    # not "best test loss": the finals table gives the mean of each seed's best, another number
    source = f"lowest point of the mean test-loss curve of {label}" + (f" (+{slack:.0%})" if slack else "")
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


# ---------------------------------------------------------------------------- performance profiles
# Dolan and Moré (2002), as AlgoPerf aggregates workloads: per workload (study x BN) and
# optimizer, the gradient computations to reach the workload's target; the ratio to the fastest
# optimizer there; rho_o(tau) = the fraction of the workloads o ran where its ratio is <= tau
# (never reached: ratio infinite).


def common_target(curves: Mapping[str, Sequence[pd.DataFrame]], skip: Sequence[str] = ()) -> Target | None:
    """A target that compares something: the highest of the optimizers' best test losses (each the
    minimum of its mean-over-seeds curve), so every optimizer reaches it, none by construction
    first; optimizers in `skip` (runs that did not learn) do not set it. None when nothing is left
    or every run is at the target before any update."""
    bests = {name: reference_target(runs, name).loss for name, runs in curves.items() if name not in skip and runs}
    if not bests:
        return None
    target = Target(max(bests.values()), f"the highest of the lowest points of the mean test-loss curves of "
                                         f"{', '.join(bests)} ({max(bests, key=bests.get)}'s)")
    if all(float(c["eval_loss"].iloc[0]) <= target.loss for runs in curves.values() for c in runs):
        return None
    return target


def ratios(times: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """times[workload][optimizer] (nan or inf: not reached) -> the ratio to the workload's fastest
    (inf where not reached; a workload no optimizer reached is left out)."""
    out = {}
    for workload, by_optimizer in times.items():
        reached = [t for t in by_optimizer.values() if math.isfinite(t)]
        if not reached:
            continue
        best = min(reached)
        out[workload] = {o: (t / best if best > 0 else (1.0 if t == 0 else math.inf)) if math.isfinite(t)
                         else math.inf for o, t in by_optimizer.items()}
    return out


def performance_profile(times: Mapping[str, Mapping[str, float]], taus: Sequence[float]) -> dict[str, list[float]]:
    """rho_o(tau) for each tau: the fraction of the workloads optimizer o ran (and some optimizer
    reached the target in) where it needed at most tau times the fastest one's budget."""
    r = ratios(times)
    names = list(dict.fromkeys(o for by_optimizer in r.values() for o in by_optimizer))
    out = {}
    for name in names:
        mine = [by_optimizer[name] for by_optimizer in r.values() if name in by_optimizer]
        out[name] = [sum(x <= tau for x in mine) / len(mine) for tau in taus]
    return out


def workload_times(curves: Mapping[str, Sequence[pd.DataFrame]], target: Target) -> list[dict[str, float]]:
    """Per seed (the i-th run of every optimizer), each optimizer's gradient computations to
    reach the target (nan: never), for the seed bands of the profile; then the medians over
    seeds as the last entry."""
    seeds = min(len(runs) for runs in curves.values())
    per_seed = [{o: first_reach(runs[i], target.loss)[0] for o, runs in curves.items()} for i in range(seeds)]
    median = {row.optimizer: row.grad_evals for row in time_to_target(curves, target)}
    return per_seed + [median]
