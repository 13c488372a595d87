"""Stopping a running study safely (issue 26), as the docs tell a user, with real Snakemake runs:

- Ctrl-C in the terminal (SIGINT to the whole foreground process group): every running training
  job stops within a second, its log ending "interrupted after epoch N; rerun the same command to
  resume"; the rerun resumes those jobs from their checkpoints;
- SIGTERM to Snakemake's own pid: no new jobs start, the running ones finish and count as done;
- SIGINT to Snakemake's own pid: the same wait, but Snakemake marks the finished jobs incomplete,
  so the rerun needs --rerun-incomplete (profiles/default sets it) and trains them again.

Either way the same command afterwards brings every target up to date, each run passing the
readers, and a dry run then has nothing to do."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time

import pytest

from vrdl.runs import read_run

from .conftest import FASHION_MNIST, copy_workflow, executed_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

STUDY = "results/tiny/lenet_tiny/bn~off"


def small_study(data_dir) -> dict:
    """Two tune runs long enough to interrupt, the selection, one final run, tables and report."""
    config = tiny_config(data_dir)
    study = copy.deepcopy(config["studies"]["lenet_tiny"])
    study.update(epochs=8, train_subset=4096, seeds=[1], optimizers={"sgd": {"grid": {"lr": [0.1]}}})
    study.pop("variance")
    config["studies"] = {"lenet_tiny": study}
    config["metainit"] = config["convex"] = config["ablation"] = None
    return config


def first_checkpoint(workdir, proc, seconds=180):
    deadline = time.monotonic() + seconds
    while True:
        found = list((workdir / "checkpoints").rglob("*.ckpt")) if (workdir / "checkpoints").is_dir() else []
        if found:
            return found[0]
        assert proc.poll() is None, "Snakemake ended before a training job wrote its first checkpoint"
        assert time.monotonic() < deadline, f"no checkpoint within {seconds} s"
        time.sleep(0.05)


def stop(proc, how: str) -> str:
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal sends: Snakemake and its jobs
    else:
        os.kill(proc.pid, signal.SIGTERM if how == "sigterm-snakemake" else signal.SIGINT)
    output, _ = proc.communicate(timeout=300)
    return output


def assert_every_target_passes_the_readers(workdir, configfile):
    runs = sorted((workdir / STUDY).glob("tune/sgd/lr~0.1/seed~1/fold~*.csv")) + \
        sorted((workdir / STUDY).glob("final/sgd/seed~1.csv"))
    assert len(runs) == 3
    for csv in runs:
        read_run(csv, heal=False)
    assert (workdir / "results" / "tiny" / "report.html").stat().st_size > 0
    assert not list((workdir / "checkpoints").rglob("*.ckpt"))  # each deleted when its run finished
    dry = snakemake(workdir, "-n", "--configfile", configfile)
    assert "Nothing to be done" in dry.stdout, dry.stdout[-3000:]


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm-snakemake", "sigint-snakemake"])
def test_a_stopped_study_is_completed_by_the_same_command(tmp_path, fashion_mnist_dir, how):
    if not FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    workdir = copy_workflow(tmp_path / "wf")
    write_config(workdir / "config" / "small.yaml", small_study(fashion_mnist_dir))
    cmd = [sys.executable, "-m", "snakemake", "--workflow-profile", "none", "--cores", "1",
           "--configfile", "config/small.yaml"]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group, as in a terminal
    try:
        checkpoint = first_checkpoint(workdir, proc)
        output = stop(proc, how)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, output  # stopped: not every target was made
    run = checkpoint.relative_to(workdir / "checkpoints").with_suffix("")
    log = workdir / "logs" / f"{run}.log"
    if how == "ctrl-c":  # the job stopped mid-run and said so; its checkpoint stays for the rerun
        last = log.read_text().splitlines()[-1]
        assert last.startswith("vrdl train: interrupted after epoch ") and \
            last.endswith("; rerun the same command to resume"), log.read_text()[-2000:]
        assert checkpoint.exists() and not (workdir / "results" / f"{run}.csv").exists()
    else:  # the running job was let finish
        assert (workdir / "results" / f"{run}.csv").exists() and not checkpoint.exists()

    rerun = ["--rerun-incomplete"] if how == "sigint-snakemake" else []  # as profiles/default does
    again = snakemake(workdir, *rerun, "--configfile", "config/small.yaml")
    if how == "ctrl-c":
        assert "resuming from checkpoint" in log.read_text()
    if how == "sigterm-snakemake":  # the finished job is not run again
        assert f"split={run.name}" not in {wildcards.split(", ")[-1] for _, wildcards in executed_jobs(again.stdout)}
    assert_every_target_passes_the_readers(workdir, "config/small.yaml")
