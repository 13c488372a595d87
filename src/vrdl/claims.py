"""The study's conclusions as claims checked against the results, each verdict with the evidence
it needs.

Every comparison uses test losses of final runs at the largest gradient budget all runs of the
setting reached (the study's x-axis is gradient computations; SVRG/STORM spend more per epoch).
A comparison "a < b" (a claimed lower than b) is decided by these rules, in order:

1. Runs that did not learn. A run did not learn when its final test accuracy is within a margin
   of chance (see `learning_failure`) or its test loss never fell LOSS_DROP (5%) below its
   epoch-0 loss (a diverged run fails both). Losses of runs that learned nothing say nothing
   about their optimizers, so a claim that rests on such a run (a run of an optimizer the claim
   names, in a setting it covers) is "inconclusive: runs did not learn", whatever else it shows.
2. Noise. Each compared quantity has a noise estimate (its standard error), from what the study
   has:
   - several seeds: the quantity is the mean over seeds; its noise is the std over seeds
     (ddof 1) / sqrt(seeds);
   - one seed and a selected point with several tune runs (K folds, or tune seeds): the quantity
     is one run's loss; its noise is the std (ddof 1) of the selected point's final validation
     losses over its tune runs (selected.tsv), not divided by sqrt(K): a final run is one run
     like each of them, and the spread of single runs is its noise (std / sqrt(K) would be the
     noise of the K-run mean, which no claim compares). A proxy: validation loss at the tune
     runs' last epoch, on a smaller set, with training sets that differ by a fold, so if
     anything larger than the seed noise of one final run (conservative);
   - otherwise none.
   The gap (b - a, or (1 + slack) b - a for "within slack") has noise
   sqrt(noise_a^2 + noise_b^2). The comparison holds when the gap exceeds DECISIVE (2) times
   that, does not hold when the opposite gap does, and is "inconclusive: gap within noise" in
   between (2: about a 95% two-sided interval for a normal gap; with 2-3 seeds the std itself is
   rough, so this is a rule of thumb, not a significance test). With no noise estimate on a side
   it is "inconclusive: one seed, no noise estimate"; the evidence shows the gap either way.

A claim with several comparisons: runs did not learn in any of them -> that; any part does not
hold -> does not hold; all hold -> holds; else inconclusive (no noise estimate before within
noise).

Adding a claim is one entry in CLAIMS, as the last two (alpha-SVRG, MARS: beyond the study), or
one entry of the config's `claims:` list (`declared_claims`: "better beats each of than").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vrdl import datasets
from vrdl.runs import read_run

HOLDS, FAILS, MISSING = "holds", "does not hold", "not run"
NOT_LEARNED = "inconclusive: runs did not learn"
NO_NOISE = "inconclusive: one seed, no noise estimate"
WITHIN_NOISE = "inconclusive: gap within noise"
INCONCLUSIVE = "inconclusive"  # the prefix of every inconclusive verdict
DECISIVE = 2.0  # a gap decides when it exceeds this many times its noise
COMPARABLE = 0.05  # "comparable": within 5% of the other's loss
LOSS_DROP = 0.05  # a run that learned got its test loss 5% below the epoch-0 loss
CHANCE_MARGIN = 0.5  # accuracy within 0.5 x chance above chance is "at chance" (or 3 binomial SE)
NO_NOISE_SOURCE = "none (one seed, one tune run)"


@dataclass(frozen=True)
class Run:
    """One final run: its curve (the run's CSV: grad_evals, eval_loss, eval_acc per epoch, row 0
    before training) and what its chance level needs (num_classes None: accuracy unchecked)."""

    curve: pd.DataFrame
    num_classes: int | None = None
    n_eval: int | None = None
    name: str = ""


@dataclass(frozen=True)
class TuneSpread:
    """The selected point's final validation losses over its tune runs (selected.tsv's
    std_val_loss, folds = runs (folds x seeds), seeds)."""

    std: float
    runs: int
    seeds: int

    @property
    def label(self) -> str:
        folds = self.runs // max(self.seeds, 1)
        if folds > 1 and self.seeds > 1:
            return f"tune-run spread ({folds} folds × {self.seeds} seeds)"
        if folds > 1:
            return f"fold spread ({folds} folds)"
        return f"tune-seed spread ({self.seeds} seeds)"


@dataclass(frozen=True)
class Estimate:
    """A compared test loss: mean over seeds, its noise (standard error; None: no estimate),
    where the noise comes from, and whether all its runs learned."""

    mean: float
    noise: float | None = None
    source: str = NO_NOISE_SOURCE
    learned: bool = True
    budget: float = math.nan  # the gradient computations the loss is taken at

    def __str__(self) -> str:
        return f"{self.mean:.4g}" + (f" ± {self.noise:.2g}" if self.noise is not None else "")


@dataclass(frozen=True)
class Claim:
    claim: str
    evidence: str
    verdict: str
    noise: str = ""  # which noise estimate(s) the verdict used
    parts: tuple[Part, ...] = ()
    origin: str = "study"  # "study", "beyond the study" or "config"

    @property
    def decisive(self) -> Part | None:
        """The comparison that decided the verdict: the first that did not learn, the clearest
        failure, the narrowest of the holds, else the first with the claim's verdict."""
        def margin(part):
            return part.gap / part.noise if part.noise else part.gap

        same = [p for p in self.parts if p.verdict == self.verdict]
        if not same:
            return None
        return min(same, key=margin) if self.verdict in (HOLDS, FAILS) else same[0]


