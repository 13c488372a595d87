"""Helpers for the SLURM tests: the local test cluster (tests/slurm/local-cluster.sh), copies of
the workflow, Snakemake runs through profiles/slurm + profiles/slurm-test that can never hang
(timeouts; on the way out they cancel the SLURM jobs they submitted), which SLURM job ran which
Snakemake job, and output comparisons against a local run.

The tests need the cluster: when it is not reachable they FAIL (never skip), naming the fix."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.workflow.conftest import REPO, copy_workflow

HERE = Path(__file__).resolve().parent
TINY_CONFIG = HERE / "tiny.yaml"
CLUSTER_SCRIPT = HERE / "local-cluster.sh"
PARTITION = os.environ.get("SLURM_TEST_PARTITION", "debug")
# profiles/slurm as the user profile, the GPU-less test override as the workflow profile (it
# wins key by key; see profiles/slurm-test/config.yaml).
PROFILE_ARGS = ["--profile", "profiles/slurm", "--workflow-profile", "profiles/slurm-test"]
SLURM_COMMANDS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
# Measurements the lead needs for the closing note; printed in the terminal summary.
MEASUREMENTS: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.section("SLURM test measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)


def record(line: str) -> None:
    MEASUREMENTS.append(line)
    print(line)


# ---------------------------------------------------------------------------------------------
# The cluster


def _cmd(*args: str, timeout: float = 30, check: bool = True) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _cluster_problem() -> str | None:
    missing = [c for c in SLURM_COMMANDS if shutil.which(c) is None]
    if missing:
        return f"SLURM client commands missing: {', '.join(missing)} (apt-get install -y slurm-wlm munge)"
    try:
        ping = _cmd("scontrol", "ping", timeout=15, check=False)
        if "UP" not in ping:
            return f"slurmctld does not answer `scontrol ping`: {ping.strip() or '(no output)'}"
        states = _cmd("sinfo", "-h", "-p", PARTITION, "-o", "%a %T").split()
    except (subprocess.TimeoutExpired, RuntimeError) as err:
        return f"SLURM does not answer: {err}"
    if not states:
        return f"partition {PARTITION!r} does not exist (sinfo -p {PARTITION})"
    if states[0] != "up":
        return f"partition {PARTITION!r} is {states[0]}"
    usable = ("idle", "mixed", "allocated", "completing")
    if not any(state.rstrip("*~#!%$@^-").startswith(usable) for state in states[1:]):
        return f"no usable node in partition {PARTITION!r} (states: {' '.join(states[1:])})"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The partition of the local SLURM test cluster; fails (not skips) when it is unreachable."""
    problem = _cluster_problem()
    if problem:
        pytest.fail(
            f"the SLURM test cluster is not reachable: {problem}.\n"
            f"Bring it up first (as root): bash {CLUSTER_SCRIPT.relative_to(REPO)} up   "
            f"(.ci/run does this before pytest)",
            pytrace=False,
        )
    return PARTITION


# ---------------------------------------------------------------------------------------------
# SLURM jobs


def scontrol_job(jobid: str) -> dict[str, str]:
    """`scontrol show job -d -o ID` as {key: value} (JOB_GRES: the GRES it was given); {} when
    SLURM no longer knows the id."""
    result = subprocess.run(["scontrol", "show", "job", "-d", "-o", str(jobid)], capture_output=True,
                            text=True, timeout=30)
    if result.returncode != 0:
        return {}
    return dict(re.findall(r"(\S+?)=(\S*)", result.stdout))


@dataclass
class Submission:
    """One sbatch of the Snakemake executor: Snakemake job id (a number, or a uuid for a group
    job), SLURM job id, SLURM log path; `rule` is the rule's name, or "group" for a group job."""

    job: str
    slurm_id: str
    log: Path
    rule: str = field(init=False)

    def __post_init__(self):
        match = re.search(r"/slurm_logs/(?:rule_([^/]+)|(group)_[^/]+)/", str(self.log))
        self.rule = (match.group(1) or match.group(2)) if match else "?"


_SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.?$", re.M)


def submissions(output: str) -> list[Submission]:
    return [Submission(j, s, Path(p)) for j, s, p in _SUBMITTED.findall(output)]


# ---------------------------------------------------------------------------------------------
# Workflow copies and Snakemake runs


