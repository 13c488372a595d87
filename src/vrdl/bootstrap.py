"""Noise of a test loss from its test examples: the bootstrap over test examples, in blocks.

At every evaluation a final run records, beside the mean test loss, the mean per-example test
loss (cross-entropy; an L2 penalty is the same for every example and moves no difference) of
BLOCKS fixed blocks of the test set (example i in block i mod BLOCKS): RUN.json's
`eval_blocks`, one list per CSV row. Every run of a study sees the same test examples in the
same order, so two runs' blocks pair up example by example.

The standard error of a loss, or of a gap between two runs' losses, is then the bootstrap
standard error of the mean over blocks of the (paired) block losses: blocks resampled with
replacement RESAMPLES times, with a fixed seed. For a mean this approaches the analytic
std(ddof=0) / sqrt(blocks), and with equal blocks the mean over blocks is the mean over
examples, so it estimates the standard error over test examples (what another draw of the
test set would change). It says nothing about seeds: with one seed, a gap within it is noise;
a gap beyond it may still be one seed's luck. No torch at import: the report reads it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

BLOCKS = 64
RESAMPLES = 2000
SEED = 0
LABEL = f"bootstrap over test examples ({BLOCKS} blocks, 1 seed)"


@functools.lru_cache(maxsize=8)
def _counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of n values is drawn in each resample (resamples x n), the same for every
    estimate of n values: a resample's mean is then one row times the values."""
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    counts = np.zeros((resamples, n))
    np.add.at(counts, (np.arange(resamples)[:, None], picks), 1.0)
    return counts / n


def bootstrap_se(values: Sequence[float], resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """Bootstrap standard error of the mean of `values` (resampled with replacement)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
        return math.nan
    return float((_counts(len(values), resamples, seed) @ values).std(ddof=1))


def gap_se(lower: Sequence[float] | None, higher: Sequence[float] | None, scale: float = 1.0) -> float:
    """Bootstrap standard error of the gap scale x mean(higher) - mean(lower) of two runs' block
    losses, paired block by block; nan when either has none or they do not pair."""
    if lower is None or higher is None or len(lower) != len(higher):
        return math.nan
    return bootstrap_se(scale * np.asarray(higher, dtype=float) - np.asarray(lower, dtype=float))


def evaluate_blocks(model, split, blocks: int = BLOCKS) -> tuple[float, float, list[float]]:
    """vrdl.gradients.evaluate's (mean loss, accuracy) and, from the same pass, the mean
    per-example cross-entropy of each of `blocks` blocks of the split."""
    from vrdl.gradients import evaluate

    return evaluate(model, split, blocks=blocks)
