"""The offline GPU check (benchmarks/gpu/run.sh) in its CPU mode, so that it works whenever a
GPU is lent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COST_KEYS = {"lenet", "resnet18/bn~on", "resnet18/bn~off", "resnet101/bn~on", "resnet101/bn~off"}


def offline_prefix() -> list[str]:
    """`unshare -n` (no network) where we may use it (root), else nothing."""
    try:
        ok = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        ok = False
    return ["unshare", "-n"] if ok else []


@pytest.mark.slow
def test_gpu_check_quick_on_cpu_offline(tmp_path):
    cmd = [*offline_prefix(), "bash", str(REPO / "benchmarks" / "gpu" / "run.sh"), "--device", "cpu", "--quick",
           "--bundle", "none", "--python", sys.executable, "--out", str(tmp_path / "out")]
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]

    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert {"check_env", "prepare", "correctness", "data_path", "epoch_time", "vr_overhead", "grid_throughput",
            "model_speed", "slice"} <= set(summary["parts"])
    assert all(p["state"] == "ok" for p in summary["parts"].values()), summary["parts"]
    assert summary["correctness"]["ok"]
    assert {(c["model"], c["optimizer"]) for c in summary["correctness"]["comparisons"]} >= {
        ("lenet", o) for o in ("sgd", "adam", "adagrad", "svrg", "storm")}
    assert all(b["precision"] == "bf16" for b in summary["correctness"]["bf16"])
    assert all(b["headline"] is not None for b in summary["benchmarks"].values())
    assert set(summary["slice"]["final"]) == {"sgd", "adam", "adagrad", "svrg", "storm"}
    assert summary["study_cost"]["runs"] == {"tune": 196, "final": 17, "metainit": 2}

    costs = json.loads((out / "per-epoch-costs.json").read_text())
    assert set(costs) == {"device", "measured_by", "seconds_per_sample_gradient"}
    assert costs["measured_by"].startswith("benchmarks/gpu/run.sh")
    assert set(costs["seconds_per_sample_gradient"]) == COST_KEYS
    assert all(v > 0 for v in costs["seconds_per_sample_gradient"].values())
    md = (out / "summary.md").read_text()
    for heading in ("## Correctness", "### epoch_time", "## Epoch times", "## Workflow slice", "## Cost of"):
        assert heading in md
    assert (out / "logs.tar.gz").stat().st_size > 0


def test_summary_of_a_check_cut_short(tmp_path):
    """A part that timed out and one that never ran: the summary still says what finished, the
    costs file holds the rates measured so far, and the exit status is 1."""
    work = tmp_path / "work"
    (work / "parts").mkdir(parents=True)
    (work / "logs").mkdir()
    (work / "parts" / "status.tsv").write_text("check_env\t0\t3\t30\nmodel_speed\t124\t70\t70\n")
    (work / "logs" / "check_env.log").write_text("torch 2.11.0+cu130, snakemake 9.27.1 (x)\ndevice: NVIDIA H100\n")
    speed = dict(device="NVIDIA H100", torch="2.11.0", quick=False, data="synthetic", results=[
        dict(model="lenet", precision="fp32", channels_last=False, compile=False, step_ms=1.0, epoch_s=2.0,
             warmup_s=0.1, seconds_per_sample=3e-5),
        dict(model="resnet18/bn~on", precision="bf16", channels_last=True, compile=False, step_ms=5.0, epoch_s=2.0,
             warmup_s=0.1, seconds_per_sample=4e-5)])
    (work / "parts" / "model_speed.json").write_text(json.dumps(speed))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu" / "summary.py"), "--work", str(work),
                           "--out", str(out), "--device", "cuda", "--config", str(REPO / "config" / "config.yaml")],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    md = (out / "summary.md").read_text()
    assert "# GPU check: NVIDIA H100" in md and "| model_speed | timed out | 70 | 70 |" in md
    costs = json.loads((out / "per-epoch-costs.json").read_text())
    assert costs["device"] == "NVIDIA H100"
    assert costs["seconds_per_sample_gradient"] == {"lenet": 3e-5}  # bf16 runs are no cost figure
    summary = json.loads((out / "summary.json").read_text())
    assert summary["torch"] == "2.11.0+cu130"
    assert summary["study_cost"]["missing_rates"] == sorted(COST_KEYS - {"lenet"})
