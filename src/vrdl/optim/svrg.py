"""SVRG (Johnson & Zhang 2013): w <- w - lr (g_B(w) - g_B(w~) + mu).

The caller takes a snapshot w~ = w every `snapshot_every` epochs, computes the full gradient
mu = (1/n) sum_i grad f_i(w~) at it, and for each minibatch B passes g_B(w~), computed on the
very same (augmented) minibatch as g_B(w), to `step`.
"""

import torch
from torch.optim import Optimizer


class SVRG(Optimizer):
    def __init__(self, params, lr: float, snapshot_every: int = 1):
        if not lr > 0:
            raise ValueError(f"SVRG learning rate must be positive, got lr={lr}")
        if int(snapshot_every) != snapshot_every or snapshot_every < 1:
            raise ValueError(f"snapshot_every must be a whole number of epochs >= 1, got {snapshot_every}")
        super().__init__(params, dict(lr=lr, snapshot_every=int(snapshot_every)))

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def snapshot_due(self, epoch: int) -> bool:
        """Whether epoch (1-based) starts with a snapshot: epochs 1, 1 + m, 1 + 2m, ..."""
        return (epoch - 1) % self.param_groups[0]["snapshot_every"] == 0

    @torch.no_grad()
    def take_snapshot(self) -> None:
        """w~ = w. Follow with `set_full_gradient(mu)` before the next step."""
        for p in self._params():
            self.state[p]["snapshot"] = p.detach().clone()
            self.state[p].pop("mu", None)

    @torch.no_grad()
    def set_full_gradient(self, mu: list[torch.Tensor]) -> None:
        for p, m in zip(self._params(), mu, strict=True):
            self.state[p]["mu"] = m.detach().clone()

    def reference_params(self) -> list[torch.Tensor]:
        """The snapshot w~ at which each step's second gradient is taken."""
        if not all("snapshot" in self.state[p] for p in self._params()):
            raise RuntimeError("SVRG.step before take_snapshot(): no snapshot w~ yet")
        return [self.state[p]["snapshot"] for p in self._params()]

    @torch.no_grad()
    def step(self, reference_grads: list[torch.Tensor]) -> None:
        grads_at_snapshot = iter(reference_grads)
        for group in self.param_groups:
            params = group["params"]
            if any("mu" not in self.state[p] for p in params):
                raise RuntimeError("SVRG.step without a full gradient: call set_full_gradient(mu)")
            grads = [p.grad for p in params]
            direction = torch._foreach_sub(grads, [next(grads_at_snapshot) for _ in params])
            torch._foreach_add_(direction, [self.state[p]["mu"] for p in params])
            torch._foreach_add_(params, direction, alpha=-group["lr"])