def load_run(csv_path: str | Path) -> Run:
    """A final run from RUN.csv and RUN.json (its data set gives the number of classes)."""
    run = read_run(csv_path)  # the checked reader select and the figures use
    meta = run.meta
    return Run(run.curve, num_classes=datasets.get(meta["dataset"]).num_classes,
               n_eval=meta.get("n_eval"), name=f"seed {meta.get('seed')}")


def chance_threshold(num_classes: int, n_eval: int | None) -> float:
    """Accuracy at or below this is "at chance": chance (1/num_classes) plus CHANCE_MARGIN x
    chance, or 3 standard errors of a guesser's accuracy on n_eval images if that is more (a
    small test set scatters a guesser widely)."""
    chance = 1 / num_classes
    scatter = 3 * math.sqrt(chance * (1 - chance) / n_eval) if n_eval else 0.0
    return chance + max(CHANCE_MARGIN * chance, scatter)


def learning_failure(run: Run) -> str | None:
    """Why the run did not learn, or None if it did."""
    curve = run.curve
    start = float(curve["eval_loss"].iloc[0])
    best = float(curve["eval_loss"].iloc[1:].min()) if len(curve) > 1 else math.nan
    reasons = []
    if not (math.isfinite(best) and best < (1 - LOSS_DROP) * start):
        reasons.append(f"test loss {start:.3g} at start, {best:.3g} at best")
    if run.num_classes and "eval_acc" in curve:
        acc, limit = float(curve["eval_acc"].iloc[-1]), chance_threshold(run.num_classes, run.n_eval)
        if not acc > limit:
            reasons.append(f"final test acc. {acc:.3g} ≤ {limit:.3g} (chance {1 / run.num_classes:.3g})")
    return "; ".join(reasons) or None


def loss_at_budget(curve: pd.DataFrame, budget: float, column: str = "eval_loss") -> float:
    """The loss at the last row whose grad_evals is within the budget."""
    within = curve[curve["grad_evals"] <= budget]
    return float(within[column].iloc[-1]) if len(within) else math.nan


