"""Where a config's results go: everything under `results/<name>/` (logs under `logs/<name>/`,
unfinished runs' checkpoints under `checkpoints/<name>/`), so two configs never write one file.

`name` is the config's `name:` key, else the stem of its config file (config/quick.yaml ->
"quick"). Only the prepared data (`data.dir`) is shared: it depends on the data set alone.
No torch and no Snakemake here.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# A config's and a study's name are folder names in every run's path; file systems take 255
# bytes a name and some tools far fewer in a whole path, so keep each well short of that.
MAX_NAME = 100
STAGES_DIR = Path(__file__).resolve().parent / "stages"


@functools.cache
def side_runs() -> dict[str, str]:
    """Each side study's run path template under results/NAME/, by its key: the `RUNS` constant of
    every module in vrdl/stages/ that has one (a side study's stage module), in the order of their
    `ORDER` constants. Read from the source, not imported: the run identity (vrdl.identity) needs
    them in every training job, whose code fingerprint must not take in the stages."""
    found = []
    for path in sorted(STAGES_DIR.glob("*.py")):
        constants = {target.id: node.value.value for node in ast.parse(path.read_text()).body
                     if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                     for target in node.targets if isinstance(target, ast.Name)}
        if "RUNS" in constants:
            found.append((constants.get("ORDER", 100), path.stem, constants["RUNS"]))
    return {key: runs for _, key, runs in sorted(found)}


def config_name(config: dict, configfiles=()) -> str:
    """The config's result namespace: its `name:`, else its (last) config file's stem."""
    name = config.get("name")
    if name is None and configfiles:
        name = Path(list(configfiles)[-1]).stem
    if name is None:
        raise ValueError("name: the config has no name and no config file to take one from; "
                         "add `name: NAME` (its results go to results/NAME/)")
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"name: {name!r} cannot name a results folder (letters, digits, _ . -, "
                         "not starting with . or -)")
    if len(name) > MAX_NAME:
        where = "name" if config.get("name") is not None else "name (the config file's name)"
        raise ValueError(f"{where}: {len(name)} characters, too long for a folder name in every run's path; "
                         f"give `name:` at most {MAX_NAME}")
    return name


@dataclass(frozen=True)
class Paths:
    """Path templates of one config's outputs (relative to the working directory)."""

    name: str

    @property
    def root(self) -> str:
        return f"results/{self.name}"

    @property
    def tune(self) -> str:
        return f"{self.root}/{{study}}/bn~{{bn}}/tune/{{optimizer}}/{{point}}/seed~{{seed}}/{{split}}"

    @property
    def selected(self) -> str:
        return f"{self.root}/{{study}}/bn~{{bn}}/selected.tsv"

    @property
    def tuning_table(self) -> str:
        return f"{self.root}/{{study}}/bn~{{bn}}/tuning.tsv"

    @property
    def final(self) -> str:
        return f"{self.root}/{{study}}/bn~{{bn}}/final/{{optimizer}}/seed~{{seed}}"

    @property
    def tune_group(self) -> str:
        """The check of a group of tune runs that share one cluster job (vrdl.cluster)."""
        return f"{self.root}/{{study}}/tune_groups/group~{{group}}.tsv"

    def side_run(self, key: str) -> str:
        """A side study's run (side_runs)."""
        return f"{self.root}/{side_runs()[key]}"

    @property
    def figures(self) -> str:
        return f"{self.root}/figures"

    @property
    def report(self) -> str:
        return f"{self.root}/report.html"

    def table(self, name: str) -> str:
        """The tidy tables: runs.parquet, runs.csv, curves.parquet."""
        return f"{self.root}/{name}"

    def figure(self, study, bn, kind, ext="png") -> str:
        return f"{self.figures}/{study}_bn~{bn}_{kind}.{ext}"

    def variance_figure(self, study, ext="png") -> str:
        return f"{self.figures}/{study}_variance.{ext}"

    def side_figure(self, kind, ext="png") -> str:
        """A side study's figure (by its key)."""
        return f"{self.figures}/{kind}.{ext}"

    def checkpoint(self, stem: str) -> str:
        """Per-epoch checkpoints mirror results/ under checkpoints/, outside every declared output,
        so that Snakemake keeps them when a job fails and the rerun resumes."""
        return f"checkpoints/{stem.removeprefix('results/')}.ckpt"

    def log(self, stem: str) -> str:
        return f"logs/{stem.removeprefix('results/')}.log"


def variance_csv(stem: str) -> str:
    """Where `vrdl train --variance-epochs` writes its diagnostics (vrdl.train.variance_path)."""
    return f"{stem}.variance.csv"
