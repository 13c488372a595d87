"""The objective and the gradient passes every optimizer and diagnostic is built from."""

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vrdl.data import DeviceSplit

SNAPSHOT_CACHE_LIMIT_BYTES = 8 * 2**30


@dataclass(frozen=True)
class Objective:
    """Mean cross-entropy, plus (l2/2) ||theta||^2 over all parameters when l2 > 0 (biases
    too, so that L2 logistic regression is strongly convex, as in Johnson & Zhang's experiments).
    With reduction="sum" the penalty counts once per sample, so sums divide back to the mean."""

    l2: float = 0.0

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, reduction: str = "mean"):
        logits = model(x)
        loss = F.cross_entropy(logits, y, reduction=reduction)
        if self.l2:
            penalty = self.l2 / 2 * sum(p.square().sum() for p in model.parameters())
            loss = loss + (penalty * len(y) if reduction == "sum" else penalty)
        return loss, logits


@torch.no_grad()
def evaluate(model: nn.Module, split: DeviceSplit, objective: Objective = Objective(), blocks: int = 0):
    """Mean objective and accuracy over a split, in eval mode (BN running statistics). With
    `blocks`, also the mean per-example cross-entropy of each of that many blocks of the split
    (example i in block i mod blocks; vrdl.bootstrap), from the same pass."""
    was_training = model.training
    model.eval()
    device = split.x.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    block_sum = torch.zeros(blocks, dtype=torch.float64, device=device)
    start = 0
    with torch.no_grad():
        for x, y in split.eval_batches():
            loss, logits = objective(model, x, y, reduction="sum")
            loss_sum += loss
            correct += (logits.argmax(1) == y).sum()
            if blocks:
                each = F.cross_entropy(logits.float(), y, reduction="none").double()
                block_sum.index_add_(0, torch.arange(start, start + len(y), device=device) % blocks, each)
            start += len(y)
    model.train(was_training)
    mean_loss, accuracy = float(loss_sum) / len(split), int(correct) / len(split)
    if not blocks:
        return mean_loss, accuracy
    counts = torch.bincount(torch.arange(start) % blocks, minlength=blocks).clamp(min=1)
    means = block_sum.cpu() / counts
    return mean_loss, accuracy, [float(f"{v:.6g}") for v in means.tolist()]


def minibatch_gradient(model: nn.Module, objective: Objective, x: torch.Tensor, y: torch.Tensor):
    """Backward of the minibatch's mean objective into model .grad; returns (loss, logits) detached."""
    model.zero_grad(set_to_none=True)
    loss, logits = objective(model, x, y)
    loss.backward()
    return loss.detach(), logits.detach()


def full_gradient(model: nn.Module, objective: Objective, batches) -> tuple[list[torch.Tensor], int]:
    """(1/n) sum_i grad f_i over the given minibatches: sum-reduced losses, gradients zeroed
    first, divided by n at the end. Returns (mu, n)."""
    model.zero_grad(set_to_none=True)
    n = 0
    for x, y in batches:
        objective(model, x, y, reduction="sum")[0].backward()
        n += len(y)
    mu = [p.grad / n for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return mu, n


class ReferenceGradients:
    """Gradients at a reference point (SVRG's snapshot, STORM's previous iterate, a diagnostic's
    iterate), taken with a separate copy of the model so that the trained model's BN running
    statistics never see these passes (the copy's buffers are thrown away)."""

    def __init__(self, model: nn.Module, objective: Objective = Objective(), compile: bool = False):
        copied = copy.deepcopy(model)
        self.module = copied  # uncompiled (vrdl.compiled takes its gradients functionally)
        self.params = list(copied.parameters())
        self.model = torch.compile(copied) if compile else copied
        self.objective = objective

    @torch.no_grad()
    def load(self, params: list[torch.Tensor]) -> None:
        torch._foreach_copy_(self.params, params)

    def at(self, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        self.load(params)
        minibatch_gradient(self.model, self.objective, x, y)
        return [p.grad for p in self.params]

    def full(self, params: list[torch.Tensor], batches) -> tuple[list[torch.Tensor], int]:
        self.load(params)
        return full_gradient(self.model, self.objective, batches)

    def full_and_per_batch(self, params: list[torch.Tensor], batches, n_batches: int):
        """Like `full`, and keep every minibatch's (mean-loss) gradient: SVRG's steps in the
        snapshot epoch see exactly these batches, so g_B(w~) need not be computed twice.
        Returns (mu, n, per_batch) with per_batch[j] the gradient list of batch j."""
        self.load(params)
        sizes = [p.numel() for p in self.params]
        needed = n_batches * sum(sizes) * self.params[0].element_size()
        if needed > SNAPSHOT_CACHE_LIMIT_BYTES:
            raise ValueError(f"--cache-snapshot-grads would keep {needed / 2**30:.1f} GiB of gradients "
                             f"(limit {SNAPSHOT_CACHE_LIMIT_BYTES / 2**30:.0f} GiB): drop the option for this model")
        table = torch.empty(n_batches, sum(sizes), dtype=self.params[0].dtype, device=self.params[0].device)
        total = torch.zeros(sum(sizes), dtype=table.dtype, device=table.device)
        n = 0
        for j, (x, y) in enumerate(batches):
            minibatch_gradient(self.model, self.objective, x, y)
            torch.cat([p.grad.flatten() for p in self.params], out=table[j])
            total.add_(table[j], alpha=len(y))
            n += len(y)
        self.model.zero_grad(set_to_none=True)
        shapes = [p.shape for p in self.params]

        def unflatten(flat):
            return [part.view(shape) for part, shape in zip(flat.split(sizes), shapes, strict=True)]

        return unflatten(total / n), n, [unflatten(row) for row in table]
