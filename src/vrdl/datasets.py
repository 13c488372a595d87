"""Every data set of the study, declared once: image shape, classes, training-set size, the class
counts that identify its standard splits, its raw files and how they are read and downloaded.
vrdl.data (prepare, check, load), the CLI's choices, `vrdl datasets`, the config schema's dataset
enum and size checks, the cost plan's input shapes and the workflow's `dataset` wildcard read it.

Adding a data set: write its reader (raw files under a directory -> the four tensors of a prepared
data set, see vrdl.data) and add one `register(Dataset(...))`, here or in your own module imported
before use. No torch here (the workflow reads it in Snakemake's environment): readers are named
"module:attribute" and imported when a data set is prepared.

Normalisation is not a property of a data set: training scales every one by the per-channel mean
and std of its training portion (vrdl.data.channel_stats).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vrdl.registries import Registry, resolve

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # a file name (DATA_DIR/NAME.pt) and a wildcard value


@dataclass(frozen=True)
class Dataset:
    name: str
    summary: str
    channels: int
    image_size: int  # square images
    num_classes: int
    train_size: int  # samples of the training split: sizes, gradient counts and costs before any data is read
    reader: str  # "module:attribute": reader(root: Path) -> {train_x, train_y, test_x, test_y}, None if not there
    raw_files: str  # what `--source-dir` must contain, for error messages
    torchvision_class: str | None = None  # torchvision.datasets class that downloads the raw files (None: none)
    # (train, test) class counts of the published splits: they tell the data sets apart, so that
    # one cannot be prepared as another (None: not checked)
    class_counts: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    augment: bool = False  # `augment: auto` crops and flips it

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"data set name {self.name!r}: lowercase letters, digits and _, starting with a letter")
        if self.class_counts is not None:
            if any(len(counts) != self.num_classes for counts in self.class_counts):
                raise ValueError(f"{self.name}: class_counts must list {self.num_classes} counts per split")
            if sum(self.class_counts[0]) != self.train_size:
                raise ValueError(f"{self.name}: the train class counts sum to {sum(self.class_counts[0])}, "
                                 f"not train_size {self.train_size}")

    @property
    def input_shape(self) -> str:
        """channels x height x width, as the cost plan names a shape of work: 3x32x32."""
        return f"{self.channels}x{self.image_size}x{self.image_size}"

    def read(self, root):
        """The data set's tensors from its raw files under `root` (None if they are not there)."""
        return resolve(self.reader, f"data set {self.name}'s reader")(root)

    def describe(self) -> str:
        download = f"torchvision {self.torchvision_class}" if self.torchvision_class else "none"
        return (f"{self.name}: {self.summary}; {self.input_shape}, {self.num_classes} classes, {self.train_size:,} "
                f"training samples, augment (auto): {'yes' if self.augment else 'no'}; raw files: {self.raw_files}; "
                f"download: {download}")


DATASETS: Registry = Registry("data set", "dataset")
register, get = DATASETS.add, DATASETS.entry


_MNIST_FILES = "train-images-idx3-ubyte[.gz] and friends"

# MNIST's class counts are uneven, Fashion-MNIST's and CIFAR's even.
register(Dataset(
    "mnist", "handwritten digits (LeCun et al. 1998)", 1, 28, 10, 60000, "vrdl.data:read_mnist_format",
    _MNIST_FILES, "MNIST",
    class_counts=((5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
                  (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009))))
register(Dataset(
    "fashion_mnist", "Zalando's clothing images in MNIST's format (Xiao et al. 2017)", 1, 28, 10, 60000,
    "vrdl.data:read_mnist_format", _MNIST_FILES, "FashionMNIST", class_counts=((6000,) * 10, (1000,) * 10)))
register(Dataset(
    "cifar10", "tiny colour images, 10 classes (Krizhevsky 2009)", 3, 32, 10, 50000, "vrdl.data:read_cifar10",
    "cifar-10-batches-py/ (data_batch_1..5, test_batch)", "CIFAR10", class_counts=((5000,) * 10, (1000,) * 10),
    augment=True))
register(Dataset(
    "cifar100", "tiny colour images, 100 fine labels (Krizhevsky 2009)", 3, 32, 100, 50000,
    "vrdl.data:read_cifar100", "cifar-100-python/ (train, test)", "CIFAR100",
    class_counts=((500,) * 100, (100,) * 100), augment=True))
