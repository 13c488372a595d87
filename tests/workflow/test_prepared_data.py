"""A prepared data file that is there is used as it is, however old: a data file older than the
scripts (an offline copy made with `cp -p`, an unpacked archive) or scripts with mtimes in the
future no longer make Snakemake run `prepare_data` alone, drop every job after it and exit 0
with "1 of 1 steps (100%) done" and no result (issue 26, first case)."""

from __future__ import annotations

import os
import shutil

import pytest

from vrdl.runs import check_run_files
from vrdl.seals import seal_problem

from .conftest import FASHION_MNIST, copy_workflow, executed_jobs, job_counts, snakemake, write_config

pytestmark = pytest.mark.slow

OLD = 946684800  # 2000-01-01
FUTURE = 1924992000  # 2031-01-01


def small_config(data_dir, offline_dir) -> dict:
    return {
        "name": "small",
        "data": {"dir": str(data_dir), "sources": {"fashion_mnist": str(offline_dir)}},  # no raw files
        "compute": {"device": "cpu", "threads": 1, "gpus_per_job": 0},
        "studies": {"lenet_old": {
            "dataset": "fashion_mnist", "model": "lenet", "bn": ["off"], "selection": {"folds": 2},
            "epochs": 1, "batch_size": 32, "seed": 1, "train_subset": 256, "eval_subset": 256,
            "optimizers": {"sgd": {"grid": {"lr": [0.05]}}},
        }},
    }


@pytest.fixture
def old_data_workflow(tmp_path, fashion_mnist_dir):
    workdir = copy_workflow(tmp_path / "wf")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(fashion_mnist_dir / "fashion_mnist.pt", data)
    os.utime(data / "fashion_mnist.pt", (OLD, OLD))
    write_config(workdir / "config" / "small.yaml", small_config(data, tmp_path / "offline"))
    return workdir, data / "fashion_mnist.pt"


def test_an_old_data_file_offline_runs_the_whole_study(old_data_workflow):
    workdir, data = old_data_workflow
    before = data.read_bytes()
    result = snakemake(workdir, configfile="config/small.yaml")
    rules = [rule for rule, _ in executed_jobs(result.stdout)]
    assert "prepare_data" not in rules
    assert {"tune", "select", "final", "report", "tables", "all"} <= set(rules)
    root = workdir / "results" / "small"
    assert (root / "report.html").stat().st_size > 0 and (root / "runs.parquet").is_file()
    assert data.read_bytes() == before
    again = snakemake(workdir, "-n", configfile="config/small.yaml")
    assert "Nothing to be done" in again.stdout


def test_scripts_in_the_future_still_plan_every_job(old_data_workflow):
    workdir, _ = old_data_workflow
    for path in [*(workdir / "scripts").glob("*.py"), *(workdir / "workflow").rglob("*.smk")]:
        os.utime(path, (FUTURE, FUTURE))
    counts = job_counts(snakemake(workdir, "-n", configfile="config/small.yaml").stdout)
    assert "prepare_data" not in counts
    assert counts["tune"] == 2 and counts["final"] == 1 and counts["all"] == 1


def every_run_passes_the_readers(root):
    runs = [csv for csv in root.rglob("*.csv") if csv.with_suffix(".json").is_file()]
    assert runs
    for csv in runs:
        check_run_files(csv, heal=False)
    assert seal_problem(root / "tables.sha256") is None and (root / "report.html").stat().st_size > 0


def test_an_old_data_file_online_runs_the_study_and_a_newer_copy_reruns_nothing(tmp_path, fashion_mnist_dir):
    """With the raw files there too (online): the old prepared file is used as it is, every target
    is made in the one call; then the file replaced by a newer copy changes nothing."""
    workdir = copy_workflow(tmp_path / "wf")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(fashion_mnist_dir / "fashion_mnist.pt", data)
    os.utime(data / "fashion_mnist.pt", (OLD, OLD))
    write_config(workdir / "config" / "small.yaml", small_config(data, FASHION_MNIST))
    rules = [rule for rule, _ in executed_jobs(snakemake(workdir, configfile="config/small.yaml").stdout)]
    assert "prepare_data" not in rules and {"tune", "select", "final", "tables", "report"} <= set(rules)
    every_run_passes_the_readers(workdir / "results" / "small")

    shutil.copy(fashion_mnist_dir / "fashion_mnist.pt", data / "fashion_mnist.pt.new")  # a new mtime
    os.replace(data / "fashion_mnist.pt.new", data / "fashion_mnist.pt")
    again = snakemake(workdir, configfile="config/small.yaml")
    assert "Nothing to be done" in again.stdout
    every_run_passes_the_readers(workdir / "results" / "small")


def test_a_call_that_ends_without_a_result_exits_non_zero_naming_it(old_data_workflow):
    """The safety net under the above: make prepare_data a job for an existing file again (as it
    was) and force it. Snakemake then drops every job after it, as it did, and would exit 0 with
    "1 of 1 steps (100%) done"; the workflow's onsuccess check makes it fail, naming the results."""
    workdir, data = old_data_workflow
    write_config(workdir / "config" / "small.yaml", small_config(data.parent, FASHION_MNIST))  # it can prepare
    rule = workdir / "workflow/rules/data.smk"
    rule.write_text(rule.read_text().replace('"|".join(MISSING_DATA) or "(?!)"', '"|".join(DATASETS)'))
    result = snakemake(workdir, "--forcerun", "prepare_data", configfile="config/small.yaml", check=False)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "1 of 1 steps (100%) done" in result.stdout  # what Snakemake did: prepare_data alone
    assert "This call ended without" in result.stdout and "results/small/lenet_old/bn~off/selected.tsv" in result.stdout
    assert "Traceback" not in result.stdout
