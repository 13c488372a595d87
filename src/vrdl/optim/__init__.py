"""Optimizers of the study, declared in vrdl.optim.registry. SVRG and STORM need a second
gradient of every minibatch at a reference point (the snapshot, or the previous iterate):
`reference_params()` names it and `step(reference_grads)` takes that gradient.

No torch import at module level: the workflow reads the registry in Snakemake's environment."""

from __future__ import annotations

import importlib

from vrdl.optim.registry import OPTIMIZERS as OPTIMIZERS  # re-exported: vrdl.cli reads it from here
from vrdl.optim.registry import get

_CLASSES = {"STORM": "vrdl.optim.storm", "SVRG": "vrdl.optim.svrg", "AlphaSVRG": "vrdl.optim.alpha_svrg",
            "MARS": "vrdl.optim.mars"}
# torch keeps Adam-style betas as a pair; the registry (flags, configs, RUN.json) names each
_PAIRS = {"betas": ("beta1", "beta2"), "betas_1d": ("beta1_1d", "beta2_1d")}
# PyTorch's LR-scheduler bookkeeping (MARS keeps it too), not a hyperparameter
_NOT_HPARAMS = ("params", "initial_lr")


def __getattr__(name: str):
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_optimizer(name: str, params, run=None, **hparams):
    """The optimizer `name` (vrdl.optim.registry) with these hyperparameters, the others at their
    defaults; a missing required one is a ValueError naming its flag. `run` (the RunConfig) gives
    the run settings some builders take (alpha-SVRG: epochs). The builders use torch's foreach
    kernels."""
    entry = get(name)
    for key in entry.required:
        if hparams.get(key) is None:
            raise ValueError(f"optimizer {name} needs {key} ({entry.hparam(key).cli_flag})")
    return entry.build(params, {k: v for k, v in hparams.items() if v is not None}, run)


def current_step_size(optimizer) -> float:
    """The step size the optimizer uses now (an adaptive one like STORM's eta, else the learning rate)."""
    if hasattr(optimizer, "current_eta"):
        return optimizer.current_eta()
    return float(optimizer.param_groups[0]["lr"])


def hyperparameters(optimizer) -> dict:
    """Every hyperparameter the optimizer object holds (read back, not taken from the caller),
    under the registry's names (beta1 and beta2, not betas)."""
    group = optimizer.param_groups[0]
    plain = (bool, int, float, str, type(None))
    out = {}
    for key, value in group.items():
        if key in _NOT_HPARAMS:
            continue
        if key in _PAIRS and isinstance(value, tuple | list) and len(value) == 2:
            out.update(zip(_PAIRS[key], map(float, value), strict=True))
            continue
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, plain) or (isinstance(value, list) and all(isinstance(v, plain) for v in value)):
            out[key] = value
    return out
