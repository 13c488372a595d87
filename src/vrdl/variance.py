"""Gradient-variance diagnostics (after Defazio & Bottou 2019): at an iterate w, over K
minibatches B_j of equal size, the variance of the plain minibatch gradient g_B(w) and of the
SVRG estimator g_B(w) - g_B(w~) + mu. mu is a constant, so it moves the estimator's mean, not its
variance: var_svrg is the variance of g_B(w) - g_B(w~). Variances are total (trace of the
covariance), unbiased over the K batches, and accumulated in float64.

Each estimate comes with its jackknife standard error over the K minibatches measured (the
`_se` columns; K >= 3): the estimate recomputed leaving out each batch in turn. That needs
<g_j, sum_i g_i> per batch, known only after all of them: a second pass recomputes the K
gradients (no vector per batch kept), so the diagnostics cost twice their gradients.
"""

import math

import torch

from vrdl.gradients import ReferenceGradients

COLUMNS = ("epoch", "batches", "var_sgd", "var_svrg", "variance_ratio", "storm_sq_error", "var_sgd_se",
           "var_svrg_se", "variance_ratio_se")


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors]).double()


class _Moments:
    """Running sum and sum of squared norms of vectors, for a total variance."""

    def __init__(self):
        self.count, self.total, self.sq_norms, self.norms = 0, None, 0.0, []

    def add(self, v: torch.Tensor) -> None:
        self.count += 1
        self.total = v.clone() if self.total is None else self.total.add_(v)
        self.norms.append(float(v.square().sum()))
        self.sq_norms += self.norms[-1]

    def leave_one_out(self, dots: list[float]) -> list[float]:
        """The variance without batch j, for each j; dots[j] = <v_j, total>."""
        k, total_sq = self.count, float(self.total.square().sum())
        return [((self.sq_norms - n) - (total_sq - 2 * d + n) / (k - 1)) / (k - 2) for n, d in zip(self.norms, dots)]

    def mean(self) -> torch.Tensor:
        return self.total / self.count

    def variance(self) -> float:
        return (self.sq_norms - float(self.total.square().sum()) / self.count) / (self.count - 1)


def estimator_variances(reference: ReferenceGradients, iterate: list[torch.Tensor], snapshot: list[torch.Tensor],
                        batches, storm_direction: list[torch.Tensor] | None = None) -> dict:
    """Variances of g_B(w) and of the SVRG estimator at w with snapshot w~ over `batches` (>= 2)
    of (x, y), or (x, y, x_snapshot) when the snapshot gradient sees another augmentation of the
    same samples (no transform locking); with a STORM direction d, also ||d - mean_j g_j(w)||^2
    (its error against the gradient)."""
    batches = list(batches)  # two passes (see the module docstring)

    def gradients(x, y, *rest):
        g = _flat(reference.at(iterate, x, y))
        return g, g - _flat(reference.at(snapshot, rest[0] if rest else x, y))

    plain, svrg = _Moments(), _Moments()
    for batch in batches:
        g, d = gradients(*batch)
        plain.add(g)
        svrg.add(d)
    if plain.count < 2:
        raise ValueError("the variance needs at least 2 minibatches")
    var_sgd, var_svrg = plain.variance(), svrg.variance()
    storm_error = float("nan")
    if storm_direction is not None:
        storm_error = float((_flat(storm_direction) - plain.mean()).square().sum())
    return dict(batches=plain.count, var_sgd=var_sgd, var_svrg=var_svrg,
                variance_ratio=var_svrg / var_sgd if var_sgd > 0 else float("nan"), storm_sq_error=storm_error,
                **jackknife(plain, svrg, batches, gradients))


def jackknife_se(values: list[float]) -> float:
    """Jackknife standard error from the leave-one-out values: sqrt((K-1)/K sum (v_j - mean)^2)."""
    k = len(values)
    mean = sum(values) / k
    return math.sqrt((k - 1) / k * sum((v - mean) ** 2 for v in values))


def jackknife(plain: _Moments, svrg: _Moments, batches: list, gradients) -> dict:
    """The jackknife standard errors over the batches of var_sgd, var_svrg and their ratio (nan
    with fewer than 3 batches): a second pass for each batch's <g_j, sum>."""
    nan = float("nan")
    if plain.count < 3:
        return dict(var_sgd_se=nan, var_svrg_se=nan, variance_ratio_se=nan)
    dots_plain, dots_svrg = [], []
    for batch in batches:
        g, d = gradients(*batch)
        dots_plain.append(float(g @ plain.total))
        dots_svrg.append(float(d @ svrg.total))
    sgd, vr = plain.leave_one_out(dots_plain), svrg.leave_one_out(dots_svrg)
    ratios = [b / a if a > 0 else nan for a, b in zip(sgd, vr)]
    return dict(var_sgd_se=jackknife_se(sgd), var_svrg_se=jackknife_se(vr), variance_ratio_se=jackknife_se(ratios))
