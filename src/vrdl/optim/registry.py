"""Every optimizer of the study, declared once: its hyperparameters (type, default, valid range,
`vrdl train` flag, help), how it is built, which reference point each step needs and how many
gradient computations a run takes. The CLI flags, the config schema's optimizer part, the
workflow's `vrdl train` arguments, the cost plan, `vrdl optimizers` and the stacked trainer all
read it.

Adding an optimizer: write its module (a torch.optim.Optimizer; see the protocol below) and add
one `register(Optimizer(...))`, here or in your own module imported before use.

Protocol of the optimizer object, by `reference`:
  "none":      optimizer.step()
  "previous":  optimizer.reference_params() -> parameters of the previous iterate (None on the
               first step); the loop computes the current minibatch's gradient there and calls
               optimizer.step(reference_grads)   (STORM)
  "snapshot":  optimizer.snapshot_due(epoch), take_snapshot(), set_full_gradient(mu) at the start
               of an epoch, then reference_params() -> the snapshot, and step(reference_grads)
               (SVRG); a snapshot is due every `snapshot_every` epochs (a hyperparameter, default 1)

An entry can also name settings of the run its builder takes (`run_settings`, e.g. alpha-SVRG's
schedule spreads over the run's epochs), check its hyperparameters together (`check`), refuse
bf16 (`fp32_only`, with the reason), and name its update rule for stacked runs of `vrdl train-grid`
(`stacked`, see vrdl.optim.stacked; without one, train-grid refuses the optimizer).

This module imports no torch (the workflow reads it in Snakemake's own environment): builders
and stacked rules are named "module:attribute" and imported when a run needs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vrdl.registries import Registry, resolve

REFERENCE_KINDS = ("none", "previous", "snapshot")
_TYPES = {float: "number", int: "integer", bool: "boolean", str: "string"}


@dataclass(frozen=True)
class Hparam:
    """One hyperparameter. `default` None and `required` False: the optimizer's own default."""

    name: str
    type: type  # float, int, bool, or str (then `choices` lists the values)
    help: str
    default: object = None
    required: bool = False
    minimum: float | None = None  # inclusive
    exclusive_minimum: float | None = None
    maximum: float | None = None  # inclusive
    exclusive_maximum: float | None = None
    choices: tuple[str, ...] = ()
    flag: str | None = None  # default: --NAME with - for _

    def __post_init__(self):
        if self.type not in _TYPES:
            raise TypeError(f"hyperparameter {self.name}: type must be float, int, bool or str")
        if self.type is str and not self.choices:
            raise TypeError(f"hyperparameter {self.name}: a str hyperparameter lists its choices")

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def problem(self, value) -> str | None:
        """Why `value` is not valid for this hyperparameter (None: it is)."""
        if self.type is bool:
            return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
        if self.type is str:
            return None if value in self.choices else f"expected one of {', '.join(self.choices)}, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {value!r}"
        if not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if self.type is int and value != int(value):
            return f"expected a whole number, got {value!r}"
        if self.minimum is not None and value < self.minimum:
            return f"must be >= {self.minimum:g}, got {value!r}"
        if self.exclusive_minimum == 0 and not value > 0:
            return f"must be a positive number, got {value!r}"
        if self.exclusive_minimum is not None and not value > self.exclusive_minimum:
            return f"must be > {self.exclusive_minimum:g}, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"must be <= {self.maximum:g}, got {value!r}"
        if self.exclusive_maximum is not None and not value < self.exclusive_maximum:
            return f"must be < {self.exclusive_maximum:g}, got {value!r}"
        return None

    def schema(self) -> dict:
        """JSON schema of one value (the config's `fixed`/`hparams` entries)."""
        if self.type is str:
            return {"enum": list(self.choices)}
        out = {"type": _TYPES[self.type]}
        if self.type is float:
            out["type"] = "number"
        for key, bound in (("minimum", self.minimum), ("exclusiveMinimum", self.exclusive_minimum),
                           ("maximum", self.maximum), ("exclusiveMaximum", self.exclusive_maximum)):
            if bound is not None:
                out[key] = bound
        return out

    def parse(self, text: str):
        """A command-line value (raises ValueError naming what is wrong)."""
        if self.type is str:
            value = text
        elif self.type is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(f"expected true or false, got {text!r}")
            value = text.lower() == "true"
        else:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
            if self.type is int and math.isfinite(value) and value == int(value):
                value = int(value)
        problem = self.problem(value)
        if problem:
            raise ValueError(problem)
        return value

    def cli_args(self, value) -> list[str]:
        """`vrdl train` arguments that set this hyperparameter to `value`."""
        if self.type is bool:
            return [self.cli_flag if value else "--no-" + self.cli_flag.removeprefix("--")]
        return [self.cli_flag, format_value(value)]

    def describe(self) -> str:
        """Help text with the default or 'required'."""
        extra = "required" if self.required else ("default: the optimizer's" if self.default is None
                                                  else f"default {format_value(self.default)}")
        bounds = [f"{op} {bound:g}" for op, bound in ((">=", self.minimum), (">", self.exclusive_minimum),
                                                     ("<=", self.maximum), ("<", self.exclusive_maximum))
                  if bound is not None]
        if bounds or self.choices:
            extra = ", ".join(bounds) + (f"one of {', '.join(self.choices)}" if self.choices else "") + "; " + extra
        return f"{self.help} ({extra})"


