"""The workflow on a real SLURM (the single-node test cluster of tests/slurm/local-cluster.sh),
through `--profile profiles/slurm --workflow-profile profiles/slurm-test`:

1. a `tune` job (asking for one of the node's GPUs) cancelled with scancel after its first epoch
   checkpoint is retried by Snakemake and resumes from the checkpoint, with the same CSV as an
   uninterrupted run;
2. the same for a job killed by its SLURM time limit (TIMEOUT; runtime = attempt minutes). A
   job that would finish before its 1-min limit on a fast machine is paused (SIGSTOP) a few
   epochs before its end, so that the limit always hits it.

The cluster must be up (tests/slurm/local-cluster.sh up; .ci/run does it): otherwise these tests
fail, naming the fix. Every Snakemake call has a timeout and cancels its own SLURM jobs on the
way out; SLURM job ids are matched by working directory and log path, never by number alone.
The whole file takes ~5 minutes on a 2-CPU machine. A whole study through SLURM, every job
checked as SLURM knows it and its results against a local run: tests/slurm/test_gpu_cluster.py.

Wall times and job counts are printed in the terminal summary ("SLURM test measurements")."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from .conftest import (
    assert_same_curve,
    load_tiny,
    local_args,
    read_meta,
    record,
    scontrol_job,
    slurm_args,
    slurm_workflow,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


# The single tune job of tests 1 and 2 (lenet_slurm's only grid point, fold 0) and its files.
RUN = "tiny/lenet_slurm/bn~off/tune/sgd/lr~0.05/seed~1/fold~0"  # config tiny.yaml: results/tiny/
TARGET = [f"results/{RUN}.csv", f"results/{RUN}.json"]
CHECKPOINT = f"checkpoints/{RUN}.ckpt"
TRAIN_LOG = f"logs/{RUN}.log"
# Per-epoch work of that job: a LeNet epoch of a few seconds on one CPU thread.
LONG_TRAIN_SUBSET, LONG_EVAL_SUBSET = 16384, 1024
_EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+) ", re.M)
_RESUMED = re.compile(r"resuming from checkpoint (\S+) after epoch (\d+)")


# ---------------------------------------------------------------------------------------------
# 1 and 2. A tune job killed by SLURM resumes from its checkpoint (it asks for a GPU: tiny.yaml)


@pytest.fixture(scope="module")
def epoch_seconds(fashion_mnist_dir, tmp_path_factory) -> float:
    """Seconds per epoch of the long tune job on this machine, from two 2-epoch `vrdl train` runs
    side by side (the tests run the SLURM job and its local reference side by side too)."""
    base = tmp_path_factory.mktemp("calibrate")
    vrdl = Path(sys.executable).with_name("vrdl")
    procs = []
    for i in range(2):
        cmd = [str(vrdl), "train", "--dataset", "fashion_mnist", "--model", "lenet", "--no-bn",
               "--optimizer", "sgd", "--lr", "0.05", "--epochs", "2", "--batch-size", "32", "--seed", "1",
               "--folds", "2", "--fold", "0", "--train-subset", str(LONG_TRAIN_SUBSET),
               "--eval-subset", str(LONG_EVAL_SUBSET), "--device", "cpu", "--threads", "1",
               "--data-dir", str(fashion_mnist_dir), "--out", str(base / f"run{i}.csv")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for proc in procs:
            assert proc.wait(timeout=300) == 0, "calibration run of vrdl train failed"
    finally:
        for proc in procs:
            proc.kill()
    seconds = 0.05
    for i in range(2):
        wall = pd.read_csv(base / f"run{i}.csv")["wall_s"]
        seconds = max(seconds, float(wall.iloc[2] - wall.iloc[1]))
    record(f"calibration: one epoch of the long tune job takes {seconds:.2f} s here (2 at a time)")
    return seconds


def long_tune_config(data_dir: Path, epochs: int) -> dict:
    """tiny.yaml with a longer LeNet run (prepared data shared, no MetaInit)."""
    config = load_tiny()
    config["data"]["dir"] = str(data_dir)
    config["studies"]["lenet_slurm"].update(
        epochs=epochs, train_subset=LONG_TRAIN_SUBSET, eval_subset=LONG_EVAL_SUBSET)
    config["metainit"] = None
    return config


def start_pair(tmp_path, snakemake_runs, config, slurm_extra=()):
    """The single tune job through SLURM and, beside it on the other CPU, uninterrupted locally."""
    local_dir = slurm_workflow(tmp_path / "local", config)
    slurm_dir = slurm_workflow(tmp_path / "slurm", config)
    # targets first: --configfile and --set-resources take several values
    reference = snakemake_runs(local_dir, [*TARGET, *local_args(cores=1)], "snakemake")
    run = snakemake_runs(slurm_dir, [*TARGET, *slurm_extra, *slurm_args()], "snakemake")
    return run, reference


def epochs_logged(text: str) -> list[int]:
    return [int(n) for n, _ in _EPOCH_LINE.findall(text)]


def check_resumed(run, reference, epochs: int, min_epoch: int = 1) -> int:
    """The job's final log says it resumed from its checkpoint after epoch N (min_epoch <= N <
    epochs) and trained only epochs N+1.., the checkpoint is gone, the CSV and JSON equal the
    uninterrupted run's. Returns N."""
    log = (run.workdir / TRAIN_LOG).read_text()
    resumed = _RESUMED.findall(log)
    assert resumed, f"{TRAIN_LOG} does not say it resumed:\n{log[-3000:]}"
    path, after = resumed[-1][0], int(resumed[-1][1])
    assert path == CHECKPOINT
    assert min_epoch <= after < epochs, (after, epochs)
    assert epochs_logged(log) == list(range(after + 1, epochs + 1)), log[-3000:]
    assert not (run.workdir / CHECKPOINT).exists(), "checkpoint left behind after success"
    assert_same_curve(run.workdir / TARGET[0], reference.workdir / TARGET[0])
    assert len(pd.read_csv(run.workdir / TARGET[0])) == epochs + 1
    assert read_meta(run.workdir / TARGET[1]) == read_meta(reference.workdir / TARGET[1])
    ref_log = (reference.workdir / TRAIN_LOG).read_text()
    assert "resuming" not in ref_log and epochs_logged(ref_log) == list(range(1, epochs + 1))
    return after


