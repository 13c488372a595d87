"""Every `vrdl train` setting, declared once: its flag, type, default, valid range or choices and
help. The `vrdl train` options (vrdl.cli), RunConfig's defaults and range checks (vrdl.train), the
workflow's `vrdl train` arguments (vrdl.stages.base.train_args), the config schema's matching enums and bounds
(vrdl.schema) and the settings table (`vrdl settings`, docs/cli.md) are made from it. The
optimizer's hyperparameters are declared in vrdl.optim.registry.

No torch here (the workflow reads it in Snakemake's environment). The data set, model and
optimizer choices are their registries, read when listed (entries registered later count).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vrdl.datasets import DATASETS
from vrdl.models import MODELS
from vrdl.optim import registry
from vrdl.optim.registry import format_value

GROUPS = ("run", "where", "speed")  # also the order of the workflow's arguments (see train_arguments)
_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", tuple: "array"}  # JSON schema
_KINDS = {int: "integer", float: "number", bool: "switch", str: "path", tuple: "epochs `E1,E2,...`"}  # the table


@dataclass(frozen=True)
class Setting:
    """One `vrdl train` setting. `group`: run (decides the numbers, a RunConfig field), where (paths,
    device, threads: not in RunConfig) or speed (a RunConfig field the workflow passes only off
    its default, so configs from before it keep their arguments and results)."""

    name: str
    type: type  # int, float, bool, str, or tuple (comma-separated epochs)
    help: str
    default: object = None
    required: bool = False
    minimum: float | None = None  # inclusive
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    choices: tuple[str, ...] | Mapping = ()  # or a registry (its names, read when listed)
    negatable: bool = False  # a bool with --no-NAME too (else a switch: --NAME sets it)
    metavar: str | None = None
    group: str = "run"

    def __post_init__(self):
        if self.type not in _TYPES or self.group not in GROUPS:
            raise TypeError(f"setting {self.name}: type must be one of {list(_TYPES)}, group one of {GROUPS}")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def options(self) -> tuple[str, ...]:
        """The valid values of a setting with choices."""
        return tuple(self.choices)

    @property
    def positive(self) -> bool:
        """Whether the range lies above 0 (the command line checks the sign; RunConfig the range)."""
        return (self.exclusive_minimum is not None and self.exclusive_minimum >= 0) or (self.minimum or 0) > 0

    def problem(self, value) -> str | None:
        """Why `value` is out of range (None: it is not), in RunConfig's words: "batch size must be
        >= 1, got 0". Types are the command line's and the dataclass's business."""
        label = self.name.replace("_", " ")
        if value is None:
            return None
        if isinstance(self.choices, tuple) and self.choices and value not in self.choices:
            return f"{label} must be {_either(self.choices)}, got {value!r}"
        low, high = self.exclusive_minimum, self.exclusive_maximum
        if low is not None and high is not None and not low < value < high:
            return f"{label} must be in ({low:g}, {high:g}), got {value}"
        if self.minimum is not None and value < self.minimum:
            return f"{label} must be >= {self.minimum:g}, got {value}"
        if low is not None and not value > low:
            return f"{label} must be > {low:g}, got {value}"
        return None

    def schema(self) -> dict:
        """JSON schema of one value, with the default (the config keys that mirror this setting)."""
        out: dict = {"enum": list(self.options)} if self.choices else {"type": _TYPES[self.type]}
        for key, bound in (("minimum", self.minimum), ("exclusiveMinimum", self.exclusive_minimum),
                           ("exclusiveMaximum", self.exclusive_maximum)):
            if bound is not None:
                out[key] = bound
        return out | ({} if self.default is None else {"default": self.default})

    def cli_args(self, value) -> list[str]:
        """`vrdl train` arguments that set this setting to `value` (none for None, a switch that is
        off, no epochs, or a speed setting at its default)."""
        if value is None or (self.group == "speed" and value == self.default):
            return []
        if self.type is bool:
            if self.negatable:
                return [self.flag if value else "--no-" + self.flag.removeprefix("--")]
            return [self.flag] if value else []
        if self.type is tuple:
            return [self.flag, ",".join(map(str, value))] if value else []
        return [self.flag, format_value(value)]

    def describe(self) -> tuple[str, str, str, str]:
        """(flags, values, default, help) of the settings table."""
        flags = f"`{self.flag}`" + (f", `--no-{self.flag.removeprefix('--')}`" if self.negatable else "")
        if self.choices:
            values = ", ".join(f"`{c}`" for c in self.options)
        elif self.exclusive_minimum is not None and self.exclusive_maximum is not None:
            values = f"{_KINDS[self.type]} in ({self.exclusive_minimum:g}, {self.exclusive_maximum:g})"
        else:
            bounds = [f"{op} {bound:g}" for op, bound in ((">=", self.minimum), (">", self.exclusive_minimum))
                      if bound is not None]
            values = " ".join([_KINDS[self.type], *bounds])
        if self.required:
            default = "required"
        elif self.type is bool:
            default = "on" if self.default else "off"
        elif self.default is None or self.default == ():
            default = "-"
        else:
            default = f"`{format_value(self.default)}`"
        return flags, values, default, self.help.replace("|", "\\|")


def _either(choices) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1]


_METAINIT = "MetaInit: "

