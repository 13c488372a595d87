import json

import pytest
import torch

from vrdl.cli import main
from vrdl.models import build_model, count_batchnorm, count_parameters


@pytest.mark.parametrize("name,classes,expected_millions,bn_layers", [
    ("resnet18", 10, 11.17, 20),
    # original defect 5: a "ResNet-101" of basic blocks has ~52M parameters; bottlenecks give 42.70M
    ("resnet101", 100, 42.70, 104),
])
def test_resnet_parameter_counts(name, classes, expected_millions, bn_layers, capsys):
    main(["describe", "--model", name, "--bn", "--num-classes", str(classes)])
    described = json.loads(capsys.readouterr().out)
    assert round(described["n_params"] / 1e6, 2) == expected_millions
    assert described["n_batchnorm"] == bn_layers


def test_resnet101_is_built_from_33_bottleneck_blocks():
    from vrdl.models.resnet import Bottleneck
    model = build_model("resnet101", num_classes=100, in_channels=3, image_size=32, bn=True)
    assert sum(isinstance(m, Bottleneck) for m in model.modules()) == 3 + 4 + 23 + 3


@pytest.mark.parametrize("name", ["lenet", "resnet18", "resnet101"])
def test_no_bn_leaves_no_normalisation_layer(name):
    model = build_model(name, num_classes=10, in_channels=3, image_size=32, bn=False, width=0.125)
    assert count_batchnorm(model) == 0
    assert not any("Norm" in type(m).__name__ for m in model.modules())


@pytest.mark.parametrize("name,size", [("logreg", 28), ("lenet", 28), ("lenet", 32), ("resnet18", 28),
                                       ("resnet101", 32)])
def test_models_give_logits_for_each_class(name, size):
    channels = 1 if size == 28 else 3
    model = build_model(name, num_classes=7, in_channels=channels, image_size=size, bn=False, width=0.125)
    assert model(torch.randn(2, channels, size, size)).shape == (2, 7)


def test_lenet5_has_the_classic_shape():
    model = build_model("lenet", num_classes=10, in_channels=1, image_size=28, bn=False)
    assert count_parameters(model) == 61706
    with_bn = build_model("lenet", num_classes=10, in_channels=1, image_size=28, bn=True)
    assert count_batchnorm(with_bn) == 4


def test_width_scales_the_resnet():
    narrow = build_model("resnet18", num_classes=10, in_channels=3, image_size=32, bn=True, width=0.25)
    assert count_parameters(narrow) < count_parameters(
        build_model("resnet18", num_classes=10, in_channels=3, image_size=32, bn=True)) / 10


@pytest.mark.parametrize("name,in_channels", [("lenet", 1), ("logreg", 1), ("resnet18", 3), ("resnet101", 3)])
def test_describe_takes_the_input_of_the_models_data_set_in_the_study(name, in_channels, capsys):
    main(["describe", "--model", name])
    assert json.loads(capsys.readouterr().out)["in_channels"] == in_channels
