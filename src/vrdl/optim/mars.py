"""MARS-AdamW (Yuan et al., "MARS: Unleashing the Power of Variance Reduction for Training Large
Models", ICML 2025; AGI-Arena/MARS, MARS/optimizers/mars.py), per tensor:

    c_t = g_t + gamma beta1/(1 - beta1) (g_t - g_last);   c_t <- c_t / ||c_t|| if ||c_t|| > 1
    m = beta1 m + (1 - beta1) c_t;   v = beta2 v + (1 - beta2) c_t^2
    w <- w - lr (wd w + (m / bc1) / (sqrt(v / bc2) + eps))

g_last is zero at the first step. `exact=False` (the authors' default, "MARS-approx") takes the
previous step's gradient, from the previous minibatch: one gradient per step. `exact=True` takes
g_t(w_{t-1}), the gradient at the previous iterate on the current minibatch: `reference_params()`
names w_{t-1} and `step(reference_grads)` takes that gradient (two per step, STORM's protocol).

As in the authors' default, only 2-D tensors get MARS; every other one (biases, BN parameters and
conv kernels too) gets plain AdamW with betas_1d, weight_decay_1d and the learning rate
lr_1d / lr times the current lr. `mars_on_every_tensor=True` (their `optimize_1d`) sends all
tensors through MARS with the main hyperparameters.
"""

import math

import torch
from torch.optim import Optimizer


class MARS(Optimizer):
    def __init__(
        self, params, lr: float = 3e-3, betas: tuple[float, float] = (0.95, 0.99), eps: float = 1e-8,
        weight_decay: float = 0.0, gamma: float = 0.025, exact: bool = False, mars_on_every_tensor: bool = False,
        lr_1d: float = 3e-3, betas_1d: tuple[float, float] = (0.9, 0.95), weight_decay_1d: float = 0.1,
    ):
        for name, value in (("lr", lr), ("lr_1d", lr_1d), ("eps", eps)):
            if not value > 0:
                raise ValueError(f"MARS {name} must be positive, got {name}={value}")
        for name, value in (("weight_decay", weight_decay), ("weight_decay_1d", weight_decay_1d), ("gamma", gamma)):
            if not value >= 0:
                raise ValueError(f"MARS {name} must be >= 0, got {name}={value}")
        for name, value in (("betas", betas), ("betas_1d", betas_1d)):
            if len(value) != 2 or not all(0 <= b < 1 for b in value):
                raise ValueError(f"MARS {name} must be two numbers in [0, 1), got {name}={value}")
        for name, value in (("exact", exact), ("mars_on_every_tensor", mars_on_every_tensor)):
            if not isinstance(value, bool):
                raise ValueError(f"MARS {name} must be true or false, got {name}={value!r}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, gamma=gamma, exact=exact,
                        mars_on_every_tensor=mars_on_every_tensor, lr_1d=lr_1d, betas_1d=tuple(betas_1d),
                        weight_decay_1d=weight_decay_1d)
        super().__init__(params, defaults)
        if len({g["exact"] for g in self.param_groups}) != 1:
            raise ValueError("MARS exact is global (it decides the reference gradient): give it once")
        for group in self.param_groups:
            # the authors fix lr_1d / lr at construction, so a schedule on lr moves lr_1d along;
            # "initial_lr" is the key PyTorch's LR schedulers keep for the same purpose
            group.setdefault("initial_lr", group["lr"])
        self.state["global"] = {"steps": 0}

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def reference_params(self) -> list[torch.Tensor] | None:
        """Exact MARS: the previous iterate w_{t-1}. None for MARS-approx and before the first step."""
        if not self.param_groups[0]["exact"] or self.state["global"]["steps"] == 0:
            return None
        return [self.state[p]["previous"] for p in self._params()]

    @torch.no_grad()
    def step(self, reference_grads: list[torch.Tensor] | None = None) -> None:
        exact, steps = self.param_groups[0]["exact"], self.state["global"]["steps"]
        if not exact and reference_grads is not None:
            raise RuntimeError("MARS-approx (exact=False) takes no reference gradients")
        if exact and steps > 0 and reference_grads is None:
            raise RuntimeError("exact MARS after the first step needs g_t(w_{t-1}) on the current minibatch")
        if any(p.grad is None for p in self._params()):
            raise RuntimeError("MARS.step: every parameter needs a gradient")
        step = steps + 1
        last_grads = iter(reference_grads) if exact and steps > 0 else None
        for group in self.param_groups:
            params = group["params"]
            for p in params:
                if not self.state[p]:
                    self.state[p].update(exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
            # g_last: zero at the first step (the authors' initial state), then as `exact` says
            if last_grads is not None:
                g_last = [next(last_grads) for _ in params]
            else:
                g_last = [self.state[p].get("last_grad", torch.zeros_like(p)) for p in params]
            mars = [i for i, p in enumerate(params) if group["mars_on_every_tensor"] or p.dim() == 2]
            adamw = sorted(set(range(len(params))) - set(mars))
            if exact:
                torch._foreach_copy_([self.state[p].setdefault("previous", torch.empty_like(p)) for p in params],
                                     params)
            beta1 = group["betas"][0]
            if mars:
                grads = [params[i].grad for i in mars]
                # c_t = g + gamma beta1/(1 - beta1) (g - g_last), then per-tensor clipping to norm 1
                c = torch._foreach_sub(grads, [g_last[i] for i in mars])
                torch._foreach_mul_(c, group["gamma"] * (beta1 / (1.0 - beta1)))
                torch._foreach_add_(c, grads)
                norms = torch._foreach_norm(c)
                torch._foreach_clamp_min_(norms, 1.0)  # norms <= 1 divide by 1: unchanged
                torch._foreach_div_(c, norms)
                self._adamw([params[i] for i in mars], c, lr=group["lr"], betas=group["betas"], eps=group["eps"],
                            weight_decay=group["weight_decay"], step=step)
            if adamw:
                lr_1d = group["lr"] * (group["lr_1d"] / group["initial_lr"])
                self._adamw([params[i] for i in adamw], [params[i].grad for i in adamw], lr=lr_1d,
                            betas=group["betas_1d"], eps=group["eps"], weight_decay=group["weight_decay_1d"],
                            step=step)
            if not exact:
                for p in params:  # the authors keep the gradient tensor itself; a copy is safer
                    self.state[p]["last_grad"] = p.grad.clone()
        self.state["global"]["steps"] = step

    def _adamw(self, params, updates, *, lr, betas, eps, weight_decay, step) -> None:
        """w <- w - lr (wd w + (m / bc1) / (sqrt(v / bc2) + eps)), m and v the moments of `updates`."""
        beta1, beta2 = betas
        exp_avgs = [self.state[p]["exp_avg"] for p in params]
        exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in params]
        torch._foreach_mul_(exp_avgs, beta1)
        torch._foreach_add_(exp_avgs, updates, alpha=1.0 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, updates, updates, value=1.0 - beta2)
        bias_correction1 = 1.0 - beta1**step
        bias_correction2 = 1.0 - beta2**step
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_mul_(denom, 1.0 / math.sqrt(bias_correction2))
        torch._foreach_add_(denom, eps)
        torch._foreach_mul_(denom, bias_correction1)
        direction = torch._foreach_div(exp_avgs, denom)
        torch._foreach_add_(direction, torch._foreach_mul(params, weight_decay))
        torch._foreach_add_(params, direction, alpha=-lr)
