"""What the paper's study asks a SLURM cluster for, read from `snakemake -n --workflow-profile
profiles/slurm` (the profile as shipped, partitions and account from its environment variables):
every training job asks for one GPU in the GPU partition, with its memory and time, also the
stacked LeNet grids of `compute.device: cuda`; every other job is a localrule. The real
submissions are in tests/slurm/test_gpu_cluster.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from .conftest import REPO, copy_workflow

CLUSTER_ENV = {"VRDL_SLURM_GPU_PARTITION": "gpu", "VRDL_SLURM_CPU_PARTITION": "cpu", "VRDL_SLURM_ACCOUNT": "acc"}
TRAINING = re.compile(r"^(tune|tune_stacked_\w+|final|metainit|convex|ablation)$")
# runtime per run on one GPU (minutes, attempt 1) and memory, by the study's model
EXPECTED = {"lenet": (120, 8000), "resnet18": (720, 16000), "resnet101": (1440, 16000)}


def local_rules() -> set[str]:
    """The `localrules:` of the Snakefile and of every rule file (a side study names its figure's)."""
    sources = [REPO / "workflow" / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]
    blocks = [block for source in sources
              for block in re.findall(r"^localrules:\n((?:    \w+,?\n)+)", source.read_text(), re.M)]
    return {rule for block in blocks for rule in re.findall(r"\w+", block)}


def fields(line: str) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in line.split(", "))


def dry_run_jobs(workdir, *configfiles) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(rule, wildcards, resources) of every job of a dry run through profiles/slurm."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--workflow-profile", "profiles/slurm",
           "--configfile", *configfiles]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **CLUSTER_ENV)
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = []
    for block in re.split(r"\n(?=(?:rule|checkpoint) \w+:\n)", result.stdout):
        head = re.match(r"(?:rule|checkpoint) (\w+):\n", block)
        wildcards = re.search(r"^    wildcards: (.*)$", block, re.M)
        resources = re.search(r"^    resources: (.*)$", block, re.M)
        if head and head.group(1) != "all":
            jobs.append((head.group(1), fields(wildcards.group(1)) if wildcards else {}, fields(resources.group(1))))
    return jobs


@pytest.fixture(scope="module")
def paper_workdir(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("cluster"))
    shutil.copytree(REPO / "profiles" / "slurm", workdir / "profiles" / "slurm")
    (workdir / "cuda.yaml").write_text(yaml.safe_dump({"compute": {"device": "cuda"}}))
    return workdir


@pytest.mark.parametrize("configfiles", [["config/config.yaml"], ["config/config.yaml", "cuda.yaml"]],
                         ids=["paper", "paper-cuda-stacked"])
def test_every_training_job_asks_for_a_gpu_and_nothing_else_queues(paper_workdir, configfiles):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    jobs = dry_run_jobs(paper_workdir, *configfiles)
    training = [job for job in jobs if TRAINING.match(job[0])]
    others = {rule for rule, _, _ in jobs if not TRAINING.match(rule)}
    assert others == local_rules() - {"figure_convex", "figure_ablation"}  # the paper config has neither
    stacked = [rule for rule, _, _ in training if rule.startswith("tune_stacked_")]
    assert bool(stacked) == ("cuda.yaml" in configfiles)  # cuda stacks the LeNet grids
    assert len(training) > 50
    for rule, wildcards, res in training:
        assert res["gpu"] == "1" and res["slurm_partition"] == "gpu" and res["slurm_account"] == "acc", (rule, res)
        assert res["cpus_per_task"] == str(config["compute"]["threads"]), (rule, res)
        study = wildcards.get("study") or next((s for s in config["studies"] if s in rule), None)
        model = config["metainit"]["model"] if rule == "metainit" else config["studies"][study]["model"]
        assert (int(res["runtime"]), int(res["mem_mb"])) == EXPECTED[model], (rule, wildcards, res)
