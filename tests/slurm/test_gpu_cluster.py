"""The workflow on a SLURM cluster with GPUs: the test cluster's node advertises two as GRES
(tests/slurm/local-cluster.sh), with `gpu` and `cpu` partitions. The study runs through
profiles/slurm exactly as shipped: partitions and account from its environment variables; only
what this cluster lacks (accounting, so job states come from squeue) and test speed (polling,
no NFS lag, logs kept) are set on the command line.

tests/slurm/gpu-tiny.yaml has every kind of training job (tune, a stacked grid, final, metainit,
convex, ablation), each asking for one GPU while it trains on the CPU (compute.device: cpu), and
its tune runs grouped two per cluster job (cluster.group_runs). The test shows:

1. every training job asked SLURM for one GPU in the GPU partition under the account, and got
   one; no other job reached SLURM: the localrules ran in the submitting Snakemake;
2. training jobs that ran at the same time saw different CUDA_VISIBLE_DEVICES (their RUN.json);
3. grouped tune runs: one SLURM job per group (fewer than runs), each running its runs one after
   the other on one GPU and then the group's check; every result equal to an ungrouped local run.

Each SLURM job is checked as SLURM knows it (working directory, output log, state), matched by
working directory and log path, never by number alone.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from tests.workflow.conftest import executed_jobs

from .conftest import HERE, SnakemakeRun, assert_same_results, local_args, record, scontrol_job, slurm_workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CONFIG = HERE / "gpu-tiny.yaml"
ACCOUNT = "vrdltest"  # no accounting here: SLURM takes any account name, and the job records it
CLUSTER_ENV = {"VRDL_SLURM_GPU_PARTITION": "gpu", "VRDL_SLURM_CPU_PARTITION": "cpu", "VRDL_SLURM_ACCOUNT": ACCOUNT}
PROFILE_AS_SHIPPED = ["--workflow-profile", "profiles/slurm", "--configfile", "tiny.yaml",  # gpu-tiny.yaml in the copy
                      "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
                      "--latency-wait", "5", "--slurm-keep-successful-logs"]
TRAINING = re.compile(r"^(tune|tune_stacked_\w+|final|metainit|convex|ablation)$")
LOCAL_RULES = {"prepare_data", "select", "figure_tuning", "figure_final", "figure_target", "figure_metainit",
               "figure_convex", "figure_ablation", "tables", "report"}
_OUTPUT = re.compile(r"^\s+output: (.+)$", re.M)


@pytest.fixture(scope="module")
def gpu_runs(slurm_cluster, tmp_path_factory):
    """gpu-tiny.yaml locally (groups do nothing there) and, at the same time, through SLURM."""
    base = tmp_path_factory.mktemp("gpu")
    config = yaml.safe_load(CONFIG.read_text())
    local = SnakemakeRun(slurm_workflow(base / "local", config), local_args("tiny.yaml", cores=1), "snakemake")
    slurm = SnakemakeRun(slurm_workflow(base / "slurm", config), PROFILE_AS_SHIPPED, "snakemake", env=CLUSTER_ENV)
    try:
        local.wait(timeout=900)
        slurm.wait(timeout=900)
    finally:
        for run in (local, slurm):
            run.stop()
    subs = slurm.submissions()
    per_rule = ", ".join(f"{rule} {n}" for rule, n in sorted(Counter(s.rule for s in subs).items()))
    record(f"gpu-tiny.yaml through profiles/slurm (2-CPU node, 2 GPUs as GRES): {slurm.wall_s:.0f} s wall, "
           f"{len(subs)} SLURM jobs ({per_rule}); locally {local.wall_s:.0f} s")
    return local, slurm


def jobs_inside(sub) -> list[tuple[str, str]]:
    """(rule, wildcards) of the Snakemake jobs a SLURM job ran, from its log (which shows each job
    twice: as the job's Snakemake schedules it and as its job step runs it)."""
    return sorted({job for job in executed_jobs(sub.log.read_text(errors="replace")) if job[0] != "all"})


def run_records(sub, workdir: Path) -> list[dict]:
    """The RUN.json of every run a SLURM job wrote (its jobs' outputs, from its log)."""
    paths = {p.strip() for line in _OUTPUT.findall(sub.log.read_text(errors="replace")) for p in line.split(",")}
    return [json.loads((workdir / p).read_text()) for p in sorted(paths) if p.endswith(".json")]


def test_every_training_job_got_a_gpu_in_the_gpu_partition(gpu_runs):
    local, slurm = gpu_runs
    subs = slurm.submissions()
    inside = [rule for sub in subs for rule, _ in jobs_inside(sub)]
    # every training job of the (identical) local run ran inside a SLURM job, nothing else did
    # apart from the check that ends each group of tune runs
    local_training = Counter(rule for rule, _ in executed_jobs(local.output) if TRAINING.match(rule))
    assert set(local_training) == {"tune", "final", "metainit", "convex", "ablation",
                                   "tune_stacked_lenet_gpu_sgd_seed1"}
    assert Counter(rule for rule in inside if rule != "tune_group") == local_training
    assert len({s.slurm_id for s in subs}) == len(subs), "a SLURM job id was reported twice"
    assert len({s.job for s in subs}) == len(subs), "a Snakemake job was submitted twice"
    for sub in subs:
        # the log the plugin named, .snakemake/slurm_logs/{rule_RULE,group_...}/[WILDCARDS/]ID.log,
        # is the SLURM job's output, and inside it Snakemake ran the job(s) to the end
        assert sub.log.is_file() and sub.log.name == f"{sub.slurm_id}.log", sub
        assert sub.log.is_relative_to(slurm.workdir / ".snakemake" / "slurm_logs"), sub
        assert "--attempt 1 " in sub.log.read_text(errors="replace"), sub
        info = scontrol_job(sub.slurm_id)
        assert info["StdOut"] == str(sub.log), (sub, info)
        assert info["WorkDir"] == str(slurm.workdir), (sub, info)
        assert info["JobState"] == "COMPLETED", (sub, info)
        assert info["Partition"] == "gpu", (sub, info)
        assert info["Account"] == ACCOUNT, (sub, info)
        assert info["TresPerJob"] == "gres:gpu:1", (sub, info)  # asked for one GPU...
        assert info["JOB_GRES"] == "gpu:1", (sub, info)  # ...and SLURM gave it one
    # the seconds-long jobs ran in Snakemake itself, as localrules
    here = Counter(rule for rule, _ in executed_jobs(slurm.output) if not TRAINING.match(rule) and rule != "all")
    assert set(here) == LOCAL_RULES
    assert here == Counter(rule for rule, _ in executed_jobs(local.output) if rule in LOCAL_RULES)
    for rule in LOCAL_RULES:
        assert f"localrule {rule}:" in slurm.output or f"localcheckpoint {rule}:" in slurm.output, rule


def test_concurrent_training_jobs_saw_different_gpus(gpu_runs):
    _, slurm = gpu_runs
    seen = []  # (start, end, devices of its runs)
    for sub in slurm.submissions():
        info = scontrol_job(sub.slurm_id)
        devices = {meta["visible_devices"] for meta in run_records(sub, slurm.workdir)}
        assert len(devices) == 1 and devices <= {"0", "1"}, (sub, devices)  # one GPU per SLURM job
        seen.append((info["StartTime"], info["EndTime"], devices.pop(), sub.slurm_id))
    overlapping = [(a, b) for a, b in combinations(seen, 2) if a[0] < b[1] and b[0] < a[1]]
    assert overlapping, f"no two training jobs ran at once: {seen}"
    for a, b in overlapping:
        assert a[2] != b[2], f"SLURM jobs {a[3]} and {b[3]} ran at once on GPU {a[2]}"
    record(f"GPU GRES: {len(seen)} training jobs, {len(overlapping)} pairs ran at once, each pair on two GPUs")


def test_grouped_tune_runs_share_a_slurm_job_with_the_results_of_separate_runs(gpu_runs):
    local, slurm = gpu_runs
    groups = [sub for sub in slurm.submissions() if sub.rule == "group"]
    tune_runs = [job for job in executed_jobs(local.output) if job[0] == "tune"]
    assert len(tune_runs) == 4 and len(groups) == 2  # BN on: 2 lrs x 2 folds, two per job
    assert not [sub for sub in slurm.submissions() if sub.rule == "tune"]
    for sub in groups:
        assert Counter(rule for rule, _ in jobs_inside(sub)) == {"tune": 2, "tune_group": 1}
        assert scontrol_job(sub.slurm_id)["TimeLimit"] == "04:05:00"  # 2 x 120 min + the 5-min check
    counts = assert_same_results(slurm.workdir, local.workdir)
    assert counts[".tsv"] == 2 * 2 + 2 + 2  # selected and tuning per BN, each group's check, the report's
    assert counts[".json"] == 15 and counts[".parquet"] == 2 and counts[".html"] == 1
    for path in (slurm.workdir / "logs").rglob("*.log"):
        assert "resuming from checkpoint" not in path.read_text(), path
    assert not list((slurm.workdir / "checkpoints").rglob("*.ckpt"))
