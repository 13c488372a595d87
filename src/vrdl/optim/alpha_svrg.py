"""alpha-SVRG (Yin et al., "A Coefficient Makes SVRG Effective", ICLR 2025; davidyyd/alpha-SVRG).

Each step replaces the minibatch gradient by SVRG's estimator with its correction scaled by a
coefficient, per tensor, and hands it to a base optimizer (AdamW in the authors' recipes):

    grad <- g_B(w) + alpha_t (mu - g_B(w~));   base.step()

The snapshot protocol is SVRG's (`take_snapshot`, `set_full_gradient(mu)`, `reference_params()`
-> w~, `step(reference_grads)` with g_B(w~) on the same minibatch), so the trainer treats both
alike. alpha_t is constant within a snapshot interval; the "linear" schedule gives interval k of
K the value linspace(alpha_0, 0, K)[k], so the last interval uses alpha = 0 (their
`svrg_scheduler`); "constant" keeps alpha_0. Their per-coordinate "optimal" coefficient needs a
pass over the whole data set at the current iterate every step, so it is not offered.

As in the authors' optimizer factory, weight decay applies to tensors of two or more dimensions
only (biases and BN parameters are not decayed).
"""

import math

import torch

from vrdl.optim.svrg import SVRG

SCHEDULES = ("linear", "constant")
BASES = ("sgd", "adamw")


def linear_coefficient(alpha0: float, interval: int, intervals: int) -> float:
    """numpy.linspace(alpha0, 0, intervals)[interval], computed as numpy does (last value exact)."""
    if intervals == 1:
        return alpha0
    if interval == intervals - 1:
        return 0.0
    return interval * ((0.0 - alpha0) / (intervals - 1)) + alpha0


