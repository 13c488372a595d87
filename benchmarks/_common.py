"""Shared pieces of the benchmarks: real data in the layouts both pipelines expect, timing."""

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import torch

FASHION_MNIST_SOURCE = Path("/usr/share/datasets/fashion-mnist")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--source-dir", default=str(FASHION_MNIST_SOURCE), help="raw Fashion-MNIST files")
    return p


def setup(args) -> torch.device:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(args.device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device) -> float:
    """Seconds fn() takes, the device synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def torchvision_fashion_mnist_root(source_dir: str | Path) -> Path:
    """A temp dir in torchvision's FashionMNIST layout (root/FashionMNIST/raw/*-ubyte)."""
    root = Path(tempfile.mkdtemp(prefix="bench-fmnist-"))
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in Path(source_dir).glob("*-ubyte.gz"):
        with gzip.open(gz, "rb") as src, open(raw / gz.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def vrdl_data_dir(source_dir: str | Path) -> Path:
    """A temp data dir with fashion_mnist.pt prepared by vrdl."""
    from vrdl.data import prepare

    data_dir = Path(tempfile.mkdtemp(prefix="bench-vrdl-"))
    prepare("fashion_mnist", data_dir, source_dir)
    return data_dir


def headline(name: str, value: float) -> None:
    print(f"{name}: {value:.2f}")
