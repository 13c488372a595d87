"""A file-system error in an analysis job (issue 26): the tidy tables cannot be written into a
results directory that nobody may write to; the job ends with one line naming the file, the
cause and the fix (no traceback), and once the directory is writable again the same command
brings every target up to date."""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import FASHION_MNIST, copy_workflow, snakemake, write_config
from .test_interrupt import assert_every_target_passes_the_readers, small_study

pytestmark = pytest.mark.slow


def immutable(directory, on: bool) -> bool:
    """chattr +i: no file may be created in it, root included (only root may set it)."""
    if os.geteuid() != 0:
        return False
    return subprocess.run(["chattr", "+i" if on else "-i", str(directory)], capture_output=True).returncode == 0


def test_an_unwritable_results_directory_ends_the_tables_job_with_one_line(tmp_path, fashion_mnist_dir):
    if not FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    workdir = copy_workflow(tmp_path / "wf")
    write_config(workdir / "config" / "small.yaml", small_study(fashion_mnist_dir))
    snakemake(workdir, "--configfile", "config/small.yaml")
    results = workdir / "results" / "tiny"
    for name in ("runs.parquet", "runs.csv", "curves.parquet", "tables.sha256"):  # every output of `tables`
        (results / name).unlink()
    if not immutable(results, True):
        pytest.skip("needs root where chattr +i is allowed, to make a directory unwritable to root")
    try:
        failed = snakemake(workdir, "--configfile", "config/small.yaml", check=False)
    finally:
        immutable(results, False)
    assert failed.returncode != 0
    line = next((line for line in failed.stdout.splitlines() if line.startswith("tables: ")), failed.stdout[-4000:])
    assert "results/tiny/runs.parquet" in line and line.endswith(
        "Operation not permitted (permission denied: fix its permissions (chmod/chown) or choose a writable "
        "location); then rerun snakemake"), line
    assert "Traceback" not in failed.stdout

    snakemake(workdir, "--configfile", "config/small.yaml")
    assert_every_target_passes_the_readers(workdir, "config/small.yaml")
