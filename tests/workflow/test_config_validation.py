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
    "non-finite lr": ((*LENET, "optimizers", "sgd", "grid", "lr"), [0.1, float("nan")],
                      "studies.lenet_mnist.optimizers.sgd.grid.lr[1]: nan is not a finite number"),
    "infinite epochs": ((*LENET, "variance", "epochs"), [1, float("inf")],
                        "studies.lenet_mnist.variance.epochs[1]: inf is not a finite number"),
    "selection neither paper nor a protocol": ((*LENET, "selection"), "papers",
                                               "studies.lenet_mnist.selection: 'paper' was expected"),
    # the extensions
    "seed and seeds": ((*LENET, "seed"), 1, "studies.lenet_mnist.seed: give seed or seeds, not both"),
    "empty seeds": ((*LENET, "seeds"), [], "studies.lenet_mnist.seeds: [] should be non-empty"),
    "negative seed": ((*LENET, "seeds"), [1, -2], "studies.lenet_mnist.seeds[1]: -2 is less than the minimum of 0"),
    "folds and hold-out": ((*LENET, "selection", "val_fraction"), 0.1,
                           "studies.lenet_mnist.selection: give exactly one of folds and val_fraction"),
    "unknown variance key": ((*LENET, "variance", "every"), 5, "studies.lenet_mnist.variance.every: unknown key"),
    "one variance batch": ((*LENET, "variance", "batches"), 1,
                           "studies.lenet_mnist.variance.batches: 1 is less than the minimum of 2"),
    "variance of an optimizer not run": ((*LENET, "variance", "optimizers"), ["svrg", "lbfgs"],
                                         "studies.lenet_mnist.variance.optimizers[1]: 'lbfgs' is not one of"),
    "variance of an optimizer not in the study": (("studies", "resnet18_cifar10", "variance", "optimizers"),
                                                  ["storm"], "studies.resnet18_cifar10.variance.optimizers: "
                                                  "storm is not an optimizer of this study"),
    "variance after the last epoch": (("studies", "resnet18_cifar10", "variance", "epochs"), [160, 200],
                                      "studies.resnet18_cifar10.variance.epochs: none within the 150 epochs of svrg"),
    "bad precision": (("compute", "precision"), "fp16", "compute.precision: 'fp16' is not one of"),
    "no gpus": (("compute", "gpus"), 0, "compute.gpus: 0 is less than the minimum of 1"),
    "one gpu twice": (("compute", "gpus"), [0, 1, 0], "compute.gpus: [0, 1, 0] has non-unique elements"),
    "cache flag for sgd": ((*LENET, "optimizers", "sgd", "cache_snapshot_grads"), True,
                           "studies.lenet_mnist.optimizers.sgd.cache_snapshot_grads: unknown key"),
    "stacked ResNet": (("studies", "resnet18_cifar10", "stacked"), True,
                       "studies.resnet18_cifar10.stacked: vrdl train-grid stacks logreg/lenet runs, not resnet18"),
    "stacked with channels_last": (("compute", "channels_last"), True,
                                   "vrdl train-grid does not support compute.channels_last"),
    "unknown convex key": (("convex",), {"dataset": "mnist", "l2": 0.01, "epochs": 2, "batch_size": 8,
                                         "optimizers": {"svrg": {"hparams": {"lr": 0.1}}}, "lr": 0.1},
                           "convex.lr: unknown key"),
    "convex optimizer without lr": (("convex",), {"dataset": "mnist", "l2": 0.01, "epochs": 2, "batch_size": 8,
                                                  "optimizers": {"sgd": {"hparams": {"k": 0.1}}}},
                                    "convex.optimizers.sgd.hparams.lr: required for sgd"),
    "convex without l2": (("convex",), {"dataset": "mnist", "epochs": 2, "batch_size": 8,
                                        "optimizers": {"sgd": {"hparams": {"lr": 0.1}}}},
                          "convex: 'l2' is a required property"),
    "ablation with sgd": (("ablation",), {"dataset": "cifar10", "model": "resnet18", "optimizer": "sgd",
                                          "hparams": {"lr": 0.1}, "epochs": 2, "batch_size": 8,
                                          "variance": {"epochs": [1]}},
                          "ablation.optimizer: 'sgd' is not one of"),
    "ablation variance after the end": (("ablation",), {"dataset": "cifar10", "model": "resnet18",
                                                        "hparams": {"lr": 0.1}, "epochs": 2, "batch_size": 8,
                                                        "variance": {"epochs": [1, 3]}},
                                        "ablation.variance.epochs: beyond the run's 2 epochs"),
    # what every job would refuse (vrdl train), refused at plan time naming the key
    "batch above train_subset": ((*LENET, "train_subset"), 16, "studies.lenet_mnist.batch_size: 32 is larger than "
                                 "the 16 samples its runs train on (train_subset): use at most 16"),
    "more folds than samples": ((*LENET, "selection", "folds"), 70000, "studies.lenet_mnist.selection.folds: 70000 "
                                "folds of the 60,000 training samples of mnist; use at most 60,000"),
    "hold-out of nothing": (("studies", "resnet18_cifar10", "selection", "val_fraction"), 1e-6,
                            "studies.resnet18_cifar10.selection.val_fraction: 1e-06 of the 50,000 training samples "
                            "of cifar10 leaves no validation or no training data"),
    "absurd width": (("studies", "resnet18_cifar10", "width"), 1000,
                     "studies.resnet18_cifar10.width: 1000 makes resnet18 a model of 11,157,515,648,010 parameters"),
    "metainit batch above the training set": (("metainit", "batch_size"), 60000,
                                              "metainit.batch_size: 60000 is larger than the 50,000 samples"),
    # what the file system, the model or the data cannot honour (issue 26)
    "name too long for a folder": (("name",), "n" * 300, "name: 300 characters, too long for a folder name"),
    "study name too long for a folder": (("studies", "s" * 250), load_paper_config()["studies"]["lenet_mnist"],
                                         "a study name of 250 characters, too long for a folder name"),
    "claim name with mathtext": (("claims",), [{"name": "SVRG beats $SGD$", "better": "svrg", "than": ["sgd"]}],
                                 "claims[0].name: 'SVRG beats $SGD$' has a '$'"),
    "width of a model without one": ((*LENET, "width"), 2, "studies.lenet_mnist.width: lenet has no width"),
    "train_subset above the data": ((*LENET, "train_subset"), 100000, "studies.lenet_mnist.train_subset: 100,000 "
                                    "is more than the 60,000 training samples of mnist"),
    "side study train_subset above the data": (("metainit", "train_subset"), 50001,
                                               "metainit.train_subset: 50,001 is more than the 50,000"),
    "infinite side study rate": (("metainit", "hparams", "lr"), float("inf"),
                                 "metainit.hparams.lr: inf is not a finite number"),
    "rate spelled beyond a float": ((*LENET, "optimizers", "sgd", "grid", "lr"), ["1e400"],
                                    "studies.lenet_mnist.optimizers.sgd.grid.lr[0]: inf is not a finite number"),
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("validation") / "wf")