class AlphaSVRG(SVRG):
    def __init__(
        self, params, lr: float, alpha0: float = 0.75, schedule: str = "linear", base: str = "adamw",
        snapshot_every: int = 1, total_snapshots: int | None = None, weight_decay: float = 0.0,
        momentum: float | None = None, nesterov: bool | None = None,
        betas: tuple[float, float] | None = None, eps: float | None = None,
    ):
        """`total_snapshots`: the run's number of snapshot intervals, ceil(epochs / snapshot_every),
        which the linear schedule spreads alpha_0 .. 0 over. `momentum`/`nesterov` belong to base
        sgd (default 0, False), `betas`/`eps` to base adamw (PyTorch's defaults)."""
        if not (isinstance(alpha0, int | float) and math.isfinite(alpha0) and alpha0 >= 0):
            raise ValueError(f"alpha-SVRG alpha0 must be a finite number >= 0, got alpha0={alpha0}")
        if schedule == "optimal":
            raise ValueError("alpha-SVRG schedule='optimal' is not implemented (it needs a full pass at the "
                             "iterate every step); use schedule='linear' or 'constant'")
        if schedule not in SCHEDULES:
            raise ValueError(f"alpha-SVRG schedule must be one of {', '.join(SCHEDULES)}, got schedule={schedule!r}")
        if base not in BASES:
            raise ValueError(f"alpha-SVRG base must be one of {', '.join(BASES)}, got base={base!r}")
        if schedule == "linear" and (total_snapshots is None or int(total_snapshots) != total_snapshots
                                     or total_snapshots < 1):
            raise ValueError("alpha-SVRG's linear schedule needs total_snapshots, the run's number of snapshot "
                             f"intervals ceil(epochs / snapshot_every) >= 1, got total_snapshots={total_snapshots}")
        if not weight_decay >= 0:
            raise ValueError(f"alpha-SVRG weight_decay must be >= 0, got weight_decay={weight_decay}")
        base_hparams = _base_hparams(base, momentum=momentum, nesterov=nesterov, betas=betas, eps=eps)
        super().__init__(params, lr=lr, snapshot_every=snapshot_every)
        extra = dict(alpha0=float(alpha0), schedule=schedule, base=base, weight_decay=float(weight_decay),
                     total_snapshots=None if total_snapshots is None else int(total_snapshots), **base_hparams)
        self.defaults.update(extra)
        for group in self.param_groups:
            for key, value in extra.items():
                group.setdefault(key, value)
        if len({(g["schedule"], g["alpha0"], g["total_snapshots"], g["base"]) for g in self.param_groups}) != 1:
            raise ValueError("alpha-SVRG's alpha0, schedule, total_snapshots and base are global: "
                             "give them once, not per parameter group")
        self.base = self._build_base()
        self.state["global"] = {"snapshots": 0}

    def _build_base(self) -> torch.optim.Optimizer:
        """One base group per (our group, decayed or not); `_base_groups[i]` lists group i's."""
        groups, self._base_groups = [], []
        for group in self.param_groups:
            mine = []
            for decayed in (True, False):
                params = [p for p in group["params"] if (p.dim() >= 2) == decayed]
                if params:
                    mine.append(len(groups))
                    groups.append(dict(params=params, decayed=decayed))
            self._base_groups.append(mine)
        self._sync_base_groups(groups)
        if self.defaults["base"] == "sgd":
            return torch.optim.SGD(groups, lr=self.defaults["lr"])
        return torch.optim.AdamW(groups, lr=self.defaults["lr"])

    def _sync_base_groups(self, base_groups: list[dict]) -> None:
        """Copy our groups' hyperparameters (lr may have been changed by a schedule) to the base."""
        for group, indices in zip(self.param_groups, self._base_groups, strict=True):
            for i in indices:
                base_group = base_groups[i]
                base_group["lr"] = group["lr"]
                base_group["weight_decay"] = group["weight_decay"] if base_group["decayed"] else 0.0
                for key in ("momentum", "nesterov", "betas", "eps"):
                    if key in group:
                        base_group[key] = group[key]

    def take_snapshot(self) -> None:
        """w~ = w and the next coefficient interval. Follow with `set_full_gradient(mu)`."""
        total = self.param_groups[0]["total_snapshots"]
        if total is not None and self.state["global"]["snapshots"] >= total:
            raise RuntimeError(f"alpha-SVRG: snapshot {total + 1} of a run built with total_snapshots={total}; "
                               "pass ceil(epochs / snapshot_every)")
        super().take_snapshot()
        self.state["global"]["snapshots"] += 1

    def current_alpha(self) -> float:
        """The coefficient of the current snapshot interval (nan before the first snapshot)."""
        group, taken = self.param_groups[0], self.state["global"]["snapshots"]
        if taken == 0:
            return float("nan")
        if group["schedule"] == "constant":
            return group["alpha0"]
        return linear_coefficient(group["alpha0"], taken - 1, group["total_snapshots"])

    @torch.no_grad()
    def step(self, reference_grads: list[torch.Tensor]) -> None:
        alpha = self.current_alpha()
        grads_at_snapshot = iter(reference_grads)
        for group in self.param_groups:
            params = group["params"]
            if any("mu" not in self.state[p] for p in params):
                raise RuntimeError("alpha-SVRG step without a full gradient: take_snapshot(), set_full_gradient(mu)")
            # grad <- g_B(w) + alpha (mu - g_B(w~)), in place as the authors' update_grad does
            correction = torch._foreach_sub([self.state[p]["mu"] for p in params],
                                            [next(grads_at_snapshot) for _ in params])
            torch._foreach_mul_(correction, alpha)
            torch._foreach_add_([p.grad for p in params], correction)
        self._sync_base_groups(self.base.param_groups)
        self.base.step()

    def state_dict(self) -> dict:
        out = super().state_dict()
        out["base"] = self.base.state_dict()
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        base = state_dict.pop("base")
        super().load_state_dict(state_dict)
        self.base.load_state_dict(base)


def _base_hparams(base: str, *, momentum, nesterov, betas, eps) -> dict:
    """The base optimizer's own hyperparameters, validated; those of the other base are refused."""
    if base == "sgd":
        if betas is not None or eps is not None:
            raise ValueError("alpha-SVRG betas and eps belong to base='adamw', not base='sgd'")
        momentum = 0.0 if momentum is None else float(momentum)
        nesterov = bool(nesterov)
        if not 0 <= momentum < 1:
            raise ValueError(f"alpha-SVRG momentum must lie in [0, 1), got momentum={momentum}")
        if nesterov and momentum == 0:
            raise ValueError("alpha-SVRG nesterov=True needs momentum > 0")
        return dict(momentum=momentum, nesterov=nesterov)
    if momentum is not None or nesterov is not None:
        raise ValueError("alpha-SVRG momentum and nesterov belong to base='sgd', not base='adamw'")
    betas = (0.9, 0.999) if betas is None else tuple(float(b) for b in betas)
    eps = 1e-8 if eps is None else float(eps)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"alpha-SVRG betas must be two numbers in [0, 1), got betas={betas}")
    if not eps > 0:
        raise ValueError(f"alpha-SVRG eps must be positive, got eps={eps}")
    return dict(betas=betas, eps=eps)
