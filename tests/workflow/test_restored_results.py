"""Content, not clocks, decides reruns (issue 26): results restored with old mtimes (a backup, a
copy, a checkout) and scripts or code with mtimes in the future rerun nothing when the code's
fingerprints, the params and the inputs' contents are unchanged; a deleted result then reruns
exactly its job and what reads it, once."""

from __future__ import annotations

import os
import random

import pytest

from vrdl.runs import check_run_files

from .conftest import executed_jobs, snakemake
from .test_incremental import STUDY_RULES, assert_up_to_date, config_path

pytestmark = pytest.mark.slow

OLD = 946684800  # 2000-01-01
FUTURE = 1924992000  # 2031-01-01


def files_under(*folders):
    return [path for folder in folders for path in folder.rglob("*") if path.is_file()]


def test_results_restored_with_old_shuffled_mtimes_rerun_nothing(run_copy):
    # The worst a restore can do: every result older than the code, and readers' outputs older
    # than their inputs in random order (Snakemake's mtime trigger then asks its recorded checksums).
    shuffled = random.Random(0)
    for path in files_under(run_copy / "results", run_copy / "logs"):
        stamp = OLD + shuffled.randrange(10**6)
        os.utime(path, (stamp, stamp))
    assert_up_to_date(run_copy)


def test_code_in_the_future_reruns_nothing_and_a_deleted_run_reruns_once(run_copy):
    for path in files_under(run_copy / "scripts", run_copy / "src", run_copy / "workflow"):
        os.utime(path, (FUTURE, FUTURE))
    assert_up_to_date(run_copy)

    csv = run_copy / "results/tiny/lenet_tiny/bn~off/tune/sgd/lr~0.1/seed~1/fold~0.csv"
    csv.unlink()
    jobs = executed_jobs(snakemake(run_copy, configfile=config_path(run_copy)).stdout)
    assert [w for rule, w in jobs if rule == "tune"] == [
        "study=lenet_tiny, bn=off, optimizer=sgd, point=lr~0.1, seed=1, split=fold~0"
    ]
    assert {rule for rule, _ in jobs} <= STUDY_RULES
    assert csv.is_file()
    assert_up_to_date(run_copy)


def without_wall(csv_text):
    return [row.split(",")[:2] + row.split(",")[3:] for row in csv_text.splitlines()]


def keep_mtime(path, write):
    stat = path.stat()
    write()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_run_files_swapped_or_edited_with_their_mtimes_kept_rerun_in_the_next_call(run_copy):
    tune = run_copy / "results/tiny/lenet_tiny/bn~off/tune"
    first, second = tune / "sgd/lr~0.01/seed~1/fold~0.csv", tune / "sgd/lr~0.1/seed~1/fold~0.csv"
    texts = first.read_text(), second.read_text()
    keep_mtime(first, lambda: first.write_text(texts[1]))
    keep_mtime(second, lambda: second.write_text(texts[0]))
    edited = tune / "svrg/lr~0.01/seed~1/fold~1.json"
    keep_mtime(edited, lambda: edited.write_text(edited.read_text().replace('"lr": 0.01', '"lr": 0.02', 1)))

    dry = snakemake(run_copy, "-n", configfile=config_path(run_copy)).stdout
    for path in (first, second, edited):
        assert f"{path.relative_to(run_copy)}" in dry and path.is_file()  # named; -n moves nothing
    assert "a run without -n reruns it" in dry and not list(tune.rglob("*.rejected"))

    jobs = executed_jobs(snakemake(run_copy, configfile=config_path(run_copy)).stdout)
    assert sorted(w for rule, w in jobs if rule == "tune") == [
        "study=lenet_tiny, bn=off, optimizer=sgd, point=lr~0.01, seed=1, split=fold~0",
        "study=lenet_tiny, bn=off, optimizer=sgd, point=lr~0.1, seed=1, split=fold~0",
        "study=lenet_tiny, bn=off, optimizer=svrg, point=lr~0.01, seed=1, split=fold~1",
    ]
    assert (without_wall(first.read_text()), without_wall(second.read_text())) == tuple(map(without_wall, texts))
    for csv in tune.rglob("*.csv"):
        check_run_files(csv, heal=False)
    assert_up_to_date(run_copy)


def test_derived_tables_and_report_edited_or_garbage_with_their_mtimes_kept_are_rebuilt(run_copy):
    root = run_copy / "results/tiny"
    runs_csv, parquet, seal = root / "runs.csv", root / "runs.parquet", root / "tables.sha256"
    written = runs_csv.read_text()
    keep_mtime(runs_csv, lambda: runs_csv.write_text(written.replace("lenet_tiny", "lenet_edited", 1)))
    keep_mtime(parquet, lambda: parquet.write_bytes(b"garbage"))
    report = root / "report.html"
    keep_mtime(report, lambda: report.write_text(report.read_text().replace("<h1", "<h1 data-edited", 1)))

    dry = snakemake(run_copy, "-n", configfile=config_path(run_copy)).stdout
    assert "results/tiny/runs.parquet is not the file its job wrote" in dry, dry[-3000:]
    assert "a run without -n rebuilds it" in dry and seal.is_file()  # -n removes nothing

    jobs = executed_jobs(snakemake(run_copy, configfile=config_path(run_copy)).stdout)
    assert {rule for rule, _ in jobs} == {"tables", "report", "all"}
    assert "data-edited" not in report.read_text()
    assert runs_csv.read_text().count("lenet_edited") == 0
    assert parquet.read_bytes()[:4] == b"PAR1"
    assert_up_to_date(run_copy)
