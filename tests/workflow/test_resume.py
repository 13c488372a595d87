"""A training job killed mid-run leaves no output Snakemake would take as complete, and the
rerun resumes from the per-epoch checkpoint (kept outside the job's declared outputs) with the
same curve as an uninterrupted run."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from .conftest import FASHION_MNIST, copy_workflow, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

TARGET = "results/tiny/lenet_tiny/bn~off/tune/sgd/lr~0.1/seed~1/fold~0"
CHECKPOINT = "checkpoints/tiny/lenet_tiny/bn~off/tune/sgd/lr~0.1/seed~1/fold~0.ckpt"


def one_job_config(data_dir):
    config = tiny_config(data_dir)
    study = copy.deepcopy(config["studies"]["lenet_tiny"])
    study.update(epochs=6, train_subset=4096, optimizers={"sgd": {"grid": {"lr": [0.1]}}})
    config["studies"] = {"lenet_tiny": study}
    config["metainit"] = config["convex"] = config["ablation"] = None
    return config


def training_process(session: int) -> int:
    """The `vrdl train` process of a Snakemake run started in its own session."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        sid = int(stat.rsplit(")", 1)[1].split()[3])
        if sid == session and b"train" in argv and b"--checkpoint" in argv:
            return int(entry)
    raise AssertionError("no vrdl train process found")


def test_killed_job_resumes_from_its_checkpoint(tmp_path, data_dir):
    if not FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    config = one_job_config(data_dir)
    killed = copy_workflow(tmp_path / "killed")
    fresh = copy_workflow(tmp_path / "fresh")
    for workdir in (killed, fresh):
        write_config(workdir / "config" / "one.yaml", config)
    snakemake(fresh, f"{TARGET}.csv", "--configfile", "config/one.yaml")  # the prepared data too

    cmd = [sys.executable, "-m", "snakemake", f"{TARGET}.csv", "--workflow-profile", "none", "--cores", "1",
           "--configfile", "config/one.yaml"]
    proc = subprocess.Popen(cmd, cwd=killed, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (killed / CHECKPOINT).exists():
            assert proc.poll() is None, "the job ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        # SIGKILL the training process only (as a cluster or the OOM killer would): Snakemake
        # sees the job fail and stops.
        os.kill(training_process(session=proc.pid), signal.SIGKILL)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, output

    assert not (killed / f"{TARGET}.csv").exists() and not (killed / f"{TARGET}.json").exists()
    assert (killed / CHECKPOINT).exists()

    snakemake(killed, f"{TARGET}.csv", "--configfile", "config/one.yaml")

    log = (killed / "logs" / f"{TARGET.removeprefix('results/')}.log").read_text()
    assert "resuming from checkpoint" in log
    assert not (killed / CHECKPOINT).exists()  # deleted on success
    resumed = pd.read_csv(killed / f"{TARGET}.csv").drop(columns="wall_s")
    uninterrupted = pd.read_csv(fresh / f"{TARGET}.csv").drop(columns="wall_s")
    pd.testing.assert_frame_equal(resumed, uninterrupted)
