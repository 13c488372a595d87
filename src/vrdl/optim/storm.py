"""STORM (Cutkosky & Orabona 2019, Algorithm 1), with the Algorithm's minus sign:

    d_1 = g_1(w_1);   G_t = ||g_t(w_t)||;   eta_t = k / (w + sum_{i<=t} G_i^2)^(1/3)
    w_{t+1} = w_t - eta_t d_t;   a_{t+1} = min(1, c eta_t^2)
    d_{t+1} = g_{t+1}(w_{t+1}) + (1 - a_{t+1}) (d_t - g_{t+1}(w_t))

G_t is the norm of the whole stochastic gradient (all parameters together), as in the paper's
Algorithm 1 and the study's Algorithm 2; the authors' released code instead accumulates G per
coordinate. We follow the analysed algorithm because the study cites it. a is capped at 1 so
that the momentum weight (1 - a) never turns negative when c eta^2 > 1.
"""

import torch
from torch.optim import Optimizer


class STORM(Optimizer):
    def __init__(self, params, k: float = 0.1, c: float = 100.0, w: float = 0.1):
        for name, value in (("k", k), ("c", c), ("w", w)):
            if not value > 0:
                raise ValueError(f"STORM {name} must be positive, got {name}={value}")
        super().__init__(params, dict(k=k, c=c, w=w))
        if len(self.param_groups) != 1:
            raise ValueError("STORM takes one parameter group: its step size is global")
        # G is a norm over all parameters, so its running values are global; they live in the
        # optimizer state so that state_dict()/load_state_dict() round-trip them
        self.state["global"] = {"steps": 0, "sum_sq_grad": 0.0, "eta": None, "a": None}

    def reference_params(self) -> list[torch.Tensor] | None:
        """The previous iterate w_t, at which g_{t+1} is evaluated too; None before the first step."""
        if self.state["global"]["steps"] == 0:
            return None
        return [self.state[p]["previous"] for p in self.param_groups[0]["params"]]

    def current_eta(self) -> float:
        eta = self.state["global"]["eta"]
        return float("nan") if eta is None else float(eta)

    @torch.no_grad()
    def step(self, reference_grads: list[torch.Tensor] | None = None) -> None:
        glob, group = self.state["global"], self.param_groups[0]
        params = group["params"]
        grads = [p.grad for p in params]
        if glob["steps"] == 0:
            for p, g in zip(params, grads, strict=True):  # d_1 = g_1(w_1)
                self.state[p]["direction"] = g.clone()
                self.state[p]["previous"] = torch.empty_like(p)
        elif reference_grads is None:
            raise RuntimeError("STORM.step after the first needs g_{t+1}(w_t), the reference gradient")
        directions = [self.state[p]["direction"] for p in params]
        if glob["steps"] > 0:
            # d_{t+1} = g_{t+1}(w_{t+1}) + (1 - a_{t+1}) (d_t - g_{t+1}(w_t)), in place
            torch._foreach_sub_(directions, reference_grads)
            torch._foreach_mul_(directions, 1 - glob["a"])
            torch._foreach_add_(directions, grads)
        sum_sq_grad = glob["sum_sq_grad"] + torch.stack(torch._foreach_norm(grads)).square().sum()
        eta = group["k"] / (group["w"] + sum_sq_grad) ** (1 / 3)
        torch._foreach_copy_([self.state[p]["previous"] for p in params], params)
        torch._foreach_sub_(params, torch._foreach_mul(directions, eta))
        glob.update(steps=glob["steps"] + 1, sum_sq_grad=sum_sq_grad, eta=eta,
                    a=torch.clamp(group["c"] * eta**2, max=1.0))