# Cases that need a setting switched on first (the paper config has no `stacked`).
PRECONDITIONS = {"stacked with channels_last": ((*LENET, "stacked"), True)}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config_fails_before_any_job(workdir, tmp_path, case):
    path, value, message = CASES[case]
    config = load_paper_config()
    if case in PRECONDITIONS:
        _set(config, *PRECONDITIONS[case])
    _set(config, path, value)
    result = snakemake(workdir, "-n", configfile=write_config(tmp_path / "bad.yaml", config), check=False)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert "Invalid configuration" in result.stdout or "required property" in result.stdout
    assert "Building DAG of jobs" not in result.stdout  # failed while reading the config


def test_a_key_given_twice_is_refused(workdir, tmp_path):
    """YAML keeps a duplicate key's last value, silently; the workflow refuses the file, naming the key."""
    text = (workdir / "config" / "quick.yaml").read_text() + "\nname: quick_again\n"
    assert "\nname: " in text[:-20]  # quick.yaml names itself: `name` is now there twice
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    result = snakemake(workdir, "-n", configfile=path, check=False)
    assert result.returncode != 0 and "key 'name' is given twice in one mapping" in result.stdout, result.stdout[-3000:]


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


def test_seed_is_short_for_seeds(workdir, tmp_path):
    """Older configs say `seed: 1`: the same DAG (and paths) as `seeds: [1]`."""
    config = load_paper_config()
    for study in config["studies"].values():
        study["seed"] = study.pop("seeds")[0]
    result = snakemake(workdir, "-n", configfile=write_config(tmp_path / "seed.yaml", config))
    assert job_counts(result.stdout)["tune"] == 196
    assert "results/paper/lenet_mnist/bn~off/tune/adam/lr~1e-05/seed~1/fold~0.csv" in result.stdout
