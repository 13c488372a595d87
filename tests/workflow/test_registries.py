"""A new data set and model in the workflow: the copy's vrdl imports one module of the user's
(tests/toy_registry.py: one data set entry, one model entry) and nothing else changes, not the
rules, the schema or the CLI. The plan, the `dataset` wildcard and the jobs take them."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from .conftest import REPO, copy_workflow, executed_jobs, job_counts, snakemake

TUNE_RUN = "results/toy/toy_study/bn~off/tune/svrg/lr~0.1/seed~1/fold~0"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A workflow copy whose vrdl imports the toy module (put beside it in src/) with its registries."""
    workdir = copy_workflow(tmp_path_factory.mktemp("registries") / "wf")
    src = workdir / "src"
    shutil.copy(REPO / "tests" / "toy_registry.py", src / "toy_registry.py")
    with open(src / "vrdl" / "datasets.py", "a") as registry:
        registry.write("\nimport toy_registry  # noqa: E402,F401 (the user's data set and model)\n")
    raw = workdir / "raw"
    raw.mkdir()
    config = {
        "name": "toy",
        "data": {"sources": {"toy": str(raw)}},
        "compute": {"device": "cpu"},
        "studies": {"toy_study": {
            "dataset": "toy", "model": "tiny_mlp", "bn": ["off", "on"], "width": 2, "selection": {"folds": 2},
            "epochs": 2, "batch_size": 16, "stacked": False,
            "optimizers": {"sgd": {"grid": {"lr": [0.1, 0.01]}}, "svrg": {"grid": {"lr": [0.1]}}},
        }},
    }
    (workdir / "config" / "toy.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def test_the_plan_takes_a_new_data_set_and_model(workdir):
    result = snakemake(workdir, "-n", "--printshellcmds", configfile="config/toy.yaml")
    counts = job_counts(result.stdout)
    assert counts["prepare_data"] == 1 and counts["tune"] == 2 * 3 * 2 and counts["final"] == 2 * 2
    assert f"{TUNE_RUN}.csv" in result.stdout
    assert "data/toy.pt" in result.stdout


@pytest.mark.slow
def test_its_jobs_prepare_and_train_it(workdir):
    result = snakemake(workdir, f"{TUNE_RUN}.csv", "--configfile", "config/toy.yaml")  # targets first
    assert [rule for rule, _ in executed_jobs(result.stdout)] == ["prepare_data", "tune"]
    meta = json.loads((workdir / f"{TUNE_RUN}.json").read_text())
    assert meta["dataset"] == "toy" and meta["model"] == "tiny_mlp" and meta["width"] == 2
    assert meta["grad_evals"] == 3 * 2 * 48  # SVRG on a fold's 48 samples, 2 epochs
