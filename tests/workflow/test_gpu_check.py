"""The offline GPU check (benchmarks/gpu/run.sh) in its CPU mode, so that it works whenever a
GPU is lent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vrdl.config import load_config
from vrdl.optim import registry
from vrdl.plan import Plan

REPO = Path(__file__).resolve().parents[2]
GPU_CHECK = REPO / "benchmarks" / "gpu"
OPTIMIZERS = set(registry.OPTIMIZERS)
# what model_speed.py measures (fp32 and, on a GPU, bf16): model, BN
MEASURED = {("lenet", "off"), ("resnet18", "on"), ("resnet18", "off"), ("resnet101", "on"), ("resnet101", "off")}


def import_check_module(name):
    sys.path.insert(0, str(GPU_CHECK))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(GPU_CHECK))


def test_the_check_compares_every_registered_optimizer():
    """correctness.py and both workflow slices cover exactly the registry's optimizers, so a new
    optimizer is compared on CUDA against the CPU without editing a list."""
    correctness = import_check_module("correctness")
    assert correctness.optimizers() == list(registry.OPTIMIZERS)
    for config in ("gpu-slice.yaml", "quick-slice.yaml"):
        plan = Plan(load_config(GPU_CHECK / config))
        assert {o for study in plan.config["studies"].values() for o in study["optimizers"]} == OPTIMIZERS, config


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
        ("lenet", o) for o in OPTIMIZERS}
    assert all(b["precision"] == "bf16" for b in summary["correctness"]["bf16"])
    assert all(b["headline"] is not None for b in summary["benchmarks"].values())
    assert {name.split("/")[1] for name in summary["slice"]["final"]} == OPTIMIZERS
    assert {name.split("/")[1] for name, e in summary["slice"]["tune"].items() if e["stacked"]} == {
        name for name in OPTIMIZERS if registry.get(name).stacked}
    assert summary["study_cost"]["runs"] == {"tune": 196, "final": 17, "metainit": 2}
    # --quick measures narrow ResNets at batch 8: no rate of the paper's shapes, so no hours
    assert summary["study_cost"]["hours"] == {} and len(summary["study_cost"]["missing_rates"]) == 5

    costs = json.loads((out / "per-epoch-costs.json").read_text())
    assert set(costs) == {"device", "measured_by", "rates"}
    assert costs["measured_by"].startswith("benchmarks/gpu/run.sh")
    fp32 = [r for r in costs["rates"] if r["precision"] == "fp32"]
    assert {(r["model"], r["bn"]) for r in fp32} == MEASURED
    assert all(r["device"] == "cpu" and r["batch_size"] == 8 and r["seconds_per_sample_gradient"] > 0 for r in fp32)
    assert {r["width"] for r in fp32 if r["model"] != "lenet"} == {1 / 16}
    assert {r["input"] for r in fp32} == {"1x28x28", "3x32x32"}
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
    lenet = dict(model="lenet", bn="off", width=1.0, input="1x28x28", batch_size=32, device="cuda")
    speed = dict(device="NVIDIA H100", torch="2.11.0", quick=False, data="synthetic", results=[
        dict(model="lenet", precision="fp32", channels_last=False, compile=False, step_ms=1.0, epoch_s=2.0,
             warmup_s=0.1, seconds_per_sample=3e-5, shape=dict(lenet, precision="fp32")),
        dict(model="lenet", precision="bf16", channels_last=True, compile=False, step_ms=5.0, epoch_s=2.0,
             warmup_s=0.1, seconds_per_sample=4e-5, shape=dict(lenet, precision="bf16"))])
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
    # channels-last runs are no cost figure (the study's runs do not use it)
    assert costs["rates"] == [dict(lenet, precision="fp32", seconds_per_sample_gradient=3e-5)]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["torch"] == "2.11.0+cu130"
    assert summary["study_cost"]["hours"]["tune"] > 0  # the paper's LeNet on MNIST: the measured shape
    assert len(summary["study_cost"]["missing_rates"]) == 4  # its ResNets: no rate of their shape
