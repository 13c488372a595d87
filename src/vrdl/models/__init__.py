"""Model zoo of the study: build a model by name, count its parameters and BN layers."""

from torch import nn

from vrdl.models.lenet import LeNet5, LogisticRegression
from vrdl.models.resnet import resnet18, resnet101

MODELS = ("logreg", "lenet", "resnet18", "resnet101")


def build_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    image_size: int,
    bn: bool,
    width: float = 1.0,
) -> nn.Module:
    """The model called `name`; `bn=False` leaves no normalisation layer at all."""
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
