"""MetaInit (Dauphin & Schoenholz 2019): rescale the norms of the weight tensors so that the
gradient quotient GQ = mean |(g - Hg) / (g + eps sign(g)) - 1| is small, i.e. the loss looks
locally linear. Directions stay fixed; biases and BN parameters (tensors with < 2 dims) are
untouched. Hg comes from double backprop; the norms move by signSGD with momentum.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def gradient_quotient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """GQ of the mean cross-entropy on (x, y), differentiable in the parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    # grad of ||g||^2 / 2 is H g
    hessian_grads = torch.autograd.grad(sum(g.square().sum() / 2 for g in grads), params, create_graph=True)
    total = sum(
        ((g - hg) / (g + eps * (2 * (g >= 0) - 1).detach()) - 1).abs().sum()
        for g, hg in zip(grads, hessian_grads, strict=True)
    )
    return total / sum(p.numel() for p in params)


def metainit(
    model: nn.Module, make_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]], *,
    steps: int = 200, lr: float = 0.1, momentum: float = 0.9, eps: float = 1e-5,
) -> dict:
    """Run MetaInit in place; `make_batch(step)` gives the (inputs, labels) of each step.
    Returns the GQ before and after (on the first batch) and the settings, for the run's JSON."""
    was_training = model.training
    model.eval()
    weights = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    velocity = [0.0] * len(weights)
    probe = make_batch(0)
    gq_before = float(gradient_quotient(model, *probe, eps).detach())
    for step in range(steps):
        gq = gradient_quotient(model, *make_batch(step), eps)
        grads = torch.autograd.grad(gq, weights)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(weights, grads, strict=True)):
                norm = p.norm()
                # derivative of GQ along the norm direction: <p, g> / ||p||; signSGD on it
                direction = torch.sign((p * g).sum() / norm)
                velocity[i] = momentum * velocity[i] - lr * float(direction)
                p.mul_((norm + velocity[i]) / norm)
    gq_after = float(gradient_quotient(model, *probe, eps).detach())
    model.train(was_training)
    return dict(steps=steps, lr=lr, momentum=momentum, eps=eps, gq_before=gq_before, gq_after=gq_after)
