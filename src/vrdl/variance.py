"""Gradient-variance diagnostics (after Defazio & Bottou 2019): at an iterate w, over K
minibatches B_j of equal size, the variance of the plain minibatch gradient g_B(w) and of the
SVRG estimator g_B(w) - g_B(w~) + mu. mu is a constant, so it moves the estimator's mean, not its
variance: var_svrg is the variance of g_B(w) - g_B(w~). Variances are total (trace of the
covariance), unbiased over the K batches, and accumulated in float64.
"""

import torch

from vrdl.gradients import ReferenceGradients

COLUMNS = ("epoch", "batches", "var_sgd", "var_svrg", "variance_ratio", "storm_sq_error")


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors]).double()


class _Moments:
    """Running sum and sum of squared norms of vectors, for a total variance."""

    def __init__(self):
        self.count, self.total, self.sq_norms = 0, None, 0.0

    def add(self, v: torch.Tensor) -> None:
        self.count += 1
        self.total = v.clone() if self.total is None else self.total.add_(v)
        self.sq_norms += float(v.square().sum())

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
    plain, svrg = _Moments(), _Moments()
    for x, y, *rest in batches:
        g = _flat(reference.at(iterate, x, y))
        plain.add(g)
        svrg.add(g.sub_(_flat(reference.at(snapshot, rest[0] if rest else x, y))))
    if plain.count < 2:
        raise ValueError("the variance needs at least 2 minibatches")
    var_sgd, var_svrg = plain.variance(), svrg.variance()
    storm_error = float("nan")
    if storm_direction is not None:
        storm_error = float((_flat(storm_direction) - plain.mean()).square().sum())
    return dict(batches=plain.count, var_sgd=var_sgd, var_svrg=var_svrg,
                variance_ratio=var_svrg / var_sgd if var_sgd > 0 else float("nan"), storm_sq_error=storm_error)
