"""Optimizers of the study. SVRG and STORM need a second gradient of every minibatch at a
reference point (the snapshot, or the previous iterate): `reference_params()` names it and
`step(reference_grads)` takes that gradient."""

import torch

from vrdl.optim.storm import STORM
from vrdl.optim.svrg import SVRG

OPTIMIZERS = ("sgd", "adam", "adagrad", "svrg", "storm")
VARIANCE_REDUCED = ("svrg", "storm")


def build_optimizer(
    name: str, params, *, lr: float | None = None, storm_k: float = 0.1, storm_c: float = 100.0,
    storm_w: float = 0.1, snapshot_every: int = 1, foreach: bool | None = None,
) -> torch.optim.Optimizer:
    """The optimizer `name`: SGD without momentum or weight decay, Adam and AdaGrad with PyTorch's
    defaults besides lr, SVRG, or STORM."""
    if name == "storm":
        return STORM(params, k=storm_k, c=storm_c, w=storm_w)
    if lr is None:
        raise ValueError(f"optimizer {name} needs a learning rate (--lr)")
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.0, weight_decay=0.0, foreach=foreach)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, foreach=foreach)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, foreach=foreach)
    if name == "svrg":
        return SVRG(params, lr=lr, snapshot_every=snapshot_every)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def current_step_size(optimizer: torch.optim.Optimizer) -> float:
    """The step size the optimizer uses now (STORM's adaptive eta, else the learning rate)."""
    if isinstance(optimizer, STORM):
        return optimizer.current_eta()
    return float(optimizer.param_groups[0]["lr"])


def hyperparameters(optimizer: torch.optim.Optimizer) -> dict:
    """Every hyperparameter the optimizer object holds (read back, not taken from the caller)."""
    group = optimizer.param_groups[0]
    plain = (bool, int, float, str, type(None))
    out = {}
    for key, value in group.items():
        if key == "params":
            continue
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, plain) or (isinstance(value, list) and all(isinstance(v, plain) for v in value)):
            out[key] = value
    return out
