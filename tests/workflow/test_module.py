"""The workflow deployed into a user's own project, as the Snakemake workflow catalog describes
(snakedeploy): a Snakefile of the user's that uses this workflow as a `module` (here a local path
to a copy of the checkout's workflow/Snakefile instead of `github(...)`), with the user's
config/config.yaml beside it. Everything the study writes (results, logs, checkpoints, prepared
data, .snakemake) lands in the project; the checkout is left exactly as it was (Python's
__pycache__ of the imported library aside, as for any installed package)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vrdl.runs import read_run

from .conftest import FASHION_MNIST, copy_workflow, executed_jobs, snakemake

pytestmark = pytest.mark.slow

USER_SNAKEFILE = """\
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


module vrdl:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from vrdl
"""

CONFIG = {
    "data": {"dir": "data", "sources": {"fashion_mnist": str(FASHION_MNIST)}},
    "compute": {"device": "cpu", "threads": 1, "gpus_per_job": 0},
    "studies": {"lenet_user": {
        "dataset": "fashion_mnist", "model": "lenet", "bn": ["off"], "selection": {"folds": 2},
        "epochs": 1, "batch_size": 32, "seed": 1, "train_subset": 256, "eval_subset": 256,
        "optimizers": {"sgd": {"grid": {"lr": [0.02, 0.05]}}},
    }},
}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root (size, mtime in ns), __pycache__ left out."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def test_workflow_runs_as_a_module_of_a_users_project(tmp_path):
    checkout = copy_workflow(tmp_path / "checkout")
    project = tmp_path / "project"
    (project / "config").mkdir(parents=True)
    (project / "workflow").mkdir()
    (project / "config" / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    user_snakefile = USER_SNAKEFILE.format(snakefile=checkout / "workflow" / "Snakefile")
    (project / "workflow" / "Snakefile").write_text(user_snakefile)
    before = snapshot(checkout)

    result = snakemake(project)  # the user's workflow/Snakefile, found by Snakemake itself

    assert snapshot(checkout) == before, "the deployed workflow wrote into the checkout"
    assert f"vrdl from {checkout / 'src'}" in result.stdout  # the module's own library
    rules = {rule for rule, _ in executed_jobs(result.stdout)}
    assert {"prepare_data", "tune", "select", "final", "report", "tables", "all"} <= rules
    root = project / "results" / "config"  # the config's name: its file's stem
    assert (root / "report.html").stat().st_size > 0
    tune = list(root.glob("lenet_user/bn~off/tune/sgd/*/seed~1/fold~*.csv"))
    assert len(tune) == 4
    for csv in (*tune, *root.glob("lenet_user/bn~off/final/sgd/seed~1.csv")):
        read_run(csv, heal=False)  # each run passes the readers' checks
    assert (project / "data" / "fashion_mnist.pt").is_file()
    assert list((project / "logs" / "config").rglob("*.log"))
    assert (project / "checkpoints").is_dir()  # where unfinished runs keep theirs (none left)
    assert not list((project / "checkpoints").rglob("*.ckpt"))
    assert not (checkout / "results").exists() and not (checkout / ".snakemake").exists()
