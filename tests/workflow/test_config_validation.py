"""A bad config fails before any job runs, with a message naming the key."""

from __future__ import annotations

import pytest

from .conftest import copy_workflow, job_counts, load_paper_config, snakemake, write_config


def _set(config, path, value):
    *parents, last = path
    node = config
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()
LENET = ("studies", "lenet_mnist")

CASES = {
    "unknown top-level key": (("studies_typo",), {}, "studies_typo: unknown key"),
    "unknown study key": ((*LENET, "epoch"), 3, "studies.lenet_mnist.epoch: unknown key"),
    "unknown optimizer": ((*LENET, "optimizers", "rmsprop"), {"grid": {"lr": [0.1]}},
                          "studies.lenet_mnist.optimizers.rmsprop: unknown key"),
    "unknown hyperparameter": ((*LENET, "optimizers", "sgd", "grid", "momentum"), [0.9],
                               "studies.lenet_mnist.optimizers.sgd.grid.momentum: unknown key"),
    "unknown model": ((*LENET, "model"), "resnet50", "studies.lenet_mnist.model: 'resnet50' is not one of"),
    "unknown dataset": ((*LENET, "dataset"), "svhn", "studies.lenet_mnist.dataset: 'svhn' is not one of"),
    "negative lr": ((*LENET, "optimizers", "adam", "grid", "lr"), [0.001, -0.1],
                    "studies.lenet_mnist.optimizers.adam.grid.lr[1]: -0.1 is less than or equal to the minimum of 0"),
    "zero lr": ((*LENET, "optimizers", "sgd", "grid", "lr"), [0],
                "studies.lenet_mnist.optimizers.sgd.grid.lr[0]: 0 is less than or equal to the minimum of 0"),
    "empty grid": ((*LENET, "optimizers", "sgd", "grid", "lr"), [],
                   "studies.lenet_mnist.optimizers.sgd.grid.lr: [] should be non-empty"),
    "grid without axes": ((*LENET, "optimizers", "adagrad", "grid"), {},
                          "studies.lenet_mnist.optimizers.adagrad.grid: {} should be non-empty"),
    "folds < 2": ((*LENET, "selection", "folds"), 1,
                  "studies.lenet_mnist.selection.folds: 1 is less than the minimum of 2"),
    "duplicate grid value": (("studies", "resnet18_cifar10", "optimizers", "svrg", "grid", "lr"),
                             [0.0005, 0.01, 0.005, 0.01],
                             "studies.resnet18_cifar10.optimizers.svrg.grid.lr: [0.0005, 0.01, 0.005, 0.01] "
                             "has non-unique elements"),
    "missing lr": ((*LENET, "optimizers", "sgd", "grid"), _DELETE,
                   "studies.lenet_mnist.optimizers.sgd: 'grid' is a required property"),
    "lr in neither grid nor fixed": (("studies", "resnet18_cifar10", "optimizers", "svrg", "grid"),
                                          {"snapshot_every": [1, 2]},
                                          "studies.resnet18_cifar10.optimizers.svrg.grid.lr: required for svrg"),
    "bad metainit hyperparameter": (("metainit", "hparams", "k"), 0.1,
                                    "metainit.hparams.k: svrg takes lr, snapshot_every"),
    "unknown metainit optimizer": (("metainit", "optimizer"), "lbfgs", "metainit.optimizer: 'lbfgs' is not one of"),
    "non-positive epochs": ((*LENET, "epochs"), 0, "studies.lenet_mnist.epochs: 0 is less than the minimum of 1"),
    "bad study name": (("studies", "lenet mnist"), {}, "studies.lenet mnist"),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("validation") / "wf")


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_fails_before_any_job(workdir, tmp_path, case):
    path, value, message = CASES[case]
    config = load_paper_config()
    _set(config, path, value)
    result = snakemake(workdir, "-n", configfile=write_config(tmp_path / "bad.yaml", config), check=False)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert "Invalid configuration" in result.stdout or "required property" in result.stdout
    assert "Building DAG of jobs" not in result.stdout  # failed while reading the config


def test_exponent_without_dot_is_a_number(workdir, tmp_path):
    """PyYAML reads 1e-5 as the string '1e-5'; the workflow takes it for the number."""
    text = (workdir / "config" / "config.yaml").read_text()
    text = text.replace("grid: {lr: [1.0e-6, 1.0e-5, 1.0e-4]}", "grid: {lr: [1e-6, 1e-5, 1e-4]}")
    assert "1e-6, 1e-5" in text
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    result = snakemake(workdir, "-n", configfile=path)
    assert job_counts(result.stdout)["tune"] == 196
    assert "resnet101_cifar100/bn~on/tune/adam/lr~1e-06/" in result.stdout