def slurm_workflow(dest: Path, config: dict | None = None) -> Path:
    """A copy of the workflow with both SLURM profiles and a config at dest/tiny.yaml."""
    copy_workflow(dest)
    for profile in ("slurm", "slurm-test"):
        shutil.copytree(REPO / "profiles" / profile, dest / "profiles" / profile)
    if config is None:
        shutil.copy2(TINY_CONFIG, dest / "tiny.yaml")
    else:
        (dest / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def load_tiny() -> dict:
    return yaml.safe_load(TINY_CONFIG.read_text())


def _environment() -> dict[str, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    # the profile's partition/account knobs must not leak into the test cluster's submissions,
    # nor a surrounding SLURM allocation into the plugin's view of the world
    for key in list(env):
        if key.startswith("VRDL_SLURM_") or key in ("SLURM_JOB_ID", "SLURM_JOBID"):
            del env[key]
    return env


class SnakemakeRun:
    """Snakemake in the background, its output in workdir/NAME.log; never outlives `wait`."""

    def __init__(self, workdir: Path, args: list[str], name: str, env: dict[str, str] | None = None):
        self.workdir = workdir
        self.cmd = [sys.executable, "-m", "snakemake", *args]
        self.log_path = workdir / f"{name}.log"
        self.started = time.monotonic()
        self.wall_s: float | None = None
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.cmd, cwd=workdir, env={**_environment(), **(env or {})}, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def submissions(self) -> list[Submission]:
        return submissions(self.output)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float, check: bool = True) -> int:
        try:
            rc = self.proc.wait(timeout=max(1.0, timeout - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"{' '.join(self.cmd)} did not finish within {timeout:.0f} s (killed; its SLURM "
                f"jobs cancelled); squeue:\n{_cmd('squeue', check=False)}\n"
                f"last output:\n{self.output[-6000:]}"
            ) from None
        finally:
            self._log.close()
        self.wall_s = time.monotonic() - self.started
        if check and rc != 0:
            raise AssertionError(f"{' '.join(self.cmd)} failed ({rc}):\n{self.output[-8000:]}")
        return rc

    def stop(self) -> None:
        """Kill Snakemake and cancel the SLURM jobs it submitted (only ours: checked by WorkDir)."""
        if self.running():
            for sig in (signal.SIGINT, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=20)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.cancel_own_jobs()

    def cancel_own_jobs(self) -> None:
        for sub in submissions(self.output):
            info = scontrol_job(sub.slurm_id)
            if info.get("WorkDir") == str(self.workdir) and info.get("JobState") in (
                "PENDING", "RUNNING", "CONFIGURING", "SUSPENDED", "REQUEUED", "COMPLETING"
            ):
                subprocess.run(["scancel", sub.slurm_id], capture_output=True, timeout=30)


@pytest.fixture
def snakemake_runs():
    """Start Snakemake runs with start(workdir, args, name); all are stopped at teardown."""
    runs: list[SnakemakeRun] = []

    def start(workdir: Path, args: list[str], name: str) -> SnakemakeRun:
        run = SnakemakeRun(workdir, args, name)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


def slurm_args(configfile: str = "tiny.yaml") -> list[str]:
    return [*PROFILE_ARGS, "--configfile", configfile]


def local_args(configfile: str = "tiny.yaml", cores: int = 2) -> list[str]:
    return ["--workflow-profile", "none", "--cores", str(cores), "--configfile", configfile]


# ---------------------------------------------------------------------------------------------
# Outputs


def read_curve(path: Path) -> pd.DataFrame:
    """A run CSV without its wall-clock column (the only one that may differ between runs)."""
    return pd.read_csv(path).drop(columns=["wall_s"], errors="ignore")  # a variance CSV has none


def assert_same_curve(actual: Path, expected: Path) -> None:
    a, e = read_curve(actual), read_curve(expected)
    assert list(a.columns) == list(e.columns), actual
    pd.testing.assert_frame_equal(a, e, check_exact=True, obj=str(actual))


# vrdl_path: each copy its own; the CSV hashes cover wall_s; visible_devices: the GPU SLURM gave
_VOLATILE_JSON = re.compile(r"wall|time|host|date|vrdl_path|^(csv|variance|json)_sha256$|^visible_devices$",
                            re.I)


def read_meta(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if not _VOLATILE_JSON.search(k)}


def assert_same_results(actual_dir: Path, expected_dir: Path) -> dict[str, int]:
    """results/ of two runs of the same config agree: same files; CSV curves equal apart from
    wall_s; JSON run records equal (hyperparameters included); TSV tables equal; figures and the
    report present. Returns how many files of each kind were compared."""
    def files(root):
        return {p.relative_to(root) for p in (root / "results").rglob("*") if p.is_file()}

    actual, expected = files(actual_dir), files(expected_dir)
    assert actual == expected, f"different result files: only SLURM {sorted(actual - expected)}, " \
                               f"only local {sorted(expected - actual)}"
    counts: dict[str, int] = {}
    for rel in sorted(expected):
        a, e = actual_dir / rel, expected_dir / rel
        kind = rel.suffix
        if kind == ".csv":
            assert_same_curve(a, e)
        elif kind == ".json":
            meta_a, meta_e = read_meta(a), read_meta(e)
            assert meta_a["hparams"] == meta_e["hparams"], rel
            assert meta_a == meta_e, rel
        elif kind == ".tsv":  # the time-to-target table has the runs' wall times: left out
            pd.testing.assert_frame_equal(pd.read_csv(a, sep="\t").drop(columns="wall_s", errors="ignore"),
                                          pd.read_csv(e, sep="\t").drop(columns="wall_s", errors="ignore"),
                                          check_exact=True, obj=str(rel))
        elif kind == ".parquet":  # the tidy tables
            pd.testing.assert_frame_equal(pd.read_parquet(a).drop(columns="wall_s"),
                                          pd.read_parquet(e).drop(columns="wall_s"), check_exact=True, obj=str(rel))
        else:
            assert a.stat().st_size > 0, rel
        counts[kind] = counts.get(kind, 0) + 1
    return counts