def tune_submissions(run):
    subs = [s for s in run.submissions() if s.rule == "tune"]
    for sub in subs:
        info = scontrol_job(sub.slurm_id)
        assert info.get("WorkDir") == str(run.workdir), (sub, info)  # ours, not a reused id
    return subs


def test_scancelled_tune_job_resumes_from_its_checkpoint(slurm_cluster, snakemake_runs, fashion_mnist_dir,
                                                         epoch_seconds, tmp_path):
    epochs = min(max(math.ceil(25 / epoch_seconds), 5), 200)  # ~25 s of training
    run, reference = start_pair(tmp_path, snakemake_runs, long_tune_config(fashion_mnist_dir, epochs))
    checkpoint, log = run.workdir / CHECKPOINT, run.workdir / TRAIN_LOG
    deadline = time.monotonic() + 300  # submission, queueing, start-up, first epoch
    while not checkpoint.exists():
        assert run.running(), f"Snakemake ended before the first checkpoint:\n{run.output[-4000:]}"
        assert time.monotonic() < deadline, f"no checkpoint after 300 s:\n{run.output[-4000:]}"
        time.sleep(0.2)
    subs = tune_submissions(run)
    assert len(subs) == 1, subs
    victim = subs[0].slurm_id
    done_before = max(epochs_logged(log.read_text()), default=0)
    assert scontrol_job(victim)["JobState"] == "RUNNING"
    subprocess.run(["scancel", victim], check=True, timeout=30)
    assert done_before < epochs, "the job finished before it could be cancelled"

    run.wait(timeout=600)
    reference.wait(timeout=600)
    subs = tune_submissions(run)
    assert len(subs) == 2, subs
    assert subs[0].slurm_id == victim
    assert scontrol_job(victim)["JobState"] == "CANCELLED"
    assert f"SLURM-job '{victim}' failed, SLURM status is: 'CANCELLED'" in run.output
    retry = scontrol_job(subs[1].slurm_id)
    assert retry["JobState"] == "COMPLETED"
    assert "--attempt 2 " in subs[1].log.read_text()
    # epoch k's checkpoint is written just after its log line: at the cancel, k - 1 was durable
    after = check_resumed(run, reference, epochs, min_epoch=max(done_before - 1, 1))
    record(f"scancel: tune job ({epochs} epochs x {epoch_seconds:.1f} s) cancelled after epoch "
           f"{done_before}, SLURM job {victim} -> retry {subs[1].slurm_id} resumed after epoch {after}; "
           f"{run.wall_s:.0f} s wall")


