"""One GPU per job, without GPUs: a real Snakemake run of 9 training jobs (8 `tune`, 1 stacked
tune grid) on a fake list of 4 devices (`compute.gpus: 4`; torch sees none, so they train on the
CPU), `--resources gpu=4 --cores 8`. Each job's log records the slot it held and when."""

import contextlib
import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from vrdl.gpu_slots import try_acquire

from .conftest import FASHION_MNIST, copy_workflow, snakemake, write_config

STUDY = {
    "dataset": "fashion_mnist",
    "model": "logreg",
    "bn": ["off"],
    "selection": {"folds": 2, "seeds": [1]},
    "epochs": 1,
    "batch_size": 64,
    "seeds": [1],
    "train_subset": 256,
    "eval_subset": 128,
}
CONFIG = {
    "data": {"dir": None, "sources": {"fashion_mnist": str(FASHION_MNIST)}},
    "compute": {"device": "auto", "threads": 1, "gpus_per_job": 1, "gpus": 4},
    "studies": {
        # 2 optimizers x 2 points x 2 folds: 8 tune jobs
        "slots": {**STUDY, "optimizers": {"sgd": {"grid": {"lr": [0.01, 0.1]}},
                                          "adam": {"grid": {"lr": [1.0e-3, 1.0e-2]}}}},
        # its 4 runs in one `vrdl train-grid` job
        "slots_stacked": {**STUDY, "stacked": True, "optimizers": {"sgd": {"grid": {"lr": [0.01, 0.1]}}}},
    },
}
HELD = re.compile(r"^gpu slot: CUDA_VISIBLE_DEVICES=(\S+) held from (\S+) ", re.M)
RELEASED = re.compile(r"^gpu slot: CUDA_VISIBLE_DEVICES=(\S+) released at (\S+)$", re.M)


def slot_of(log: Path) -> tuple[str, datetime, datetime]:
    """(device, held from, released at) from a training job's log."""
    text = log.read_text()
    held, released = HELD.findall(text), RELEASED.findall(text)
    assert len(held) == 1 and len(released) == 1, f"{log}: one slot held and released expected:\n{text}"
    assert held[0][0] == released[0][0]
    return held[0][0], datetime.fromisoformat(held[0][1]), datetime.fromisoformat(released[0][1])


@pytest.fixture
def slot_run(tmp_path, data_dir, monkeypatch):
    if not FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    locks = tmp_path / "locks"
    monkeypatch.setenv("VRDL_GPU_LOCK_DIR", str(locks))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    workdir = copy_workflow(tmp_path / "wf")
    config = dict(CONFIG, data=dict(CONFIG["data"], dir=str(data_dir)))
    configfile = write_config(workdir / "config" / "slots.yaml", config)
    result = snakemake(workdir, "--until", "select", "--cores", "8", "--resources", "gpu=4", configfile=configfile)
    return workdir, locks, result.stdout


def test_concurrent_jobs_each_hold_their_own_gpu(slot_run):
    workdir, locks, output = slot_run
    logs = [log for study in ("slots", "slots_stacked")
            for log in sorted((workdir / "logs" / "slots" / study).rglob("*.log"))]  # config slots.yaml: logs/slots/
    assert len(logs) == 9, output[-3000:]
    slots = {log: slot_of(log) for log in logs}

    by_device = defaultdict(list)
    for device, start, end in slots.values():
        assert start < end
        by_device[device].append((start, end))
    assert sorted(by_device) == ["0", "1", "2", "3"], "all four slots used"
    for device, spans in by_device.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end <= start, f"two jobs at once on slot {device}: {spans}"
    # The jobs did overlap in time (on different slots), or this test would prove nothing.
    spans = sorted((start, end) for _, start, end in slots.values())
    assert any(start < end for (_, end), (start, _) in zip(spans, spans[1:])), spans

    # RUN.json: the slot of the tune job that wrote it, and the CPU (torch sees no GPU here).
    for log, (device, _, _) in slots.items():
        if log.name.endswith(".stacked.log"):
            continue
        run = json.loads((workdir / "results" / log.relative_to(workdir / "logs")).with_suffix(".json").read_text())
        assert run["visible_devices"] == device and run["device"] == "cpu"
    stacked = json.loads(next((workdir / "results" / "slots" / "slots_stacked").rglob("*.json")).read_text())
    assert stacked["visible_devices"] in by_device

    # Every slot is free again once Snakemake is done.
    assert try_acquire(["0", "1", "2", "3"], 4, locks) is not None


@pytest.mark.parametrize("fault", ["garbage CUDA_VISIBLE_DEVICES", "read-only lock directory"])
def test_a_bad_device_list_or_lock_directory_fails_the_job_in_one_line(tmp_path, data_dir, monkeypatch, fault):
    """The job's error names the variable or the directory and the fix; no traceback, nothing trained."""
    from tests.unit.test_integrity import read_only

    if not FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    locks = tmp_path / "locks"
    locks.mkdir()
    monkeypatch.setenv("VRDL_GPU_LOCK_DIR", str(locks))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    compute = dict(CONFIG["compute"])
    if fault.startswith("garbage"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "garbage")
        del compute["gpus"]
        expected, fix = "CUDA_VISIBLE_DEVICES=garbage: 'garbage' is not a CUDA device", "e.g. CUDA_VISIBLE_DEVICES=0,1"
    else:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        expected, fix = f"cannot use GPU slot lock {locks}/gpu-0.lock: ", "set VRDL_GPU_LOCK_DIR to a writable"
    workdir = copy_workflow(tmp_path / "wf")
    config = dict(CONFIG, compute=compute, data=dict(CONFIG["data"], dir=str(data_dir)),
                  studies={"slots": {**STUDY, "optimizers": {"sgd": {"grid": {"lr": [0.1]}}}}})
    configfile = write_config(workdir / "config" / "slots.yaml", config)
    with read_only(locks) if fault.startswith("read-only") else contextlib.nullcontext():
        result = snakemake(workdir, "--until", "select", "--resources", "gpu=1", configfile=configfile, check=False)
    assert result.returncode != 0
    assert expected in result.stdout and fix in result.stdout, result.stdout[-3000:]
    assert "Traceback" not in result.stdout and "SlotError" not in result.stdout
    assert not list((workdir / "results").rglob("*.csv"))