SETTINGS: tuple[Setting, ...] = (
    Setting("dataset", str, "prepared data set (vrdl prepare)", required=True, choices=DATASETS),
    Setting("model", str, "network to train", required=True, choices=MODELS),
    Setting("bn", bool, "batch norm after every conv/dense layer (default: off; the paper's ResNets use --bn)",
            default=False, negatable=True),
    Setting("width", float, "channel width multiplier of the ResNets (1.0 = the paper's)", default=1.0,
            exclusive_minimum=0),
    Setting("optimizer", str, "optimizer to train with (vrdl optimizers lists them)", required=True,
            choices=registry.OPTIMIZERS),  # its hyperparameters follow it (vrdl.optim.registry)
    Setting("epochs", int, "passes over the training portion", required=True, minimum=1),
    Setting("batch_size", int, "minibatch size (at most the training portion's size)", required=True, minimum=1),
    Setting("seed", int, "seed of the initialisation, split, subsets, minibatch order and augmentation",
            default=1),
    Setting("folds", int, "K of K-fold cross-validation (with --fold)", minimum=2),
    Setting("fold", int, "which fold (0-based) is the validation fold"),
    Setting("val_fraction", float, "hold out this fraction of train for validation", exclusive_minimum=0,
            exclusive_maximum=1),
    Setting("train_subset", int, "train on N samples of the training portion", minimum=1, metavar="N"),
    Setting("eval_subset", int, "evaluate on N samples of the eval portion", minimum=1, metavar="N"),
    Setting("augment", str, "pad-4 random crop + flip; auto: for CIFAR only", default="auto",
            choices=("auto", "on", "off")),
    Setting("transform_locking", bool, "both gradients of an SVRG/STORM step see the same augmentation",
            default=True, negatable=True),
    Setting("cache_snapshot_grads", bool, "SVRG fast path: keep each minibatch's snapshot gradient from the "
            "full-gradient pass instead of recomputing it in the steps of the snapshot epoch (same curves, "
            "~1/3 less work)", default=False),
    Setting("l2", float, "add (l2/2)||W||^2 to the loss, W: every parameter", default=0.0, minimum=0),
    Setting("track_objective", bool, "add column train_objective: the full training objective at each epoch's "
            "iterate", default=False),
    Setting("variance_epochs", tuple, "after these epochs write gradient-variance diagnostics to "
            "RUN.variance.csv", default=(), metavar="E1,E2,..."),
    Setting("variance_batches", int, "minibatches per variance estimate", default=32, minimum=2),
    Setting("precision", str, "bf16: autocast forward passes (faster on GPUs; changes the numbers, recorded in "
            "RUN.json)", default="fp32", choices=("fp32", "bf16"), group="speed"),
    Setting("channels_last", bool, "NHWC layout for convolutions (GPU speed)", default=False, group="speed"),
    Setting("compile", bool, "torch.compile each step's gradients and SVRG's snapshot pass (CUDA: as CUDA graphs)",
            default=False, group="speed"),
    Setting("metainit", bool, "MetaInit the weights before training", default=False),
    Setting("metainit_steps", int, _METAINIT + "gradient steps", default=200, minimum=1),
    Setting("metainit_lr", float, _METAINIT + "step size", default=0.1, exclusive_minimum=0),
    Setting("metainit_momentum", float, _METAINIT + "momentum", default=0.9, minimum=0),
    Setting("metainit_eps", float, _METAINIT + "epsilon of the gradient quotient", default=1e-5,
            exclusive_minimum=0),
    Setting("metainit_data", str, "MetaInit's batches: N(0,1) inputs with random labels, or training minibatches",
            default="random", choices=("random", "train")),
    Setting("data_dir", str, "directory of the prepared data sets (NAME.pt)", default="data", group="where"),
    Setting("device", str, "auto: CUDA if available", default="auto", choices=("auto", "cpu", "cuda"),
            group="where"),
    Setting("threads", int, "CPU threads for torch (default: torch's own choice)", minimum=1, group="where"),
    Setting("checkpoint", str, "per-epoch checkpoint (default: RUN.ckpt beside RUN.csv)", group="where"),
    Setting("out", str, "per-epoch CSV; RUN.json (and RUN.variance.csv) are written beside it", required=True,
            metavar="RUN.csv", group="where"),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
RUN_FIELDS = tuple(s.name for s in SETTINGS if s.group != "where")  # RunConfig's fields besides hparams
SPEED = tuple(s.name for s in SETTINGS if s.group == "speed")


def default(name: str):
    return BY_NAME[name].default


def problems(values: Mapping) -> list[str]:
    """Out-of-range values among `values` (settings by name), in declaration order."""
    return [p for s in SETTINGS if s.name in values and (p := s.problem(values[s.name]))]


def train_arguments(values: Mapping, hparams: Mapping | None = None) -> list[str]:
    """`vrdl train` arguments that set `values` (settings by name), the optimizer's hyperparameters
    `hparams` right after --optimizer, sorted by name. Settings run in declaration order, then
    where (--device), then speed: the order the workflow has always passed them (its jobs' params,
    so any change would rerun every result)."""
    args = []
    for setting in sorted((s for s in SETTINGS if s.name in values), key=lambda s: GROUPS.index(s.group)):
        args += setting.cli_args(values[setting.name])
        if setting.name == "optimizer":
            entry = registry.get(values["optimizer"])
            for key in sorted(hparams or {}):
                args += entry.hparam(key).cli_args(hparams[key])
    return args


def markdown_table() -> str:
    """The settings table of docs/cli.md (`vrdl settings` prints it)."""
    lines = ["| flag | values | default | what it does |", "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(s.describe()) + " |" for s in SETTINGS]
    return "\n".join(lines) + "\n"