def estimate(runs: Sequence[Run], budget: float, spread: TuneSpread | None = None) -> Estimate:
    """The runs' (one per seed) mean loss at the budget with the best noise estimate available."""
    values = pd.Series([loss_at_budget(r.curve, budget) for r in runs], dtype=float)
    if len(values) > 1:
        noise, source = float(values.std(ddof=1)) / math.sqrt(len(values)), f"seed spread ({len(values)} seeds)"
    elif spread is not None and spread.runs > 1 and math.isfinite(spread.std):
        noise, source = spread.std, spread.label
    else:
        noise, source = None, NO_NOISE_SOURCE
    return Estimate(float(values.mean()), noise, source, all(learning_failure(r) is None for r in runs), budget)


def estimates(runs: Mapping[str, Sequence[Run]],
              spreads: Mapping[str, TuneSpread] | None = None) -> dict[str, Estimate]:
    """Per label, the estimate at the common budget (the smallest final grad_evals of all runs)."""
    budget = min(float(r.curve["grad_evals"].iloc[-1]) for rs in runs.values() for r in rs)
    return {label: estimate(rs, budget, (spreads or {}).get(label)) for label, rs in runs.items()}


@dataclass(frozen=True)
class Part:
    """One comparison of a claim: `lower` (estimate a) claimed below `higher` (b) in `setting`;
    gap > 0 is the claimed way, noise its standard error (None: unknown)."""

    verdict: str
    evidence: str
    sources: tuple[str, ...]
    setting: str = ""
    lower: str = ""
    higher: str = ""
    a: Estimate | None = None
    b: Estimate | None = None
    gap: float = math.nan
    noise: float | None = None
    not_learned: tuple[str, ...] = ()  # the runs it rests on that did not learn (besides a's and b's own)


def compare(a: Estimate, b: Estimate, slack: float = 0.0, what: str = "",
            not_learned: Sequence[str] = (), setting: str = "", lower: str = "", higher: str = "") -> Part:
    """Whether a < (1 + slack) b, by the rules in the module docstring. `not_learned` names, for
    the evidence, the runs the comparison rests on that did not learn (a's and b's own `learned`
    count as well)."""
    gap = (1 + slack) * b.mean - a.mean
    noise = (math.hypot(a.noise, (1 + slack) * b.noise)
             if a.noise is not None and b.noise is not None else None)
    if not_learned or not (a.learned and b.learned):
        verdict = NOT_LEARNED
    elif not math.isfinite(gap):
        verdict = f"{INCONCLUSIVE}: loss not finite"
    elif noise is None:
        verdict = NO_NOISE
    elif gap > DECISIVE * noise:
        verdict = HOLDS
    elif -gap > DECISIVE * noise:
        verdict = FAILS
    else:
        verdict = WITHIN_NOISE
    text = f"{what}: gap {gap:+.3g}" + (f", noise {noise:.2g}" if noise is not None else ", noise unknown")
    if not_learned:
        text += f" (did not learn: {', '.join(not_learned)})"
    return Part(verdict, text, (a.source, b.source), setting, lower, higher, a, b, gap, noise, tuple(not_learned))


def combine(verdicts: Sequence[str]) -> str:
    """Did not learn anywhere, else any part fails, else all hold, else inconclusive."""
    if not verdicts:
        return MISSING
    for verdict in (NOT_LEARNED, FAILS):
        if verdict in verdicts:
            return verdict
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return NO_NOISE if NO_NOISE in verdicts else next(v for v in verdicts if v != HOLDS)


def _claim(text: str, parts: Sequence[Part], nothing: str, origin: str = "study") -> Claim:
    sources = dict.fromkeys(s for p in parts for s in p.sources)  # ordered, unique
    return Claim(text, "; ".join(p.evidence for p in parts) or nothing, combine([p.verdict for p in parts]),
                 "; ".join(sources), tuple(parts), origin)


def _best(e: Mapping[str, Estimate], names: Sequence[str]) -> str:
    return min(names, key=lambda n: (not math.isfinite(e[n].mean), e[n].mean))


# ---------------------------------------------------------------------------- the claims


