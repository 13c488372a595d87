"""The data set and model registries (vrdl.datasets, vrdl.models): every list of data sets and
models reads them, and a new data set or model is one entry in one module (tests/toy_registry.py):
`vrdl datasets`/`vrdl models` list it, `vrdl prepare` and `vrdl train` take it, the plan and the
config checks know it."""

import importlib
import json
import sys

import pytest

from vrdl import costs, datasets, models
from vrdl.checks import config_problems
from vrdl.cli import main
from vrdl.config import train_size
from vrdl.plan import Plan
from vrdl.schema import build_schema

TOY = "tests.toy_registry"


@pytest.fixture
def toy():
    """The toy data set and model registered for one test."""
    module = importlib.import_module(TOY)
    yield module
    datasets.DATASETS.pop("toy")
    models.MODELS.pop("tiny_mlp")
    sys.modules.pop(TOY)


def toy_study(**changes) -> dict:
    study = dict(dataset="toy", model="tiny_mlp", selection={"folds": 2}, epochs=2, batch_size=16,
                 optimizers={"sgd": {"grid": {"lr": [0.1, 0.01]}}})
    return study | changes


def test_the_schema_and_the_listings_read_the_registries(capsys):
    defs = build_schema()["$defs"]
    assert defs["dataset"]["enum"] == ["mnist", "fashion_mnist", "cifar10", "cifar100"]
    assert defs["model"]["enum"] == ["logreg", "lenet", "resnet18", "resnet101"]
    main(["datasets"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == list(datasets.DATASETS)
    assert "3x32x32, 100 classes, 50,000 training samples, augment (auto): yes" in lines[3]
    main(["models"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == list(models.MODELS)
    assert "images 28x28, 32x32, bn: on/off, width: no, stacked (train-grid): yes" in lines[1]


def test_registry_entries_are_checked():
    with pytest.raises(ValueError, match="registered already"):
        datasets.register(datasets.DATASETS["mnist"])
    with pytest.raises(ValueError, match="registered already"):
        models.register(models.MODELS["lenet"])
    with pytest.raises(ValueError, match="sum to 59999, not train_size 60000"):
        datasets.Dataset("bad", "", 1, 28, 2, 60000, "x:y", "", class_counts=((30000, 29999), (1, 1)))
    with pytest.raises(ValueError, match="data set name 'Bad-Name'"):
        datasets.Dataset("Bad-Name", "", 1, 28, 2, 10, "x:y", "")
    with pytest.raises(ValueError, match="unknown model 'resnet50'; choose one of logreg, lenet, resnet18, resnet101"):
        models.build_model("resnet50", num_classes=10, in_channels=3, image_size=32, bn=False)
    with pytest.raises(ValueError, match=r"--bn is not available for logreg \(a linear model has no layer"):
        models.build_model("logreg", num_classes=10, in_channels=1, image_size=28, bn=True)


def test_a_new_data_set_and_model_are_prepared_trained_and_planned(toy, tmp_path, capsys):
    main(["datasets"])
    assert capsys.readouterr().out.splitlines()[-1].startswith("toy: quadrant noise images (generated); 1x8x8, 4 ")
    main(["models"])
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        "tiny_mlp: a one-hidden-layer MLP; studied on toy; images any")

    data_dir, raw = tmp_path / "data", tmp_path / "raw"
    data_dir.mkdir()
    raw.mkdir()
    main(["prepare", "--dataset", "toy", "--data-dir", str(data_dir), "--source-dir", str(raw)])
    assert capsys.readouterr().out.strip() == str(data_dir / "toy.pt")
    out = tmp_path / "run.csv"
    main(["train", "--dataset", "toy", "--model", "tiny_mlp", "--width", "2", "--optimizer", "svrg", "--lr", "0.1",
          "--epochs", "2", "--batch-size", "16", "--data-dir", str(data_dir), "--out", str(out)])
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["dataset"] == "toy" and meta["model"] == "tiny_mlp" and meta["width"] == 2
    assert meta["grad_evals"] == 3 * 2 * 96  # SVRG: two gradients per sample and a snapshot pass per epoch
    assert meta["augment"] == "auto"

    plan = Plan({"name": "toy", "studies": {"toy_study": toy_study()}})
    study = plan.studies["toy_study"].cfg
    assert train_size(study) == 96 and train_size(study, "fold~0") == 48
    args = plan.studies.tune_args(plan.studies.tune_runs("toy_study", "off")[0])
    assert args[args.index("--dataset"):args.index("--dataset") + 4] == ["--dataset", "toy", "--model", "tiny_mlp"]
    assert costs.shape("tiny_mlp", "off", None, "toy", 16, "fp32", "cpu")["input"] == "1x8x8"


def test_the_config_checks_read_the_registries(toy):
    schema = build_schema()
    assert "toy" in schema["$defs"]["dataset"]["enum"] and "tiny_mlp" in schema["$defs"]["model"]["enum"]

    def problems(**changes):
        return config_problems({"studies": {"s": toy_study(**changes)}}, schema)

    assert problems() == []
    assert problems(model="lenet") == ["studies.s.model: lenet takes 28x28 or 32x32 images, not 8x8 (toy)"]
    assert problems(batch_size=64) == ["studies.s.batch_size: 64 is larger than the 48 samples its runs train on: "
                                       "use at most 48"]
    assert problems(stacked=True) == []  # tiny_mlp is stackable, toy not augmented
    assert problems(stacked=True, model="resnet18") == [
        "studies.s.stacked: vrdl train-grid stacks logreg/lenet/tiny_mlp runs, not resnet18"]


def test_a_misspelled_registry_reference_is_named(tmp_path, monkeypatch):
    from vrdl.registries import resolve

    assert resolve("vrdl.optim.stacked:sgd", "rule").__name__ == "sgd"
    with pytest.raises(ValueError, match=r"optimizer x's stacked update rule: 'vrdl.optim.stacked:sdg' names nothing"):
        resolve("vrdl.optim.stacked:sdg", "optimizer x's stacked update rule")
    with pytest.raises(ValueError, match=r"data set toy's reader: 'vrdl.nowhere:read' names nothing importable"):
        resolve("vrdl.nowhere:read", "data set toy's reader")
    broken = tmp_path / "broken_reader.py"  # a module that exists but cannot import a dependency of its own
    broken.write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        resolve("broken_reader:read", "data set toy's reader")
