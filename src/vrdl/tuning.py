"""The tuning budget behind a comparison, from the tune runs alone (tuning.tsv: each grid point's
mean validation loss at the final epoch): Dodge et al. (2019)'s expected best validation score
after k random grid points, and selected points on the edge of their grid.

Expected best of k (lower is better). With the grid's N values sorted v_(1) <= ... <= v_(N):
- `replace=True`, Dodge et al.'s estimator (k points drawn with replacement from the grid, the
  empirical distribution): P(best >= v_(i)) = ((N - i + 1) / N)^k, so
  E[best of k] = sum_i v_(i) [((N - i + 1) / N)^k - ((N - i) / N)^k];
- `replace=False`, k distinct points (exact over the grid's k-subsets; at k = N the best point,
  the one select picks): P(best = v_(i)) = C(N - i, k - 1) / C(N, k).
A diverged point counts as +inf: where k points can all have diverged, the expectation is
infinite (drawn as a gap). No torch here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def expected_best(values: Sequence[float], k: int, replace: bool = False) -> float:
    """Expected lowest of k grid points' values (see the module docstring); non-finite values
    (diverged points) are +inf."""
    v = np.sort(np.where(np.isfinite(np.asarray(values, dtype=float)), values, np.inf))
    n = len(v)
    if n == 0 or not 1 <= k or (not replace and k > n):
        raise ValueError(f"k must be in 1..{n} (grid points), got {k}")
    i = np.arange(1, n + 1)
    if replace:
        weights = ((n - i + 1) / n) ** k - ((n - i) / n) ** k
    else:
        weights = np.array([math.comb(n - j, k - 1) for j in i], dtype=float) / math.comb(n, k)
    used = weights > 0
    return float(np.sum(v[used] * weights[used]))


def expected_best_curve(values: Sequence[float], replace: bool = False) -> list[float]:
    """expected_best for k = 1 .. len(values)."""
    return [expected_best(values, k, replace) for k in range(1, len(values) + 1)]


def ranking_by_k(lower: Sequence[float], higher: Sequence[float]) -> list[bool | None]:
    """For k = 1 .. the larger grid: whether `lower`'s expected best of k is below `higher`'s
    (a grid smaller than k keeps its best of all points; None where either is infinite)."""
    a, b = expected_best_curve(lower), expected_best_curve(higher)
    out = []
    for k in range(max(len(a), len(b))):
        x, y = a[min(k, len(a) - 1)], b[min(k, len(b) - 1)]
        out.append(bool(x < y) if math.isfinite(x) and math.isfinite(y) else None)
    return out


def ranking_text(lower_name: str, higher_name: str, lower: Sequence[float], higher: Sequence[float]) -> str:
    """"SVRG below SGD at every k (1-4)", "... for k = 1-2, not for k = 3-4", for a reader."""
    ranks = ranking_by_k(lower, higher)
    ks = len(ranks)
    below = [k + 1 for k, r in enumerate(ranks) if r]
    if len(below) == ks:
        return f"{lower_name}'s expected best validation loss is below {higher_name}'s at every k (1-{ks})"
    if not below:
        return f"{lower_name}'s expected best validation loss is below {higher_name}'s at no k (1-{ks})"
    return (f"{lower_name}'s expected best validation loss is below {higher_name}'s for k = "
            f"{', '.join(map(str, below))} of 1-{ks} only: the ranking depends on the tuning budget")


def grid_edges(selected: Mapping[str, object], grid: Mapping[str, Sequence]) -> list[str]:
    """Each hyperparameter of the selected point at the top or bottom of its grid (of 2 or more
    values): "lr at the top of its grid". A point there may be under-tuned: the best value may
    lie beyond the grid."""
    flags = []
    for key, values in grid.items():
        values = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(set(values)) < 2 or key not in selected:
            continue
        if selected[key] == max(values):
            flags.append(f"{key} at the top of its grid")
        elif selected[key] == min(values):
            flags.append(f"{key} at the bottom of its grid")
    return flags