@dataclass(frozen=True)
class Results:
    """What the claims are checked against: est[(study, bn)][optimizer], each study's model name,
    the MetaInit estimates {"with": ..., "without": ...} (or None)."""

    est: Mapping[tuple[str, str], Mapping[str, Estimate]]
    models: Mapping[str, str]
    metainit: Mapping[str, Estimate] | None = None

    def settings(self, models: Sequence[str], bn: Sequence[str], studies: Sequence[str] = ()) -> list[tuple[str, str]]:
        """(study, bn) of the studies named in `studies` whose model starts with one of `models`
        (either: all when empty)."""
        return [(s, b) for (s, b) in self.est if b in bn and (not studies or s in studies)
                and (not models or self.models.get(s, "").startswith(tuple(models)))]


@dataclass(frozen=True)
class LowerLoss:
    """In every setting it covers, each of `lower` (or, with any_lower, the best of them) reaches
    a lower test loss than every one of `higher` (its best), within `slack` ("comparable or
    better": lower < (1 + slack) x higher). Settings lacking either side are skipped."""

    text: str
    lower: tuple[str, ...]
    higher: tuple[str, ...]
    any_lower: bool = False
    models: tuple[str, ...] = ()  # model-name prefixes of the studies it covers; empty: all
    bn: tuple[str, ...] = ("off", "on")
    slack: float = 0.0
    studies: tuple[str, ...] = ()  # the studies it covers; empty: all
    origin: str = "study"

    def evaluate(self, results: Results) -> Claim:
        parts = []
        for study, bn in results.settings(self.models, self.bn, self.studies):
            e = results.est[(study, bn)]
            lower = [n for n in self.lower if n in e]
            higher = [n for n in self.higher if n in e and n not in lower]
            if not lower or not higher:
                continue
            # the claim is about every optimizer it names: it rests on all of their runs
            failed = [n for n in lower + higher if not e[n].learned]
            best = _best(e, higher)
            for name in [_best(e, lower)] if self.any_lower else lower:
                what = (f"{study} BN {bn}: {_named(lower, name, self.any_lower)} {e[name]} vs "
                        f"{_named(higher, best, True)} {e[best]}")
                parts.append(compare(e[name], e[best], self.slack, what, failed, f"{study} BN {bn}", name, best))
        return _claim(self.text, parts, "no study covered by this claim has these optimizers", self.origin)


def _named(names: Sequence[str], chosen: str, best: bool) -> str:
    return f"best of {', '.join(names)} ({chosen})" if best and len(names) > 1 else chosen


@dataclass(frozen=True)
class BatchNormHelps:
    """Each optimizer run with BN on and off in a study reaches a lower test loss with BN."""

    text: str
    models: tuple[str, ...] = ()

    def evaluate(self, results: Results) -> Claim:
        parts = []
        for study, _ in results.settings(self.models, ("on",)):
            on, off = results.est[(study, "on")], results.est.get((study, "off"), {})
            for name in sorted(set(on) & set(off)):
                failed = [f"BN {bn}" for bn, e in (("on", on[name]), ("off", off[name])) if not e.learned]
                parts.append(compare(on[name], off[name], what=f"{study} {name}: BN on {on[name]} vs off {off[name]}",
                                     not_learned=failed, setting=f"{study} {name}", lower=f"{name} BN on",
                                     higher=f"{name} BN off"))
        return _claim(self.text, parts, "no study run with BN on and off")


@dataclass(frozen=True)
class MetaInitHelpsLittle:
    """With MetaInit the test loss is not lower than (1 - margin) x without it."""

    text: str
    margin: float = COMPARABLE

    def evaluate(self, results: Results) -> Claim:
        e = results.metainit
        if not e:
            return Claim(self.text, "MetaInit comparison not run", MISSING)
        what = f"SVRG with MetaInit {e['with']} vs without {e['without']} (helps by more than {self.margin:.0%}?)"
        failed = [f"{variant} MetaInit" for variant in ("with", "without") if not e[variant].learned]
        part = compare(e["with"], e["without"], -self.margin, what, failed)
        verdict = {HOLDS: FAILS, FAILS: HOLDS}.get(part.verdict, part.verdict)  # the claim is the negation
        # drawn the claimed way round: without MetaInit (less the margin) is not above with it
        negated = Part(verdict, part.evidence, part.sources, "MetaInit", "without MetaInit", "with MetaInit",
                       e["without"], e["with"], -part.gap, part.noise)
        return _claim(self.text, [negated], "")


