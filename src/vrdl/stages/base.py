"""What every stage of the plan shares: the `vrdl train` argument list of a run, the cost job of a
run (vrdl.costs), figure-title helpers, and `SideStage`, the protocol of the studies beside the
main one: one config block, fixed hyperparameters, one figure, one report section.
No torch and no Snakemake here (the figure and report hooks import theirs when they run)."""

from __future__ import annotations

import string
import sys
from pathlib import Path

from vrdl import settings
from vrdl.config import bn_name, train_size
from vrdl.optim import registry
from vrdl.paths import Paths, side_runs

# The run settings a report section shows.
RUN_KEYS = (
    "dataset", "model", "bn", "width", "epochs", "batch_size", "seeds", "seed",
    "augment", "train_subset", "eval_subset",
)  # fmt: skip
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


class PlanError(ValueError):
    """A request the plan cannot serve (a seed or grid point that is not configured)."""


def check_seed(seed, seeds, where) -> None:
    if int(seed) not in seeds:
        raise PlanError(f"seed {seed} is not configured ({where})")


# ---------------------------------------------------------------------------------------------
# `vrdl train` arguments (everything that decides a result; the rule script adds --out,
# --checkpoint, --data-dir and --threads)


def train_args(compute, setting, optimizer, hparams, bn, epochs, seed, split=None) -> list[str]:
    """The arguments of one run of `optimizer` with `hparams` in a study-like `setting` (data set,
    model, width, batch size, subsets, augmentation, selection), under the config's `compute`
    (vrdl.settings orders and formats them)."""
    selection = setting.get("selection")
    if split == "holdout":
        split_values = dict(val_fraction=selection["val_fraction"])
    elif split is not None:
        split_values = dict(folds=selection["folds"], fold=split.split("~")[1])
    else:
        split_values = {}
    values = dict(
        dataset=setting["dataset"], model=setting["model"], bn=bn == "on", width=setting.get("width"),
        optimizer=optimizer, epochs=epochs, batch_size=setting["batch_size"], seed=seed, **split_values,
        train_subset=setting.get("train_subset"), eval_subset=setting.get("eval_subset"),
        augment=setting["augment"], device=compute["device"],
    )
    # compute.precision/channels_last/compile: settings.train_arguments leaves them out at their
    # defaults (so a config from before them keeps its params, and its results)
    return settings.train_arguments(values | {name: compute[name] for name in settings.SPEED}, hparams)


def variance_args(variance, epochs) -> list[str]:
    """--variance-epochs (those within the run's epochs) and --variance-batches."""
    if not variance:
        return []
    within = sorted(e for e in variance["epochs"] if e <= epochs)
    return ["--variance-epochs", ",".join(map(str, within)), "--variance-batches", str(variance["batches"])]


def cost_job(stage, study, setting, bn, optimizer, hparams, epochs, stem, split=None) -> dict:
    """One training run for `vrdl plan`: its gradient computations and the shape of its work,
    which a cost rate must match (vrdl.costs)."""
    n = train_size(setting, split)
    grad_evals = registry.get(optimizer).grad_evals(hparams, n=n, batch_size=setting["batch_size"], epochs=epochs)
    return dict(stage=stage, study=study, bn=bn, optimizer=optimizer, model=setting["model"], epochs=epochs,
                stem=stem, grad_evals=grad_evals,
                dataset=setting["dataset"], width=setting.get("width"), batch_size=setting["batch_size"])


# ---------------------------------------------------------------------------------------------
# Figure titles


def with_files(runs, paths, **extra) -> list[dict]:
    """A figure rule's runs (its `params.runs`) with each one's file (`csv`) and `extra` lists."""
    return [dict(run, csv=path, **{key: values[i] for key, values in extra.items()})
            for i, (run, path) in enumerate(zip(runs, paths, strict=True))]


def seeds_note(seeds) -> str:
    n = len(seeds)
    return f"mean of {n} seeds, band: min-max" if n > 1 else f"seed {seeds[0]}"


def with_paper_figure(title, figure) -> str:
    return f"{title}\n(the paper's Figure {figure})" if figure else title


# ---------------------------------------------------------------------------------------------
# Side studies