def job_training_pids(slurm_id: str, workdir: Path) -> list[int]:
    """The `vrdl train` processes of SLURM job slurm_id in workdir (by argv, cwd and environment)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"train" not in argv or b"--checkpoint" not in argv:
                continue
            if os.readlink(proc / "cwd") != str(workdir):
                continue
            if f"SLURM_JOB_ID={slurm_id}".encode() not in (proc / "environ").read_bytes().split(b"\0"):
                continue
        except OSError:
            continue
        pids.append(int(proc.name))
    return pids


def test_tune_job_over_its_time_limit_resumes_from_its_checkpoint(slurm_cluster, snakemake_runs,
                                                                  fashion_mnist_dir, epoch_seconds,
                                                                  tmp_path):
    """runtime = attempt minutes: SLURM ends attempt 1 after 60-90 s (its limit plus up to one
    30-s sweep of slurmctld) with TIMEOUT; attempt 2 (2 min) resumes and finishes (on a loaded
    machine attempt 3, 3 min). The run gets ~75 s of training (calibrated). So that the test does
    not depend on this machine's speed, a job about to finish before its limit is paused (SIGSTOP
    of its `vrdl train`, 3 epochs before the end) and so still hits the limit; a slow one hits it
    by itself."""
    epochs = min(max(math.ceil(75 / epoch_seconds), 10), 5000)
    run, reference = start_pair(
        tmp_path, snakemake_runs, long_tune_config(fashion_mnist_dir, epochs),
        slurm_extra=["--set-resources", "tune:runtime=attempt", "tune:mem_mb=2000", "tune:cpus_per_task=1",
                     "tune:gpu=0"])
    log = run.workdir / TRAIN_LOG
    paused: list[int] = []
    try:
        deadline = time.monotonic() + 400
        while run.running() and time.monotonic() < deadline:
            subs = tune_submissions(run)
            if len(subs) > 1:
                break  # attempt 1 is over
            if subs and not paused and log.exists() and max(epochs_logged(log.read_text()), default=0) >= epochs - 3:
                if scontrol_job(subs[0].slurm_id).get("JobState") == "RUNNING":
                    paused = job_training_pids(subs[0].slurm_id, run.workdir)
                    assert paused, "cannot find the vrdl train process of the SLURM job"
                    for pid in paused:
                        os.kill(pid, signal.SIGSTOP)
            time.sleep(0.2)
        run.wait(timeout=1200)
    finally:
        for pid in paused:  # the time limit has killed them; in case it has not (test failure)
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    reference.wait(timeout=600)
    subs = tune_submissions(run)
    assert len(subs) >= 2, f"the job was not retried (it should have hit its 1-min limit):\n{run.output[-4000:]}"
    first, last = scontrol_job(subs[0].slurm_id), scontrol_job(subs[-1].slurm_id)
    assert first["JobState"] == "TIMEOUT", first
    # runtime = attempt: 1, 2, 3 minutes
    assert [scontrol_job(s.slurm_id)["TimeLimit"] for s in subs] == [f"00:0{i}:00" for i in range(1, len(subs) + 1)]
    assert "DUE TO TIME LIMIT" in subs[0].log.read_text()
    assert f"SLURM-job '{subs[0].slurm_id}' failed, SLURM status is: 'TIMEOUT'" in run.output
    assert last["JobState"] == "COMPLETED", last
    assert f"--attempt {len(subs)} " in subs[-1].log.read_text()
    after = check_resumed(run, reference, epochs)
    record(f"time limit: tune job ({epochs} epochs x {epoch_seconds:.1f} s) with runtime=attempt min: "
           f"{len(subs)} SLURM jobs ({', '.join(scontrol_job(s.slurm_id)['JobState'] for s in subs)}), "
           f"{'paused before its end' if paused else 'not paused'}, last resumed after epoch {after}; "
           f"{run.wall_s:.0f} s wall")
