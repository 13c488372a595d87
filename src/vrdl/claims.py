"""The study's conclusions as claims checked against the results.

Every comparison uses each optimizer's test loss at the largest gradient budget all compared runs
reached (the study's x-axis is gradient computations, and SVRG/STORM spend more per epoch), as
the mean over seeds. A comparison "a < b" holds when the gap exceeds the seed spread
(std_a + std_b), fails when the opposite gap does, and is inconclusive in between; with one seed
the spread is zero and the table says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

HOLDS, FAILS, INCONCLUSIVE, MISSING = "holds", "does not hold", "inconclusive", "not run"
COMPARABLE = 0.05  # "comparable": within 5% of the best other optimizer's loss
VARIANCE_REDUCED = ("svrg", "storm")


@dataclass(frozen=True)
class Estimate:
    """A test loss as mean and std over seeds."""

    mean: float
    std: float
    seeds: int

    def __str__(self) -> str:
        return f"{self.mean:.4g}" + (f" ± {self.std:.2g}" if self.seeds > 1 else "")


@dataclass(frozen=True)
class Claim:
    claim: str
    evidence: str
    verdict: str


def loss_at_budget(curve: pd.DataFrame, budget: float, column: str = "eval_loss") -> float:
    """The loss at the last row whose grad_evals is within the budget."""
    within = curve[curve["grad_evals"] <= budget]
    return float(within[column].iloc[-1]) if len(within) else math.nan


def estimates(curves: Mapping[str, Sequence[pd.DataFrame]]) -> dict[str, Estimate]:
    """Per label, the loss at the common budget (the smallest final grad_evals of all curves)."""
    budget = min(float(c["grad_evals"].iloc[-1]) for runs in curves.values() for c in runs)
    out = {}
    for label, runs in curves.items():
        values = pd.Series([loss_at_budget(c, budget) for c in runs], dtype=float)
        out[label] = Estimate(float(values.mean()), float(values.std(ddof=0)), len(values))
    return out


def less_than(a: Estimate, b: Estimate, slack: float = 0.0) -> str:
    """Verdict on a < b * (1 + slack) given the seed spread."""
    if not (math.isfinite(a.mean) and math.isfinite(b.mean)):
        return INCONCLUSIVE
    gap, spread = b.mean * (1 + slack) - a.mean, a.std + b.std
    if gap > spread:
        return HOLDS
    if -gap > spread:
        return FAILS
    return INCONCLUSIVE


def combine(verdicts: Sequence[str]) -> str:
    """All parts hold: holds; any part fails: does not hold; else inconclusive."""
    if not verdicts:
        return MISSING
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE


def _best(est: Mapping[str, Estimate], names) -> tuple[str, Estimate]:
    name = min((n for n in names if n in est), key=lambda n: est[n].mean)
    return name, est[name]


def evaluate_claims(finals: Mapping[tuple[str, str], Mapping[str, Sequence[pd.DataFrame]]],
                    models: Mapping[str, str],
                    metainit: Mapping[str, Sequence[pd.DataFrame]] | None = None) -> list[Claim]:
    """finals[(study, bn)][optimizer] = final-run curves (one per seed), bn "on"/"off";
    models[study] = model name; metainit = {"with": curves, "without": curves}."""
    claims = []
    est = {key: estimates(curves) for key, curves in finals.items() if curves}

    def studies(model_prefix: str, bn: str):
        return [(s, b) for (s, b) in est if models.get(s, "").startswith(model_prefix) and b == bn]

    # 1. SVRG and STORM beat the others on LeNet
    parts, evidence = [], []
    for key in studies("lenet", "off") + studies("lenet", "on"):
        e = est[key]
        vr = [n for n in VARIANCE_REDUCED if n in e]
        others = [n for n in e if n not in VARIANCE_REDUCED]
        if vr and others:
            best_other, other = _best(e, others)
            for name in vr:
                parts.append(less_than(e[name], other))
                evidence.append(f"{key[0]} BN {key[1]}: {name} {e[name]} vs best other ({best_other}) {other}")
    claims.append(Claim("SVRG and STORM reach a lower test loss than SGD, Adam and AdaGrad on LeNet",
                        "; ".join(evidence) or "no LeNet study", combine(parts)))

    # 2. SVRG loses on ResNets with BN; 3. comparable or better without BN
    for bn, text, slack, svrg_first in (
        ("on", "With batch norm, SVRG is beaten by SGD or Adam on the ResNets", 0.0, False),
        ("off", "Without batch norm, SVRG is comparable to (within 5%) or better than SGD and Adam on the ResNets",
         COMPARABLE, True),
    ):
        parts, evidence = [], []
        for key in studies("resnet", bn):
            e = est[key]
            if "svrg" not in e or len(e) < 2:
                continue
            best_other, other = _best(e, [n for n in e if n != "svrg"])
            parts.append(less_than(e["svrg"], other, slack) if svrg_first else less_than(other, e["svrg"]))
            evidence.append(f"{key[0]}: svrg {e['svrg']} vs {best_other} {other}")
        claims.append(Claim(text, "; ".join(evidence) or "no ResNet study with this BN setting", combine(parts)))

    # 4. Everyone is worse without BN
    parts, evidence = [], []
    for study, _ in studies("resnet", "on"):
        on, off = est.get((study, "on"), {}), est.get((study, "off"), {})
        for name in sorted(set(on) & set(off)):
            parts.append(less_than(on[name], off[name]))
            evidence.append(f"{study} {name}: BN on {on[name]} vs off {off[name]}")
    claims.append(Claim("Every optimizer reaches a worse test loss without batch norm",
                        "; ".join(evidence) or "no study run with BN on and off", combine(parts)))

    # 5. MetaInit does not help much
    if metainit and metainit.get("with") and metainit.get("without"):
        e = estimates(metainit)
        helps_much = less_than(e["with"], e["without"], -COMPARABLE)  # with < 95% of without
        verdict = {HOLDS: FAILS, FAILS: HOLDS, INCONCLUSIVE: INCONCLUSIVE}[helps_much]
        evidence = f"SVRG with MetaInit {e['with']} vs without {e['without']}"
    else:
        verdict, evidence = MISSING, "MetaInit comparison not run"
    claims.append(Claim("MetaInit does not improve the test loss by more than 5%", evidence, verdict))
    return claims
