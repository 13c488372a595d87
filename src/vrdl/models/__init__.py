"""Every model of the study, declared once: how it is built, which images it takes, whether it
takes `width` and `bn`, whether `vrdl train-grid` stacks its runs. `build_model`, the CLI's
choices, `vrdl models`, the config schema's model enum and the config checks read it; here too:
counting a model's parameters and BN layers.

Adding a model: write its module (an nn.Module) and add one `register(Model(...))`, here or in
your own module imported before use. No torch at module level (the config checks read the
registry in Snakemake's environment): the builders import their modules when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vrdl.registries import Registry


@dataclass(frozen=True)
class Model:
    name: str
    summary: str
    # builder(num_classes=, in_channels=, image_size=, plus bn= if `bn`, width= if `width`) -> nn.Module
    builder: Callable
    dataset: str  # the data set the study trains it on: `vrdl describe`'s default input shape
    image_sizes: tuple[int, ...] = ()  # the square image sizes it takes (empty: any)
    width: bool = False  # takes a width (channel multiplier); the other models ignore one
    no_bn: str | None = None  # why it refuses --bn (None: it takes bn on and off)
    stackable: bool = False  # `vrdl train-grid` stacks its runs (BN off, no augmentation)
    # What one run asks a cluster for (vrdl.cluster): host memory and minutes on one GPU, for the
    # paper's data and epochs with room to spare (SVRG costs ~2-3x SGD per epoch)
    job_mem_mb: int = 8000
    job_minutes: int = 120

    def image_size_problem(self, image_size: int) -> str | None:
        """Why the model cannot take images of this size (None: it can)."""
        if not self.image_sizes or image_size in self.image_sizes:
            return None
        sizes = " or ".join(f"{s}x{s}" for s in self.image_sizes)
        return f"{self.name} takes {sizes} images, not {image_size}x{image_size}"

    def build(self, *, num_classes: int, in_channels: int, image_size: int, bn: bool, width: float = 1.0):
        if bn and self.no_bn:
            raise ValueError(f"--bn is not available for {self.name} ({self.no_bn})")
        options = dict(bn=bn) if self.no_bn is None else {}
        if self.width:
            options["width"] = width
        return self.builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **options)

    def describe(self) -> str:
        sizes = ", ".join(f"{s}x{s}" for s in self.image_sizes) or "any"
        return (f"{self.name}: {self.summary}; studied on {self.dataset}; images {sizes}, "
                f"bn: {'no' if self.no_bn else 'on/off'}, "
                f"width: {'yes' if self.width else 'no'}, stacked (train-grid): {'yes' if self.stackable else 'no'}")


MODELS: Registry = Registry("model")
# Far beyond the study's models (ResNet-101: 42.7M) and past what one GPU trains with SVRG's copies
# of the weights; a width that asks for more is a typo (`width: 1000`), refused before allocating.
MAX_PARAMETERS = 1_000_000_000


register, get = MODELS.add, MODELS.entry


def parameter_count(name: str, **shape) -> int:
    """Parameters of the model `build_model(name, **shape)` would build, without allocating them."""
    import torch

    with torch.device("meta"):
        return count_parameters(get(name).build(**shape))


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
                width: float = 1.0):
    """The model called `name`; `bn=False` leaves no normalisation layer at all."""
    entry = get(name)
    shape = dict(num_classes=num_classes, in_channels=in_channels, image_size=image_size, bn=bn)
    problem = size_problem(name, width, **shape)
    if problem:
        raise ValueError(f"--width {problem}")
    return entry.build(width=width, **shape)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def count_batchnorm(model) -> int:
    from torch import nn

    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _logreg(*, num_classes, in_channels, image_size):
    from vrdl.models.lenet import LogisticRegression

    return LogisticRegression(in_channels * image_size * image_size, num_classes)


def _lenet(*, num_classes, in_channels, image_size, bn):
    from vrdl.models.lenet import LeNet5

    return LeNet5(in_channels, num_classes, image_size=image_size, bn=bn)


def _resnet18(*, num_classes, in_channels, image_size, bn, width):  # any image size: global pooling
    from vrdl.models.resnet import resnet18

    return resnet18(num_classes, in_channels=in_channels, bn=bn, width=width)


def _resnet101(*, num_classes, in_channels, image_size, bn, width):
    from vrdl.models.resnet import resnet101

    return resnet101(num_classes, in_channels=in_channels, bn=bn, width=width)


register(Model("logreg", "multinomial logistic regression on the pixels (the convex control)", _logreg, "mnist",
               no_bn="a linear model has no layer to normalise", stackable=True, job_mem_mb=4000, job_minutes=60))
register(Model("lenet", "LeNet-5: two 5x5 convolutions with tanh and average pooling, three dense layers", _lenet,
               "mnist", image_sizes=(28, 32), stackable=True))
register(Model("resnet18", "ResNet-18, CIFAR variant (3x3 stem, no max-pool)", _resnet18, "cifar10", width=True,
               job_mem_mb=16000, job_minutes=720))
register(Model("resnet101", "ResNet-101, CIFAR variant (bottleneck blocks)", _resnet101, "cifar100", width=True,
               job_mem_mb=16000, job_minutes=1440))
