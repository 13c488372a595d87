"""Content, not clocks, decides reruns (issue 26): results restored with old mtimes (a backup, a
copy, a checkout) and scripts or code with mtimes in the future rerun nothing when the code's
fingerprints, the params and the inputs' contents are unchanged; a deleted result then reruns
exactly its job and what reads it, once."""

from __future__ import annotations

import os
import random

import pytest

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
