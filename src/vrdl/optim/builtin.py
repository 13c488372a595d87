"""Builders of the torch.optim optimizers of the study (named by vrdl.optim.registry)."""

import torch


def sgd(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=0.0, foreach=True)


def adam(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, foreach=True)


def adagrad(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(params, lr=lr, foreach=True)


def _pair(first: float | None, second: float | None, name: str) -> tuple[float, float] | None:
    """torch keeps Adam-style betas as one pair; flags and configs name each (None: the default)."""
    if first is None and second is None:
        return None
    if first is None or second is None:
        raise ValueError(f"give both {name}1 and {name}2 (or neither)")
    return (first, second)


def alpha_svrg(params, *, epochs: int, snapshot_every: int = 1, beta1: float | None = None,
               beta2: float | None = None, **hparams) -> torch.optim.Optimizer:
    """alpha-SVRG for a run of `epochs` epochs: its linear schedule spreads alpha_0 .. 0 over the
    run's ceil(epochs / snapshot_every) snapshot intervals."""
    from vrdl.optim.alpha_svrg import AlphaSVRG

    return AlphaSVRG(params, snapshot_every=snapshot_every, total_snapshots=-(-epochs // snapshot_every),
                     betas=_pair(beta1, beta2, "beta"), **hparams)


def mars(params, *, beta1: float, beta2: float, beta1_1d: float, beta2_1d: float, **hparams) -> torch.optim.Optimizer:
    from vrdl.optim.mars import MARS

    return MARS(params, betas=(beta1, beta2), betas_1d=(beta1_1d, beta2_1d), **hparams)
