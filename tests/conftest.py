"""Shared fixtures: real Fashion-MNIST (Debian's dataset-fashion-mnist) and tiny CIFAR files
written in the real CIFAR format."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

FASHION_MNIST_SOURCE = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion_mnist_dir(tmp_path_factory) -> Path:
    """A data dir holding fashion_mnist.pt, prepared from the Debian package's raw files."""
    from vrdl.data import prepare

    if not (FASHION_MNIST_SOURCE / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"real Fashion-MNIST is missing: apt-get install -y dataset-fashion-mnist "
                    f"(expected files in {FASHION_MNIST_SOURCE})")
    data_dir = tmp_path_factory.mktemp("data")
    prepare("fashion_mnist", data_dir, FASHION_MNIST_SOURCE)
    return data_dir


def write_cifar(root: Path, name: str = "cifar10", n_per_file: int = 64, seed: int = 0) -> Path:
    """Tiny CIFAR-10/100 files in the original python-pickle format under root."""
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        folder, label_key, classes = "cifar-10-batches-py", b"labels", 10
    else:
        files = ["train", "test"]
        folder, label_key, classes = "cifar-100-python", b"fine_labels", 100
    base = root / folder
    base.mkdir(parents=True, exist_ok=True)
    for f in files:
        n = n_per_file * (5 if name == "cifar100" and f == "train" else 1)
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: rng.integers(0, classes, n).tolist(),
        }
        with open(base / f, "wb") as fh:
            pickle.dump(batch, fh)
    return root


@pytest.fixture
def cifar10_source(tmp_path) -> Path:
    return write_cifar(tmp_path / "raw", "cifar10")


@pytest.fixture
def float64():
    """Default dtype float64 for the test (exact comparisons against transcriptions)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
