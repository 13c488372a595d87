"""Dry runs of the shipped configs (no data present), the config-file rules and lint."""

from __future__ import annotations

import pytest

from .conftest import REPO, copy_workflow, job_counts, snakemake


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("dryrun") / "wf")


def test_paper_config_job_counts(workdir):
    result = snakemake(workdir, "-n", configfile="config/config.yaml")
    counts = job_counts(result.stdout)
    # LeNet: 39 points x 4 folds; ResNet-18: 11 points x 2 BN; ResNet-101: 9 points x 2 BN.
    assert counts["tune"] == 39 * 4 + 11 * 2 + 9 * 2 == 196
    assert counts["final"] == 5 + 3 * 2 + 3 * 2 == 17
    assert counts["metainit"] == 2
    assert counts["select"] == 5
    assert counts["prepare_data"] == 3
    assert counts["figure_tuning"] == counts["figure_final"] == 5
    assert counts["figure_metainit"] == counts["report"] == 1


def test_paper_config_paths_and_arguments(workdir):
    result = snakemake(workdir, "-n", "--printshellcmds", configfile="config/config.yaml")
    out = result.stdout
    # Paramspace-like paths; floats written so that they read back exactly.
    assert "results/lenet_mnist/bn~off/tune/storm/c~100_k~0.1/seed~1/fold~3.csv" in out
    assert "results/lenet_mnist/bn~off/tune/adam/lr~1e-05/seed~1/fold~0.csv" in out
    assert "results/resnet18_cifar10/bn~on/tune/svrg/lr~0.001/seed~1/holdout.csv" in out
    assert "results/resnet101_cifar100/bn~off/tune/adam/lr~1e-06/seed~1/holdout.csv" in out
    assert "results/resnet101_cifar100/bn~on/final/svrg.csv" in out
    assert "results/metainit/metainit~on.csv" in out
    assert "fold~4" not in out


def test_quick_config_has_every_stage(workdir):
    counts = job_counts(snakemake(workdir, "-n", configfile="config/quick.yaml").stdout)
    assert counts["tune"] == 5 * 2 * 2 + 3 * 2 * 2 + 3 * 2 * 2
    assert counts["final"] == 17
    assert counts["metainit"] == 2
    assert counts["prepare_data"] == 1


def test_no_config_is_a_clear_error(workdir):
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert "--configfile config/config.yaml" in result.stdout


def test_default_profile_runs_the_paper_and_configfile_replaces_it(workdir):
    """profiles/default names config/config.yaml; --configfile replaces it (no merging, so the
    demo never inherits the paper's studies)."""
    import subprocess
    import sys

    def dry(*args):
        return subprocess.run([sys.executable, "-m", "snakemake", "-n", *args], cwd=workdir,
                              capture_output=True, text=True, check=True).stdout

    assert job_counts(dry())["tune"] == 196
    quick = dry("--configfile", "config/quick.yaml")
    assert job_counts(quick)["tune"] == 44
    assert "lenet_mnist" not in quick and "resnet18_cifar10" not in quick


def test_lint_is_clean(workdir):
    result = snakemake(workdir, "--lint", configfile="config/config.yaml", check=False)
    assert result.returncode == 0, result.stdout
    assert "Congratulations, your workflow is in a good condition!" in result.stdout


def test_repository_copy_is_complete():
    assert (REPO / "workflow" / "Snakefile").exists()
    assert (REPO / "profiles" / "default" / "config.yaml").exists()
