"""Splits, subsets, normalisation and augmentation; prepare from raw files and by download."""

import functools
import hashlib
import http.server
import threading

import pytest
import torch

from tests.conftest import FASHION_MNIST_SOURCE, write_cifar
from vrdl import data
from vrdl.train import RunConfig, load_splits


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("n,k", [(60000, 4), (103, 4), (10, 2)])
def test_folds_are_disjoint_and_cover_the_set_once(n, k):
    """Original defect 1: validation samples leaking into the training set."""
    seen = torch.zeros(n, dtype=torch.int64)
    for fold in range(k):
        train, val = data.split_indices(n, seed=1, folds=k, fold=fold)
        assert len(set(train.tolist()) & set(val.tolist())) == 0
        assert sorted(train.tolist() + val.tolist()) == list(range(n))
        seen[val] += 1
    assert torch.all(seen == 1)


def test_holdout_is_deterministic_in_the_seed():
    a = data.split_indices(1000, seed=1, val_fraction=0.05)
    b = data.split_indices(1000, seed=1, val_fraction=0.05)
    c = data.split_indices(1000, seed=2, val_fraction=0.05)
    assert torch.equal(a[1], b[1]) and len(a[1]) == 50
    assert not torch.equal(a[1], c[1])
    assert set(a[0].tolist()).isdisjoint(a[1].tolist())


def test_subset_is_reproducible_and_inside_the_portion():
    idx = torch.arange(100, 200)
    s1 = data.subset(idx, 10, seed=3, stream=data.TRAIN_SUBSET_STREAM)
    assert torch.equal(s1, data.subset(idx, 10, seed=3, stream=data.TRAIN_SUBSET_STREAM))
    assert not torch.equal(s1, data.subset(idx, 10, seed=4, stream=data.TRAIN_SUBSET_STREAM))
    assert set(s1.tolist()) <= set(idx.tolist()) and len(set(s1.tolist())) == 10


def test_normalisation_uses_the_training_portion_only(tmp_path):
    """Fold 0 is made of bright images: its statistics must not enter the normaliser."""
    n = 40
    train_x = torch.randint(0, 50, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    _, val = data.split_indices(n, seed=1, folds=2, fold=0)
    train_x[val] = 250
    parts = dict(train_x=train_x, train_y=torch.zeros(n, dtype=torch.int64),
                 test_x=torch.zeros(5, 1, 28, 28, dtype=torch.uint8), test_y=torch.zeros(5, dtype=torch.int64))
    data.save_prepared("mnist", parts, tmp_path)
    cfg = RunConfig(dataset="mnist", model="lenet", optimizer="sgd", lr=0.1, epochs=1, batch_size=4, folds=2, fold=0)
    train, evaluation = load_splits(cfg, tmp_path, torch.device("cpu"))
    assert torch.all(train.x < 50) and torch.all(evaluation.x == 250)
    x = torch.cat([xb for xb, _ in train.eval_batches()])
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std(unbiased=False)) - 1) < 1e-4
    assert float(evaluation.normalise(evaluation.x).mean()) > 10


def test_channel_stats_match_a_direct_computation():
    x = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    mean, std = data.channel_stats(x, chunk=7)
    xf = x.double() / 255
    torch.testing.assert_close(mean, xf.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(std, xf.permute(1, 0, 2, 3).reshape(3, -1).std(dim=1, unbiased=False))


def test_crop_and_flip_match_a_per_sample_transcription():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=g)
    shifts = torch.randint(0, 9, (6, 2), generator=g)
    flips = torch.rand(6, generator=g) < 0.5
    out = data.crop_and_flip(x, shifts, flips, pad=4)
    for i in range(6):
        padded = torch.nn.functional.pad(x[i], (4, 4, 4, 4))
        dy, dx = shifts[i].tolist()
        want = padded[:, dy : dy + 32, dx : dx + 32]
        if flips[i]:
            want = want.flip(-1)
        assert torch.equal(out[i], want)


def test_epoch_plan_is_reproducible_and_augmentation_streams_share_the_order():
    split = data.DeviceSplit(torch.zeros(20, 3, 32, 32, dtype=torch.uint8), torch.zeros(20, dtype=torch.int64),
                             torch.zeros(3), torch.ones(3), augment=True)
    a, b = split.epoch_plan(1, 3), split.epoch_plan(1, 3)
    assert torch.equal(a.order, b.order) and torch.equal(a.shifts, b.shifts)
    other = split.epoch_plan(1, 3, augmentation_stream=1)
    assert torch.equal(a.order, other.order) and not torch.equal(a.shifts, other.shifts)
    assert not torch.equal(a.order, split.epoch_plan(1, 4).order)


def test_prepare_reads_real_fashion_mnist(fashion_mnist_dir):
    parts = data.load("fashion_mnist", fashion_mnist_dir)
    assert parts["train_x"].shape == (60000, 1, 28, 28) and parts["test_x"].shape == (10000, 1, 28, 28)
    assert torch.bincount(parts["train_y"]).tolist() == [6000] * 10


@pytest.mark.parametrize("name,n_train,classes", [("cifar10", 5 * 64, 10), ("cifar100", 5 * 64, 100)])
def test_prepare_reads_the_cifar_format(tmp_path, name, n_train, classes):
    source = write_cifar(tmp_path / "raw", name)
    path = data.prepare(name, tmp_path / "data", source)
    parts = data.load(name, tmp_path / "data")
    assert path.name == f"{name}.pt"
    assert parts["train_x"].shape == (n_train, 3, 32, 32) and parts["test_x"].shape == (64, 3, 32, 32)
    assert int(parts["train_y"].max()) < classes


def test_prepare_downloads_with_torchvision(tmp_path, monkeypatch):
    """The real download code, served from the Debian files over a local HTTP server."""
    import torchvision.datasets

    source = FASHION_MNIST_SOURCE
    # Debian recompressed the .gz files: give torchvision their checksums, keep its check
    resources = [(name, hashlib.md5((source / name).read_bytes()).hexdigest())
                 for name, _ in torchvision.datasets.FashionMNIST.resources]
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "resources", resources)
    handler = functools.partial(QuietHandler, directory=str(source))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(torchvision.datasets.FashionMNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
        path = data.prepare("fashion_mnist", tmp_path / "data")
    finally:
        server.shutdown()
    assert data.load("fashion_mnist", tmp_path / "data")["test_y"].shape == (10000,)
    assert path.parent == tmp_path / "data" and list(path.parent.iterdir()) == [path]


def test_missing_data_says_how_to_provide_it(tmp_path, monkeypatch):
    import torchvision.datasets
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "url", "http://127.0.0.1:9/cifar.tar.gz")
    with pytest.raises(data.DataError, match="--source-dir") as err:
        data.prepare("cifar10", tmp_path / "data", tmp_path / "empty")
    assert "cifar-10-batches-py" in str(err.value)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())
    with pytest.raises(data.DataError, match="vrdl prepare"):
        data.load("cifar10", tmp_path / "data")
