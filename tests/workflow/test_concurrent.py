"""Two Snakemake runs on one results directory without Snakemake's lock (--nolock), as two
terminals or two cron jobs might start them (issue 26): the job both want runs once; the second
one's `vrdl train` is refused at start (the run's lock, naming the holder), without touching the
running job's checkpoint or outputs; the first finishes a run that passes the readers. (The
running job's log is lost: the second Snakemake deletes a job's log before it runs the job.)"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from vrdl.runs import read_run

from .conftest import FASHION_MNIST, copy_workflow, snakemake, write_config
from .test_resume import CHECKPOINT, TARGET, one_job_config

pytestmark = pytest.mark.slow


def test_a_second_workflow_on_the_same_job_leaves_the_running_one_alone(tmp_path, fashion_mnist_dir):
    if not FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    workdir = copy_workflow(tmp_path / "wf")
    config = one_job_config(fashion_mnist_dir)
    config["studies"]["lenet_tiny"]["epochs"] = 10
    write_config(workdir / "config" / "one.yaml", config)

    cmd = [sys.executable, "-m", "snakemake", f"{TARGET}.csv", "--workflow-profile", "none", "--cores", "1",
           "--configfile", "config/one.yaml", "--nolock"]
    first = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (workdir / CHECKPOINT).exists():
            assert first.poll() is None and time.monotonic() < deadline, "no checkpoint: make the job longer"
            time.sleep(0.05)
        second = snakemake(workdir, f"{TARGET}.csv", "--nolock", "--configfile", "config/one.yaml", check=False)
    finally:
        output, _ = first.communicate(timeout=300)
    assert second.returncode != 0
    log = workdir / "logs" / f"{TARGET.removeprefix('results/')}.log"  # the second's: Snakemake removed the first's
    assert f"vrdl train: error: --out {TARGET}.csv is being written by another vrdl process (" in log.read_text()
    assert first.returncode == 0, output[-3000:]
    read_run(workdir / f"{TARGET}.csv", heal=False)
    assert not (workdir / CHECKPOINT).exists()
    dry = snakemake(workdir, f"{TARGET}.csv", "-n", "--configfile", "config/one.yaml")
    assert "Nothing to be done" in dry.stdout
