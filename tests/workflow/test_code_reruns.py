"""Reruns that follow the code, provenance and the tidy tables, with real Snakemake runs of a tiny
LeNet study in a git checkout of its own: a comment edit reruns nothing, an SVRG edit reruns the
SVRG runs and the analysis only, an analysis edit reruns no training, a loop edit every run."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest

from .conftest import FASHION_MNIST, copy_workflow, executed_jobs, job_counts, snakemake, write_config

pytestmark = pytest.mark.slow

RESULTS = "results/code"
CONFIG = {
    "name": "code",
    "data": {"dir": None, "sources": {"fashion_mnist": str(FASHION_MNIST)}},
    "compute": {"device": "cpu", "threads": 1, "gpus_per_job": 0},
    "studies": {
        "lenet": {
            "dataset": "fashion_mnist", "model": "lenet", "bn": ["off"],
            "selection": {"folds": 2}, "epochs": 1, "batch_size": 32, "seeds": [1],
            "train_subset": 128, "eval_subset": 128, "time_to_target": {"loss": 2.0},
            "optimizers": {"sgd": {"grid": {"lr": [0.05]}}, "svrg": {"grid": {"lr": [0.05]}}},
        },
    },
}
TRAINING = {"tune", "final"}
ANALYSIS = {"select", "figure_tuning", "figure_final", "figure_target", "report", "tables"}
GIT = dict(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")


def git(workdir, *args) -> str:
    env = dict(os.environ, **GIT)
    return subprocess.run(["git", *args], cwd=workdir, env=env, check=True, capture_output=True, text=True).stdout


def edit(path, old, new) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def dry_jobs(workdir) -> dict[str, int]:
    return job_counts(snakemake(workdir, "-n", "--configfile", "config/code.yaml").stdout)


def optimizers_run(jobs) -> set[str]:
    return {part.split("=")[1] for rule, wildcards in jobs if rule in TRAINING
            for part in wildcards.split(", ") if part.startswith("optimizer=")}


@pytest.fixture
def checkout(tmp_path):
    """The workflow and its library in a git repository of their own, run to completion (with
    its own data dir: the session's is left to test_end_to_end, which counts its prepare job)."""
    workdir = copy_workflow(tmp_path / "wf")
    data_dir = tmp_path / "data"
    (workdir / ".gitignore").write_text("results/\nlogs/\ncheckpoints/\n.snakemake/\n")
    write_config(workdir / "config" / "code.yaml", dict(CONFIG, data=dict(CONFIG["data"], dir=str(data_dir))))
    git(workdir, "init", "-q")
    git(workdir, "add", "-A")
    git(workdir, "commit", "-qm", "start")
    snakemake(workdir, "--configfile", "config/code.yaml")
    return workdir


def test_runs_record_their_code_and_the_tables_hold_every_run(checkout):
    head = git(checkout, "rev-parse", "HEAD").strip()
    meta = json.loads((checkout / f"{RESULTS}/lenet/bn~off/final/svrg/seed~1.json").read_text())
    assert meta["git_commit"] == head and meta["git_dirty"] is False
    assert meta["vrdl_path"] == str(checkout / "src" / "vrdl")  # this checkout's library, not the installed one
    fingerprinted = subprocess.run(
        ["python", "-c", "import sys; sys.path.insert(0, 'src'); from vrdl import fingerprint; "
                         "print(fingerprint.run_fingerprint('svrg'))"],
        cwd=checkout, capture_output=True, text=True, check=True).stdout.strip()
    assert meta["code_fingerprint"] == fingerprinted

    runs = pd.read_parquet(checkout / f"{RESULTS}/runs.parquet")
    assert len(runs) == 2 * 2 + 2  # 2 optimizers x 2 folds tuned, 2 final runs
    assert sorted(runs.groupby("stage").size().items()) == [("final", 2), ("tune", 4)]
    assert set(runs["lr"]) == {0.05} and set(runs["split"].dropna()) == {"fold~0", "fold~1"}
    assert (runs["git_commit"] == head).all() and runs["run"].is_unique
    tune = runs[(runs["stage"] == "tune") & (runs["optimizer"] == "svrg")]
    assert (tune["grad_evals"] > 2 * tune["n_train"]).all()  # snapshot + two gradients per sample
    as_csv = pd.read_csv(checkout / f"{RESULTS}/runs.csv")
    assert list(as_csv.columns) == list(runs.columns)
    assert as_csv["run"].tolist() == runs["run"].tolist()
    assert as_csv["final_eval_loss"].tolist() == runs["final_eval_loss"].tolist()
    curves = pd.read_parquet(checkout / f"{RESULTS}/curves.parquet")
    assert len(curves) == len(runs) * 2  # epochs 0 and 1 of each
    last = curves.groupby("run")["eval_loss"].last()
    assert last.to_dict() == runs.set_index("run")["final_eval_loss"].to_dict()


def test_edits_rerun_exactly_the_jobs_running_the_edited_code(checkout):
    src = checkout / "src" / "vrdl"
    # A comment and a docstring: nothing to do
    svrg = src / "optim" / "svrg.py"
    svrg.write_text("# reviewed\n" + svrg.read_text().replace('"""', '"""Reviewed. ', 1))
    assert "Nothing to be done" in snakemake(checkout, "-n", "--configfile", "config/code.yaml").stdout

    # Code of SVRG: the SVRG runs and the analysis, no SGD run
    edit(svrg, "import torch\n", "import torch\n\nREVIEWED = True\n")
    counts = dry_jobs(checkout)
    assert counts["tune"] == 2 and set(counts) <= TRAINING | ANALYSIS | {"all"}
    result = snakemake(checkout, "--configfile", "config/code.yaml")
    jobs = executed_jobs(result.stdout)
    assert optimizers_run(jobs) == {"svrg"}
    assert sorted(rule for rule, _ in jobs if rule in TRAINING) == ["final", "tune", "tune"]
    assert {"select", "report", "tables"} <= {rule for rule, _ in jobs}
    meta = json.loads((checkout / f"{RESULTS}/lenet/bn~off/final/svrg/seed~1.json").read_text())
    assert meta["git_dirty"] is True  # the edit is not committed
    assert "Nothing to be done" in snakemake(checkout, "-n", "--configfile", "config/code.yaml").stdout

    # The figures' code: figures and report, no training, no selection
    edit(src / "plots.py", "import numpy as np\n", "import numpy as np\n\nREVIEWED = True\n")
    counts = dry_jobs(checkout)
    assert set(counts) == {"figure_tuning", "figure_final", "figure_target", "report", "all"}

    # Selection: select, the figures that read it, the report; the same choice retrains nothing
    # (`-n` lists the final runs too: it cannot know the choice before select has run)
    edit(src / "select.py", "import pandas as pd\n", "import pandas as pd\n\nREVIEWED = True\n")
    rules = {rule for rule, _ in executed_jobs(snakemake(checkout, "--configfile", "config/code.yaml").stdout)}
    assert rules == {"select", "figure_tuning", "figure_final", "figure_target", "report", "all"}

    # The report's templates: the report only, and it runs this checkout's edited code (not an
    # installed vrdl's)
    css = src / "templates" / "report.css"
    css.write_text(css.read_text() + "\n/* reviewed: this checkout's stylesheet */\n")
    jobs = executed_jobs(snakemake(checkout, "--configfile", "config/code.yaml").stdout)
    assert {rule for rule, _ in jobs} == {"report", "all"}
    assert "reviewed: this checkout's stylesheet" in (checkout / f"{RESULTS}/report.html").read_text()

    # The training loop: every training run, and `-n` says so first
    edit(src / "train.py", "import torch\n", "import torch\n\nREVIEWED = True\n")
    result = snakemake(checkout, "-n", "--configfile", "config/code.yaml")
    assert job_counts(result.stdout)["tune"] == 4
    assert "Params have changed since last execution" in result.stdout