def format_value(value) -> str:
    """Shortest text that reads back as exactly `value`: 0.01, 1e-05, 100 (for 100.0), 2, true, adamw."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    if float(text) != float(value):
        raise ValueError(f"{value!r} does not round-trip through {text!r}")
    return text


@dataclass(frozen=True)
class Optimizer:
    """One optimizer. `reference` is a kind from REFERENCE_KINDS, or a function of the run's
    hyperparameters (all of them, defaults filled in) returning one."""

    name: str
    summary: str
    hparams: tuple[Hparam, ...]
    builder: str  # "module:attribute", called as builder(params, **hyperparameters)
    reference: str | Callable[[Mapping], str] = "none"
    stacked: str | None = None  # its update rule for `vrdl train-grid` ("module:function", vrdl.optim.stacked)
    run_settings: tuple[str, ...] = ()  # RunConfig attributes the builder takes too ("epochs")
    check: Callable[[Mapping], str | None] | None = None  # a problem of the hyperparameters together
    fp32_only: str | None = None  # why this optimizer refuses --precision bf16 (None: it does not)

    def __post_init__(self):
        if isinstance(self.reference, str) and self.reference not in REFERENCE_KINDS:
            raise ValueError(f"{self.name}: reference must be one of {REFERENCE_KINDS}")
        if self.stacked is not None and not (isinstance(self.stacked, str) and ":" in self.stacked):
            raise ValueError(f"{self.name}: stacked={self.stacked!r} names no stacked update rule; give the rule as "
                             f'stacked="module:function" (like those in vrdl.optim.stacked), or leave stacked out')

    def hparam(self, name: str) -> Hparam:
        return {h.name: h for h in self.hparams}[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hparams)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hparams if h.required)

    def problems(self, hparams: Mapping, where: str) -> list[str]:
        """Unknown, missing and invalid hyperparameters, one line each naming `where.KEY`."""
        out = [f"{where}.{key}: {self.name} takes {', '.join(self.names)}"
               for key in sorted(set(hparams) - set(self.names))]
        out += [f"{where}.{key}: required for {self.name}" for key in self.required if key not in hparams]
        for h in self.hparams:
            if h.name in hparams and (problem := h.problem(hparams[h.name])):
                out.append(f"{where}.{h.name}: {problem}")
        if not out and self.check and (problem := self.check(self.complete(hparams))):
            out.append(f"{where}: {problem}")
        return out

    def complete(self, hparams: Mapping) -> dict:
        """The given hyperparameters with the defaults of the others (those that have one)."""
        out = {h.name: h.default for h in self.hparams if h.default is not None}
        return out | dict(hparams)

    def reference_kind(self, hparams: Mapping) -> str:
        kind = self.reference if isinstance(self.reference, str) else self.reference(self.complete(hparams))
        if kind not in REFERENCE_KINDS:
            raise ValueError(f"{self.name}: reference kind {kind!r} is not one of {REFERENCE_KINDS}")
        return kind

    def snapshot_every(self, hparams: Mapping) -> int | None:
        """Epochs between full-gradient snapshots (None: no snapshots)."""
        if self.reference_kind(hparams) != "snapshot":
            return None
        return int(self.complete(hparams).get("snapshot_every", 1))

    def grad_evals(self, hparams: Mapping, *, n: int, batch_size: int, epochs: int) -> int:
        """Per-sample gradient computations of a whole run on n training samples, as the training
        loop counts them (RUN.csv's grad_evals): n per epoch, n more per epoch with a reference
        point (STORM's first step has none), n per snapshot."""
        kind = self.reference_kind(hparams)
        total = n * epochs
        if kind != "none":
            total += n * epochs - (min(batch_size, n) if kind == "previous" else 0)
        every = self.snapshot_every(hparams)
        if every:
            total += n * len(range(1, epochs + 1, every))
        return total

    def build(self, params, hparams: Mapping, run=None):
        """The optimizer; `run` (a RunConfig or anything with the attributes in `run_settings`)
        supplies the run settings the builder takes."""
        missing = [key for key in self.run_settings if not hasattr(run, key)]
        if missing:
            raise ValueError(f"optimizer {self.name} is built for a run: it needs the run's {', '.join(missing)}")
        settings = {key: getattr(run, key) for key in self.run_settings}
        builder = resolve(self.builder, f"optimizer {self.name}'s builder")
        return builder(params, **self.complete(hparams), **settings)


OPTIMIZERS: Registry = Registry("optimizer")


def register(entry: Optimizer) -> Optimizer:
    """Add an optimizer; a flag shared with another optimizer must mean the same hyperparameter."""
    flags = {h.cli_flag: h for e in OPTIMIZERS.values() for h in e.hparams}
    for h in entry.hparams:
        other = flags.get(h.cli_flag)
        if other is not None and (other.name, other.type, other.choices) != (h.name, h.type, h.choices):
            raise ValueError(f"{entry.name}: flag {h.cli_flag} already means {other.name} ({other.type.__name__})")
    return OPTIMIZERS.add(entry)


get = OPTIMIZERS.entry


def _lr(help_text: str = "learning rate") -> Hparam:
    return Hparam("lr", float, help_text, required=True, exclusive_minimum=0)


register(Optimizer("sgd", "plain SGD (no momentum, no weight decay)", (_lr(),),
                   "vrdl.optim.builtin:sgd", stacked="vrdl.optim.stacked:sgd"))
register(Optimizer("adam", "Adam with PyTorch's defaults besides lr", (_lr(),),
                   "vrdl.optim.builtin:adam", stacked="vrdl.optim.stacked:adam"))
register(Optimizer("adagrad", "AdaGrad with PyTorch's defaults besides lr", (_lr(),),
                   "vrdl.optim.builtin:adagrad", stacked="vrdl.optim.stacked:adagrad"))
register(Optimizer(
    "svrg", "SVRG (Johnson & Zhang 2013): snapshot + full gradient, corrected minibatch steps",
    (_lr(), Hparam("snapshot_every", int, "epochs between snapshots", default=1, minimum=1)),
    "vrdl.optim.svrg:SVRG", reference="snapshot", stacked="vrdl.optim.stacked:svrg"))
register(Optimizer(
    "storm", "STORM (Cutkosky & Orabona 2019): recursive momentum, adaptive step k/(w+sum G^2)^(1/3)",
    (Hparam("c", float, "momentum factor, a = min(1, c eta^2)", default=100.0, exclusive_minimum=0,
            flag="--storm-c"),
     Hparam("k", float, "step-size scale", default=0.1, exclusive_minimum=0, flag="--storm-k"),
     Hparam("w", float, "step-size offset", default=0.1, exclusive_minimum=0, flag="--storm-w")),
    "vrdl.optim.storm:STORM", reference="previous", stacked="vrdl.optim.stacked:storm"))


def _beta(name: str, help_text: str, default=None) -> Hparam:
    return Hparam(name, float, help_text, default=default, minimum=0, exclusive_maximum=1)


def _alpha_svrg_problem(hparams: Mapping) -> str | None:
    """Each base optimizer takes its own hyperparameters (the class refuses the other's)."""
    other = ("beta1", "beta2", "eps") if hparams["base"] == "sgd" else ("momentum", "nesterov")
    given = [key for key in other if key in hparams]
    if given:
        return f"{', '.join(given)} belong(s) to the other base optimizer, not base {hparams['base']}"
    if ("beta1" in hparams) != ("beta2" in hparams):
        return "give beta1 and beta2 together"
    if hparams.get("nesterov") and not hparams.get("momentum"):
        return "nesterov needs momentum > 0"
    return None


register(Optimizer(
    "alpha_svrg",
    "alpha-SVRG (Yin et al. 2025): SVRG's correction times a coefficient alpha_t (alpha_0 .. 0 over the run), "
    "fed to AdamW or SGD",
    (_lr(),
     Hparam("alpha0", float, "initial coefficient alpha_0 of the correction", default=0.75, minimum=0),
     Hparam("schedule", str, "coefficient schedule: linear (alpha_0 to 0, one value per snapshot interval) or "
            "constant", default="linear", choices=("linear", "constant")),
     Hparam("base", str, "base optimizer fed the corrected gradient", default="adamw", choices=("adamw", "sgd")),
     Hparam("snapshot_every", int, "epochs between snapshots", default=1, minimum=1),
     Hparam("weight_decay", float, "decoupled (adamw) or L2 (sgd) weight decay of tensors with >= 2 dims",
            default=0.0, minimum=0),
     Hparam("momentum", float, "base sgd only: momentum, 0 unless given", minimum=0, exclusive_maximum=1),
     Hparam("nesterov", bool, "base sgd only: Nesterov momentum, off unless given"),
     _beta("beta1", "base adamw only: Adam's beta1, 0.9 unless given"),
     _beta("beta2", "base adamw only: Adam's beta2, 0.999 unless given"),
     Hparam("eps", float, "base adamw only: Adam's eps, 1e-8 unless given", exclusive_minimum=0)),
    "vrdl.optim.builtin:alpha_svrg", reference="snapshot", run_settings=("epochs",), check=_alpha_svrg_problem,
    fp32_only="the authors' code refuses SVRG with mixed precision (AMP): the correction is a small "
              "difference of gradients"))
register(Optimizer(
    "mars",
    "MARS-AdamW (Yuan et al. 2025): a scaled STORM-style correction, clipped to norm 1, fed to AdamW",
    (Hparam("lr", float, "learning rate", default=3e-3, exclusive_minimum=0),
     _beta("beta1", "Adam's beta1", 0.95),
     _beta("beta2", "Adam's beta2", 0.99),
     Hparam("eps", float, "Adam's eps", default=1e-8, exclusive_minimum=0),
     Hparam("weight_decay", float, "decoupled weight decay of the MARS tensors", default=0.0, minimum=0),
     Hparam("gamma", float, "scale of the correction gamma beta1/(1 - beta1) (g_t - g_last)", default=0.025,
            minimum=0),
     Hparam("exact", bool, "g_last at the previous iterate on the current minibatch (2 gradients per step) "
            "instead of the previous step's gradient (MARS-approx, 1)", default=False),
     Hparam("mars_on_every_tensor", bool, "MARS for every tensor (the authors' optimize_1d); else only 2-D "
            "tensors, the others (conv kernels too) get AdamW with the _1d settings", default=False),
     Hparam("lr_1d", float, "learning rate of the AdamW tensors (moves with lr under a schedule)", default=3e-3,
            exclusive_minimum=0),
     _beta("beta1_1d", "beta1 of the AdamW tensors", 0.9),
     _beta("beta2_1d", "beta2 of the AdamW tensors", 0.95),
     Hparam("weight_decay_1d", float, "weight decay of the AdamW tensors", default=0.1, minimum=0)),
    "vrdl.optim.builtin:mars", reference=lambda hparams: "previous" if hparams["exact"] else "none"))