class SideStage:
    """A study beside the main one, from the config block `key` (absent: no runs): fixed
    hyperparameters, runs named by `wildcards`, one figure, one report section.

    A side study is its stage module in vrdl/stages/ (a subclass as `STAGE`, its run path template
    as `RUNS`: vrdl.paths.side_runs), its schema block beside it (KEY.schema.yaml), its rule file
    (workflow/rules/KEY.smk: the training rule and `figure_KEY`) and its report section template
    (vrdl/templates/KEY.html.j2). A subclass says which runs there are (`each_run`), their
    arguments (`run_args`), the setting and hyperparameters each trains with (`setting`,
    `hparams`, `epochs`), its figure title, config checks (`problems`), report section
    (`manifest`, `load_section`) and figure (`draw`); the paths, files, tidy-table rows and cost
    jobs follow here."""

    key: str  # the config block, the figure's and the report section's name, the module's name
    label: str = ""  # how `vrdl plan` names its runs (default: the key)
    extensions: tuple[str, ...] = (".csv", ".json")  # the files each run writes, which the report reads
    rules: str = ""  # its rule file, relative to workflow/ (default rules/KEY.smk)
    template_dir: Path = TEMPLATES  # where its report section template KEY.html.j2 is

    def __init_subclass__(cls):
        super().__init_subclass__()
        cls.label = cls.label or cls.key
        cls.rules = cls.rules or f"rules/{cls.key}.smk"

    @classmethod
    def schema_path(cls) -> Path:
        """Its config block's schema (vrdl.schema puts it under the key)."""
        return Path(sys.modules[cls.__module__].__file__).with_suffix(".schema.yaml")

    @classmethod
    def template(cls) -> str:
        return f"{cls.key}.html.j2"

    @classmethod
    def figure_rule(cls) -> str:
        return f"figure_{cls.key}"

    # -- class-level hooks: the config checks, the figure job and the report job (no plan there)

    @classmethod
    def problems(cls, block: dict, config: dict) -> list[str]:
        """What the schema cannot say about a present block, one line each naming the key."""
        return []

    @classmethod
    def setting_of(cls, block: dict) -> dict:
        """The block as the size checks read it (vrdl.checks.size_problems)."""
        return block

    @classmethod
    def optimizers_used(cls, block: dict) -> list[tuple[str, str]]:
        """(config key, optimizer) of every run, for the config checks."""
        return [(f"{cls.key}.optimizer", block["optimizer"])]

    @staticmethod
    def draw(inputs, params, out) -> None:
        """Its figure from rule figure_KEY's input and params, to the paths `out`."""
        raise NotImplementedError

    @classmethod
    def load_section(cls, section: dict, report_dir: Path) -> dict:
        """Its report section's data (the template's `section`) from its manifest part."""
        raise NotImplementedError

    @classmethod
    def run_csvs(cls, section: dict) -> list[str]:
        """The CSV of every run its report section shows."""
        return [run["csv"] for run in section["runs"]]

    @classmethod
    def claim_runs(cls, section: dict) -> dict | None:
        """Runs the study's claims compare (vrdl.claims: {"with": paths, "without": paths}), if any."""
        return None

    def __init__(self, spec: dict | None, paths: Paths, compute: dict):
        self.spec, self.paths, self.compute = spec or None, paths, compute

    def __bool__(self) -> bool:
        return self.spec is not None

    @property
    def stem(self) -> str:
        """The path template of a run (without extension; vrdl.paths.side_runs)."""
        return self.paths.side_run(self.key)

    @property
    def wildcards(self) -> tuple[str, ...]:
        """The wildcards that name a run (those of its path template)."""
        return tuple(field for _, field, _, _ in string.Formatter().parse(side_runs()[self.key]) if field)

    @property
    def dataset(self) -> str:
        return self.block()["dataset"]

    def block(self) -> dict:
        """The config block (a job of an absent one: a PlanError, not a traceback)."""
        if not self:
            raise PlanError(f"the config has no {self.key} block: add one (config/README.md) to run {self.key}")
        return self.spec

    @property
    def model(self) -> str:
        return self.setting({})["model"]

    @property
    def bn(self) -> str:
        return bn_name(self.spec.get("bn", "off"))

    # -- what a subclass may override

    def each_run(self) -> list[dict]:
        """Every run's wildcards (the block is there)."""
        raise NotImplementedError

    def run_args(self, run: dict) -> list[str]:
        """The run's arguments beyond `train_args` (checked: PlanError names a bad wildcard)."""
        return []

    def check(self, run: dict) -> None:
        if "seed" in run:
            check_seed(run["seed"], self.spec["seeds"], f"{self.key}.seeds")

    def setting(self, run: dict) -> dict:
        return self.spec

    def optimizer(self, run: dict) -> str:
        return self.spec["optimizer"]

    def hparams(self, run: dict) -> dict:
        return self.spec["hparams"]

    def epochs(self, run: dict) -> int:
        return self.spec["epochs"]

    def seed(self, run: dict) -> int:
        return int(run["seed"])

    def title(self) -> str:
        raise NotImplementedError

    def manifest(self) -> dict:
        raise NotImplementedError

    # -- derived

    def runs(self) -> list[dict]:
        return self.each_run() if self else []

    def args(self, run: dict) -> list[str]:
        """`vrdl train` arguments of one run (a dict of wildcards), checked."""
        self.block()
        self.check(run)
        return train_args(self.compute, self.setting(run), self.optimizer(run), self.hparams(run), self.bn,
                          self.epochs(run), self.seed(run)) + self.run_args(run)

    def files(self, ext: str) -> list[str]:
        return [self.stem.format(**run) + ext for run in self.runs()]

    def report_files(self) -> list[str]:
        return [path for ext in self.extensions for path in self.files(ext)]

    def figures(self) -> list[str]:
        return [self.paths.side_figure(self.key, ext) for ext in ("png", "pdf")] if self else []

    def setup(self, keys=RUN_KEYS, extra=()) -> dict:
        """The run settings the report shows."""
        return {key: self.spec.get(key) for key in (*keys, *extra)}

    def table_runs(self) -> list[dict]:
        return [dict(run, stage=self.key, study=self.key, bn=self.bn, optimizer=self.optimizer(run),
                     seed=self.seed(run), csv=self.stem.format(**run) + ".csv") for run in self.runs()]

    def jobs(self) -> list[dict]:
        return [cost_job(self.key, self.key, self.setting(run), self.bn, self.optimizer(run), self.hparams(run),
                         self.epochs(run), self.stem.format(**run)) for run in self.runs()]
