"""The stacked update rules of `vrdl train-grid`: one function per optimizer, named by its registry
entry (`stacked="vrdl.optim.stacked:sgd"`) and called by `vrdl.grid.StackedOptimizer.update` as
`rule(opt, params, grads, reference_grads)`.

Parameters and gradients are dicts of [R, ...] tensors (R runs); `opt` holds the per-run
hyperparameters (`opt.lr.like(p)`: [R, 1, ...]), the step count `opt.t` (already counting this
step) and the state `opt.state`. Each rule keeps the arithmetic order of the single-run optimizer
(torch.optim, vrdl.optim), so that a stacked run writes a separate run's curve, and updates every
tensor in place (the first step creates the state), as a compiled step (CUDA graphs) needs. A rule
that adapts its step size records it as `opt.state["eta"]` (the CSV's lr column).

Each rule is its own function, so that a code fingerprint holds only its optimizer's rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from vrdl.grid import StackedOptimizer


def sgd(opt: StackedOptimizer, params: dict, grads: dict, reference_grads: dict | None) -> None:
    for n in params:
        params[n].sub_(opt.lr.like(params[n]) * grads[n])


def adam(opt: StackedOptimizer, params: dict, grads: dict, reference_grads: dict | None) -> None:
    beta1, beta2, eps = 0.9, 0.999, 1e-8  # torch.optim.Adam's defaults, as vrdl's adam builds it
    s = opt.state
    if "m" not in s:
        s["m"] = {n: torch.zeros_like(p) for n, p in params.items()}
        s["v"] = {n: torch.zeros_like(p) for n, p in params.items()}
    bias1, bias2_sqrt = 1 - beta1**opt.t, (1 - beta2**opt.t).sqrt()
    for n, p in params.items():
        s["m"][n].lerp_(grads[n], 1 - beta1)
        s["v"][n].mul_(beta2).addcmul_(grads[n], grads[n], value=1 - beta2)
        denom = (s["v"][n].sqrt() / bias2_sqrt).add_(eps)
        p.sub_(opt.lr.like(p) / bias1 * s["m"][n] / denom)


def adagrad(opt: StackedOptimizer, params: dict, grads: dict, reference_grads: dict | None) -> None:
    eps = 1e-10  # torch.optim.Adagrad's default
    s = opt.state
    if "sum" not in s:
        s["sum"] = {n: torch.zeros_like(p) for n, p in params.items()}
    for n, p in params.items():
        s["sum"][n].addcmul_(grads[n], grads[n], value=1)
        p.sub_(opt.lr.like(p) * grads[n] / s["sum"][n].sqrt().add_(eps))


def svrg(opt: StackedOptimizer, params: dict, grads: dict, reference_grads: dict | None) -> None:
    """reference_grads: at the snapshot; opt.state["mu"]: the snapshot's full gradient."""
    for n, p in params.items():
        p.sub_(opt.lr.like(p) * (grads[n] - reference_grads[n] + opt.state["mu"][n]))


def storm(opt: StackedOptimizer, params: dict, grads: dict, reference_grads: dict | None) -> None:
    """reference_grads: at the previous parameters (None on the first step); opt.sum_sq: each run's
    sum of squared gradient norms so far."""
    s = opt.state
    if "direction" not in s:
        s["direction"] = {n: g.clone() for n, g in grads.items()}
        s["previous"] = {n: torch.empty_like(p) for n, p in params.items()}
        s["eta"], s["a"] = torch.empty_like(opt.sum_sq), torch.empty_like(opt.sum_sq)
    else:
        for n, d in s["direction"].items():
            d.sub_(reference_grads[n]).mul_(_per_run(1 - s["a"], d)).add_(grads[n])
    opt.sum_sq.add_(sum(g.flatten(1).square().sum(1) for g in grads.values()))
    eta = opt.k.values / (opt.w.values + opt.sum_sq) ** (1 / 3)
    # one foreach copy, not copy_ per tensor: compiled (torch 2.14, CPU), copy_ from params
    # that a vmapped gradient call in the same graph read came out as the updated params
    torch._foreach_copy_(list(s["previous"].values()), list(params.values()))
    for n, p in params.items():
        p.sub_(s["direction"][n] * _per_run(eta, p))
    s["eta"].copy_(eta)
    s["a"].copy_(torch.clamp(opt.c.values * eta**2, max=1.0))


def _per_run(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[R] values as [R, 1, ...], broadcasting against a stacked tensor like `like`."""
    return values.view(-1, *([1] * (like.dim() - 1)))
