"""The compiled gradient work of a single run (`vrdl train --compile`).

A step's gradients, the minibatch gradient g_B(w) and, where the optimizer has a reference point
(SVRG's snapshot, STORM's and exact MARS's previous iterate), g_B(w_ref) on the same minibatch,
come from one `torch.compile`d function of the model's parameters (torch.func: forward and
backward are one graph, the loss and accuracy sums added on the device in place). SVRG's
snapshot pass sums its gradients the same way. Shapes are static: the ragged last minibatch of a
pass runs eagerly (vrdl.gradients), so a run compiles each graph once. The optimizer's own step
then applies the gradients (torch's foreach kernels), so its state, checkpoints and hyperparameters
are those of the eager path; the results equal it to float tolerance (the compiled kernels sum in
another order).

As in the eager path, reference gradients run on the separate copy of the model that
vrdl.gradients.ReferenceGradients keeps, so BN running statistics of the trained model never see
those passes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value

from vrdl.gradients import Objective, ReferenceGradients, minibatch_gradient


class CompiledGradients:
    """The compiled gradient functions of one run: `step` for a training minibatch and `full` for a
    snapshot pass. Batches of another size than `batch_size` run eagerly."""

    def __init__(self, model: nn.Module, objective: Objective, reference: ReferenceGradients | None,
                 batch_size: int, graphs: bool | None = None):
        """`graphs`: replay the compiled functions as CUDA graphs (default: on CUDA devices)."""
        self.model, self.objective, self.reference, self.batch_size = model, objective, reference, batch_size
        self.params = dict(model.named_parameters())
        self.buffers = dict(model.named_buffers())
        self._ref_module = reference.module if reference is not None else None
        self._ref_buffers = dict(self._ref_module.named_buffers()) if reference is not None else {}
        device = next(model.parameters()).device
        # the epoch's loss and accuracy sums, kept here so that their addresses never change
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        # CUDA: each compiled function replays as a CUDA graph (one launch instead of dozens);
        # every tensor it updates in place keeps its address, as graphs need
        graphs = device.type == "cuda" if graphs is None else graphs
        mode = self._mode = "reduce-overhead" if graphs else None
        self._total = None
        if mode:
            for t in [*self.params.values(), *self.buffers.values(), *self._ref_buffers.values(), self.loss_sum,
                      self.correct]:
                torch._dynamo.mark_static_address(t)
        self._step = torch.compile(self._step_fn, mode=mode)
        self._step_reference = torch.compile(self._step_reference_fn, mode=mode)
        self._accumulate = torch.compile(self._accumulate_fn, mode=mode)

    def new_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss and accuracy sums of an epoch, zeroed: `step` adds into them."""
        self.loss_sum.zero_()
        self.correct.zero_()
        return self.loss_sum, self.correct

    def _loss(self, module: nn.Module, buffers: dict, reduction: str = "mean"):
        """The objective as a function of the parameters (vrdl.gradients.Objective, same order)."""
        def loss_fn(params, buffers, x, y):  # BN updates its buffers: inputs of the transform, not captured
            logits = functional_call(module, (params, buffers), (x,))
            loss = F.cross_entropy(logits, y, reduction=reduction)
            if self.objective.l2:
                penalty = self.objective.l2 / 2 * sum(p.square().sum() for p in params.values())
                loss = loss + (penalty * len(y) if reduction == "sum" else penalty)
            return loss, logits

        return lambda params, x, y: grad_and_value(loss_fn, has_aux=True)(params, buffers, x, y)

    def _step_fn(self, x, y, loss_sum, correct):
        grads, (loss, logits) = self._loss(self.model, self.buffers)(self.params, x, y)
        loss_sum.add_(loss.detach())
        correct.add_((logits.detach().argmax(1) == y).sum())
        return list(grads.values())

    def _step_reference_fn(self, x, y, x_reference, reference_params, loss_sum, correct):
        grads = self._step_fn(x, y, loss_sum, correct)
        at = dict(zip(self.params, reference_params, strict=True))
        reference_grads = self._loss(self._ref_module, self._ref_buffers)(at, x_reference, y)[0]
        return grads, list(reference_grads.values())

    def _accumulate_fn(self, x, y, reference_params, total):
        at = dict(zip(self.params, reference_params, strict=True))
        grads = self._loss(self._ref_module, self._ref_buffers, "sum")(at, x, y)[0]
        torch._foreach_add_(total, list(grads.values()))

    def step(self, x, y, x_reference, reference_params, loss_sum, correct):
        """Fill the model's .grad with g_B(w), add the minibatch's loss and correct count to the
        sums; return g_B(w_ref) on x_reference (None without reference_params)."""
        if len(y) != self.batch_size:  # the ragged last minibatch: eagerly
            loss, logits = minibatch_gradient(self.model, self.objective, x, y)
            loss_sum.add_(loss)
            correct.add_((logits.argmax(1) == y).sum())
            return None if reference_params is None else self.reference.at(reference_params, x_reference, y)
        if self._mode:  # the previous replay's outputs (last step's gradients) may be overwritten now
            torch.compiler.cudagraph_mark_step_begin()
        if reference_params is None:
            grads, reference_grads = self._step(x, y, loss_sum, correct), None
        else:
            grads, reference_grads = self._step_reference(x, y, x_reference, reference_params, loss_sum, correct)
        for p, g in zip(self.params.values(), grads, strict=True):
            p.grad = g
        return reference_grads

    def full(self, params: list[torch.Tensor], batches) -> tuple[list[torch.Tensor], int]:
        """(1/n) sum_i grad f_i at params over the batches, as vrdl.gradients.full_gradient."""
        if self._total is None:  # one buffer for every snapshot pass (a static address)
            self._total = [torch.zeros_like(p) for p in params]
            if self._mode:
                for t in self._total:
                    torch._dynamo.mark_static_address(t)
        total = self._total
        torch._foreach_zero_(total)
        n = 0
        for x, y in batches:
            if len(y) == self.batch_size:
                if self._mode:
                    torch.compiler.cudagraph_mark_step_begin()
                self._accumulate(x, y, params, total)
            else:  # the ragged last minibatch: eagerly, its sum-reduced gradient
                self.reference.load(params)
                module = self.reference.module
                module.zero_grad(set_to_none=True)
                self.objective(module, x, y, reduction="sum")[0].backward()
                torch._foreach_add_(total, [q.grad for q in module.parameters()])
                module.zero_grad(set_to_none=True)
            n += len(y)
        return [t / n for t in total], n