CLAIMS = (
    LowerLoss("SVRG and STORM reach a lower test loss than SGD, Adam and AdaGrad on LeNet",
              lower=("svrg", "storm"), higher=("sgd", "adam", "adagrad"), models=("lenet",)),
    LowerLoss("With batch norm, SVRG is beaten by SGD or Adam on the ResNets",
              lower=("sgd", "adam"), higher=("svrg",), any_lower=True, models=("resnet",), bn=("on",)),
    LowerLoss("Without batch norm, SVRG is comparable to (within 5%) or better than SGD and Adam on the ResNets",
              lower=("svrg",), higher=("sgd", "adam"), models=("resnet",), bn=("off",), slack=COMPARABLE),
    BatchNormHelps("Every optimizer reaches a worse test loss without batch norm", models=("resnet",)),
    MetaInitHelpsLittle("MetaInit does not improve the test loss by more than 5%"),
    # beyond the study: variance reduction published since (config: extra_optimizers)
    LowerLoss("alpha-SVRG beats SVRG on the ResNets (Yin et al. 2025)",
              lower=("alpha_svrg",), higher=("svrg",), models=("resnet",), origin="beyond the study"),
    LowerLoss("MARS beats Adam (Yuan et al. 2025)", lower=("mars",), higher=("adam",), origin="beyond the study"),
)


def declared_claims(entries: Sequence[Mapping]) -> list[LowerLoss]:
    """The config's `claims:` entries ({name, better, than: [...], studies?: [...], bn?: [...]}) as
    claims: `better` reaches a lower test loss than the best of `than`, in every setting (study,
    BN) of `studies` (default: all) where both ran."""
    return [LowerLoss(entry["name"], lower=(entry["better"],), higher=tuple(entry["than"]),
                      studies=tuple(entry.get("studies") or ()), bn=tuple(entry.get("bn") or ("off", "on")),
                      origin="config")
            for entry in entries]


def evaluate_claims(finals: Mapping[tuple[str, str], Mapping[str, Sequence[Run]]],
                    models: Mapping[str, str],
                    metainit: Mapping[str, Sequence[Run]] | None = None,
                    spreads: Mapping[tuple[str, str], Mapping[str, TuneSpread]] | None = None,
                    claims: Sequence = CLAIMS) -> list[Claim]:
    """finals[(study, bn)][optimizer] = final runs (one per seed), bn "on"/"off";
    models[study] = model name; metainit = {"with": runs, "without": runs};
    spreads[(study, bn)][optimizer] = the selected point's tune-run spread."""
    est = {key: estimates(runs, (spreads or {}).get(key)) for key, runs in finals.items() if runs}
    mi = estimates(metainit) if metainit and metainit.get("with") and metainit.get("without") else None
    results = Results(est, models, mi)
    return [claim.evaluate(results) for claim in claims]


def did_not_learn(finals: Mapping[tuple[str, str], Mapping[str, Sequence[Run]]],
                  metainit: Mapping[str, Sequence[Run]] | None = None) -> list[str]:
    """Each run that did not learn, named, with why."""
    groups = {f"{study} BN {bn} {name}": runs for (study, bn), by_name in finals.items()
              for name, runs in by_name.items()}
    groups.update({f"{variant} MetaInit": runs for variant, runs in (metainit or {}).items()})
    return [f"{' '.join(filter(None, (label, run.name)))}: {why}" for label, runs in groups.items()
            for run in runs if (why := learning_failure(run))]

