"""Model zoo of the study: build a model by name, count its parameters and BN layers."""

import torch
from torch import nn

from vrdl.models.lenet import LeNet5, LogisticRegression
from vrdl.models.resnet import resnet18, resnet101

MODELS = ("logreg", "lenet", "resnet18", "resnet101")
# Far beyond the study's models (ResNet-101: 42.7M) and past what one GPU trains with SVRG's copies
# of the weights; a width that asks for more is a typo (`width: 1000`), refused before allocating.
MAX_PARAMETERS = 1_000_000_000


def parameter_count(name: str, **shape) -> int:
    """Parameters of the model `build_model(name, **shape)` would build, without allocating them."""
    with torch.device("meta"):
        return count_parameters(_build(name, **shape))


def size_problem(name: str, width: float, **shape) -> str | None:
    """Why `width` makes model `name` too large to train, or None (the check behind --width)."""
    if width <= 1:  # the paper's width or narrower: never too large
        return None
    n = parameter_count(name, width=width, **shape)
    if n <= MAX_PARAMETERS:
        return None
    return (f"{width:g} makes {name} a model of {n:,} parameters, more than the {MAX_PARAMETERS:,} vrdl trains "
            "(the paper's width is 1.0)")


def build_model(name: str, *, num_classes: int, in_channels: int, image_size: int, bn: bool,
                width: float = 1.0) -> nn.Module:
    """The model called `name`; `bn=False` leaves no normalisation layer at all."""
    shape = dict(num_classes=num_classes, in_channels=in_channels, image_size=image_size, bn=bn)
    problem = size_problem(name, width, **shape)
    if problem:
        raise ValueError(f"--width {problem}")
    return _build(name, width=width, **shape)


def _build(name: str, *, num_classes: int, in_channels: int, image_size: int, bn: bool,
           width: float = 1.0) -> nn.Module:
    if name == "logreg":
        if bn:
            raise ValueError("--bn is not available for logreg (a linear model has no layer to normalise)")
        return LogisticRegression(in_channels * image_size * image_size, num_classes)
    if name == "lenet":
        return LeNet5(in_channels, num_classes, image_size=image_size, bn=bn)
    if name == "resnet18":
        return resnet18(num_classes, in_channels=in_channels, bn=bn, width=width)
    if name == "resnet101":
        return resnet101(num_classes, in_channels=in_channels, bn=bn, width=width)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_batchnorm(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
