"""Helpers for the workflow tests: a copy of the workflow in a temporary directory, Snakemake
runs in it, a tiny config on real Fashion-MNIST, and which jobs a run executed."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
# What a copy of the workflow needs: the rules and scripts, configs, profile, envs, and the
# library (the workflow runs its own checkout's src/, so a test can edit the copy's code).
WORKFLOW_PARTS = ["workflow", "scripts", "config", "envs", "profiles/default", "src"]
# What reruns a job: as the shipped profiles say (no profile here: each test names its config).
RERUN_TRIGGERS = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())["rerun-triggers"]


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def snakemake(workdir: Path, *args: str, configfile: Path | str | None = None, check: bool = True,
              timeout: float = 900) -> subprocess.CompletedProcess:
    """Run Snakemake in `workdir` (the copy) without the default profile; output in .stdout."""
    cmd = [sys.executable, "-m", "snakemake", "--workflow-profile", "none", "--cores", "2"]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += [*args, "--rerun-triggers", *RERUN_TRIGGERS]  # last: it takes every word up to the next option
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
    result.stdout = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-6000:]}")
    return result


_JOB = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def executed_jobs(output: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a (non-dry) run started, from Snakemake's log output."""
    jobs, current = [], None
    for line in output.splitlines():
        match = _JOB.match(line)
        if match:
            if current:
                jobs.append((current, ""))
            current = match.group(1)
            continue
        if current:
            match = _WILDCARDS.match(line)
            if match:
                jobs.append((current, match.group(1)))
                current = None
            elif not line.startswith(" "):
                jobs.append((current, ""))
                current = None
    if current:
        jobs.append((current, ""))
    return jobs


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run as {rule: count}."""
    counts, in_table = {}, False
    for line in output.splitlines():
        if line.startswith("Job stats:"):
            in_table, counts = True, {}
            continue
        if in_table:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] == "total":
                    in_table = False
                else:
                    counts[parts[0]] = int(parts[1])
    return counts


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def load_paper_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


CONVEX_EPOCHS = 30
TINY = {
    "name": "tiny",  # results/tiny/ whatever file a test writes it to
    "data": {"dir": None, "sources": {"fashion_mnist": str(FASHION_MNIST) if FASHION_MNIST.is_dir() else None}},
    "compute": {"device": "cpu", "threads": 1, "gpus_per_job": 0},
    "studies": {
        "lenet_tiny": {
            "dataset": "fashion_mnist",
            "model": "lenet",
            "bn": ["off"],
            "selection": {"folds": 2, "seeds": [1]},
            "epochs": 1,
            "batch_size": 32,
            "seeds": [1, 2],  # final runs with two seeds, tune runs with one
            "train_subset": 256,
            "eval_subset": 256,
            "variance": {"epochs": [1], "batches": 4},
            "optimizers": {
                "sgd": {"grid": {"lr": [0.01, 0.1]}},
                "svrg": {"grid": {"lr": [0.01, 0.05]}},
                "storm": {"grid": {"c": [10, 100], "k": [0.1]}, "fixed": {"w": 0.1}},
            },
            "paper": {"bn_off": {"table": "4.2", "figure": "4.4",
                                 "selected": {"sgd": {"lr": 0.1}, "svrg": {"lr": 0.01},
                                              "storm": {"c": 100, "k": 0.1}}}},
        },
        "resnet_tiny": {
            "dataset": "fashion_mnist",
            "model": "resnet18",
            "width": 0.0625,
            "bn": ["on", "off"],
            "selection": {"val_fraction": 0.1},
            "epochs": 1,
            "batch_size": 64,
            "seed": 1,  # the older spelling of seeds: [1]; no variance: header-only variance CSVs
            "train_subset": 128,
            "eval_subset": 128,
            "optimizers": {
                "adam": {"grid": {"lr": [1.0e-3, 1.0e-2]}},
                "svrg": {"grid": {"lr": [0.01]}, "epochs": 2},
            },
        },
    },
    "metainit": {
        "dataset": "fashion_mnist",
        "model": "resnet18",
        "width": 0.0625,
        "bn": "off",
        "optimizer": "svrg",
        "hparams": {"lr": 0.01},
        "epochs": 1,
        "batch_size": 64,
        "seed": 1,
        "train_subset": 128,
        "eval_subset": 128,
        "metainit": {"steps": 3, "lr": 0.1, "momentum": 0.9, "eps": 1.0e-5},
    },
    # Logistic regression with L2 at fixed steps, about the same gradient budget each.
    "convex": {
        "dataset": "fashion_mnist",
        "l2": 0.1,
        "epochs": CONVEX_EPOCHS,
        "batch_size": 16,
        "train_subset": 1024,
        "eval_subset": 128,
        "optimizers": {
            "sgd": {"hparams": {"lr": 0.02}, "epochs": 3 * CONVEX_EPOCHS},
            "svrg": {"hparams": {"lr": 0.02}},
            "storm": {"hparams": {"k": 0.5, "c": 100, "w": 0.1}, "epochs": 2 * CONVEX_EPOCHS},
        },
    },
    "ablation": {
        "dataset": "fashion_mnist",
        "model": "resnet18",
        "width": 0.0625,
        "bn": "on",
        "hparams": {"lr": 0.05},
        "epochs": 2,
        "batch_size": 32,
        "augment": "on",
        "train_subset": 128,
        "eval_subset": 128,
        "variance": {"epochs": [1, 2], "batches": 3},
    },
}
TINY_TUNE_JOBS = 2 * 2 * 3 + 3 * 2  # lenet: 3 optimizers x 2 points x 2 folds; resnet: 3 points x 2 BN
TINY_FINAL_JOBS = 3 * 2 + 2 * 2  # lenet: 3 optimizers x 2 seeds; resnet: 2 optimizers x 2 BN


def tiny_config(data_dir: Path) -> dict:
    config = copy.deepcopy(TINY)
    config["data"]["dir"] = str(data_dir)
    return config


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Shared by every run of the session (absolute, outside the workflow copies)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def completed_run(tmp_path_factory, data_dir) -> Path:
    """The tiny config run to completion once; tests copy it before changing anything."""
    if not TINY["data"]["sources"]["fashion_mnist"]:
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    workdir = copy_workflow(tmp_path_factory.mktemp("e2e") / "wf")
    config = write_config(workdir / "config" / "tiny.yaml", tiny_config(data_dir))
    result = snakemake(workdir, configfile=config)
    (workdir / "first-run.log").write_text(result.stdout)
    return workdir


@pytest.fixture
def run_copy(completed_run, tmp_path) -> Path:
    """A private copy of the completed run (outputs, metadata and mtimes preserved)."""
    dest = tmp_path / "wf"
    shutil.copytree(completed_run, dest, symlinks=True)
    return dest
