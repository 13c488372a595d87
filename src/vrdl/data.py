"""Data sets as uint8 tensors on the device: prepare once, split, batch, augment and normalise.

A prepared data set is one file `DATA_DIR/NAME.pt` holding `train_x`, `train_y`, `test_x`,
`test_y` (images uint8 [N, C, H, W], labels int64) and its `fingerprint`: the data set's name,
shapes, class counts and a SHA-256 of the tensors' contents. Loading checks all of it, so a file
copied under another name, damaged or edited is refused naming the file; the hash goes into
every run's RUN.json so that runs trained on different data are never compared.

Training keeps a whole split on the device; every epoch is a permutation plus per-sample crop
offsets and flips drawn up front (so SVRG's snapshot pass and its steps can see the same
augmented data set), applied as batched tensor ops.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import math
import os
import pickle
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vrdl.datasets import DATASETS, Dataset
from vrdl.files import check_writable, remove_stale_temporaries, save_atomic


class DataError(RuntimeError):
    """A data set that cannot be found or read; the message says how to provide it."""


CROP_PADDING = 4


def dataset_info(name: str) -> Dataset:
    """The data set's registry entry (vrdl.datasets)."""
    try:
        return DATASETS.entry(name)
    except ValueError as err:
        raise DataError(str(err)) from None


# ---------------------------------------------------------------------------- raw formats
# The readers of the registry's data sets: raw files under a directory -> the four tensors, or None.


def _find(root: Path, names: list[str]) -> Path | None:
    """The first of `names` under root, looking in root and up to three levels below it."""
    for depth in range(4):
        for name in names:
            hits = sorted(root.glob("/".join(["*"] * depth + [name])))
            if hits:
                return hits[0]
    return None


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path} is truncated or not a gzip file ({type(err).__name__}: {err})") from None
    if len(data) < 4 or data[0] * 256 + data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if len(data) != 4 + 4 * ndim + math.prod(shape):
        raise DataError(f"{path} is truncated: {len(data)} bytes for an IDX file of shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def read_mnist_format(root: Path) -> dict[str, torch.Tensor] | None:
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _find(root, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images-idx3-ubyte.gz"])
        labels = _find(root, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels-idx1-ubyte.gz"])
        if images is None or labels is None:
            return None
        parts[f"{split}_x"] = torch.from_numpy(_read_idx(images).copy()).unsqueeze(1)
        parts[f"{split}_y"] = torch.from_numpy(_read_idx(labels).astype(np.int64))
    return parts


def _read_cifar_format(root: Path, folder: str, train: list[str], test: str, label_key: bytes):
    base = root if root.name == folder else _find(root, [folder])
    if base is None or not all((base / f).is_file() for f in [*train, test]):
        return None
    parts = {}
    for split, files in (("train", train), ("test", [test])):
        xs, ys = [], []
        for f in files:
            try:
                with open(base / f, "rb") as fh:
                    batch = pickle.load(fh, encoding="bytes")
                xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(batch[label_key], dtype=np.int64))
            except Exception as err:  # truncated, not a pickle, or another pickle than CIFAR's
                raise DataError(f"{base / f} is truncated or not a CIFAR batch file "
                                f"({type(err).__name__}: {err})") from None
        parts[f"{split}_x"] = torch.from_numpy(np.concatenate(xs))
        parts[f"{split}_y"] = torch.from_numpy(np.concatenate(ys))
    return parts


def read_cifar10(root: Path) -> dict[str, torch.Tensor] | None:
    train = [f"data_batch_{i}" for i in range(1, 6)]
    return _read_cifar_format(root, "cifar-10-batches-py", train, "test_batch", b"labels")


def read_cifar100(root: Path) -> dict[str, torch.Tensor] | None:
    return _read_cifar_format(root, "cifar-100-python", ["train"], "test", b"fine_labels")


def read_raw(name: str, root: Path) -> dict[str, torch.Tensor] | None:
    """The data set read from its original files under `root`, or None if they are not there."""
    if not root.is_dir():
        return None
    info = dataset_info(name)
    try:
        return info.read(root)
    except DataError as err:
        raise DataError(f"{err}.\nFix: replace it with an intact copy of the original file (download it "
                        f"again) in --source-dir {root} (the workflow's config key data.sources.{name})") from None


def _download(name: str, root: Path) -> dict[str, torch.Tensor]:
    """Fetch the original files with torchvision into `root`, then read them like a source dir."""
    import torchvision.datasets

    info = dataset_info(name)
    if info.torchvision_class is None:
        raise DataError(f"{name} has no download (no torchvision class in its registry entry)")
    cls = getattr(torchvision.datasets, info.torchvision_class)
    for train in (True, False):
        cls(str(root), train=train, download=True)
    parts = read_raw(name, root)
    if parts is None:
        raise DataError(f"torchvision downloaded {name} into {root} but its files are not readable")
    return parts


# ---------------------------------------------------------------------------- prepare / load


def prepared_path(name: str, data_dir: str | Path) -> Path:
    return Path(data_dir) / f"{name}.pt"


def _check(name: str, parts: dict[str, torch.Tensor]) -> None:
    info = dataset_info(name)
    for split in ("train", "test"):
        x, y = parts[f"{split}_x"], parts[f"{split}_y"]
        expected = (info.channels, info.image_size, info.image_size)
        if x.dtype != torch.uint8 or tuple(x.shape[1:]) != expected or len(x) != len(y):
            raise DataError(f"{name} {split} images have shape {tuple(x.shape)}, expected [N, {expected}]")
        if int(y.min()) < 0 or int(y.max()) >= info.num_classes:
            raise DataError(f"{name} {split} labels fall outside 0..{info.num_classes - 1}")


SPLITS = ("train_x", "train_y", "test_x", "test_y")


def content_hash(parts: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the four tensors' names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for key in SPLITS:
        tensor = parts[key].contiguous()
        digest.update(f"{key} {tensor.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.numpy())
    return digest.hexdigest()


def fingerprint(name: str, parts: dict[str, torch.Tensor]) -> dict:
    classes = dataset_info(name).num_classes
    return dict(
        dataset=name,
        shapes={key: list(parts[key].shape) for key in SPLITS},
        class_counts={split: torch.bincount(parts[f"{split}_y"], minlength=classes).tolist()
                      for split in ("train", "test")},
        sha256=content_hash(parts),
    )


def _prepare_fix(name: str, path: Path) -> str:
    return (f"Fix: delete {path} and run `vrdl prepare --dataset {name} --data-dir {path.parent} "
            f"--source-dir RAW_DIR` (the workflow's prepare_data rule does this once the file is gone).")


def verify(name: str, path: Path) -> dict:
    """The prepared data set in `path` if it is intact and is `name`; DataError naming the file
    and the fix otherwise. The returned dict holds the four tensors and `fingerprint`."""
    try:
        saved = torch.load(path, weights_only=True)
    except OSError:  # unreadable here (permissions, I/O): the CLI names the file, the cause and the fix
        raise
    except Exception as err:  # torch's own message blames "your checkpoint file"
        raise DataError(f"{path} is not a readable prepared data set ({type(err).__name__}: it is "
                        f"truncated, damaged or not a vrdl data file).\n{_prepare_fix(name, path)}") from None
    if not isinstance(saved, dict) or not all(isinstance(saved.get(k), torch.Tensor) for k in SPLITS):
        raise DataError(f"{path} does not hold a prepared data set ({', '.join(SPLITS)}).\n"
                        f"{_prepare_fix(name, path)}")
    recorded = saved.get("fingerprint")
    if not isinstance(recorded, dict):
        raise DataError(f"{path} has no fingerprint (prepared by an older vrdl or by hand), so it cannot be "
                        f"checked to be {name}.\n{_prepare_fix(name, path)}")
    if recorded.get("dataset") != name:
        raise DataError(f"{path} holds data set {recorded.get('dataset')!r}, not {name!r} (a file copied or "
                        f"renamed?).\n{_prepare_fix(name, path)}")
    parts = {key: saved[key] for key in SPLITS}
    try:
        _check(name, parts)
    except DataError as err:
        raise DataError(f"{path}: {err}.\n{_prepare_fix(name, path)}") from None
    actual = fingerprint(name, parts)
    if actual != recorded:
        differs = ", ".join(key for key in actual if actual[key] != recorded.get(key))
        raise DataError(f"{path}: its contents do not match its fingerprint ({differs} differ): the file was "
                        f"altered or damaged.\n{_prepare_fix(name, path)}")
    return dict(parts, fingerprint=recorded)


def recognise(name: str, parts: dict[str, torch.Tensor]) -> None:
    """DataError unless the tensors can be data set `name`: the class counts of another data set's
    published splits (the registry's class_counts), or of a full-size split that are not `name`'s,
    are refused."""
    info = dataset_info(name)
    counts = tuple(tuple(torch.bincount(parts[f"{split}_y"], minlength=info.num_classes).tolist())
                   for split in ("train", "test"))
    for other in DATASETS.values():
        if other.name != name and counts == other.class_counts:
            raise DataError(f"these files hold {other.name}, not {name} (their class counts are {other.name}'s): "
                            f"check the source directory (config key data.sources.{name})")
    if info.class_counts is None:
        return
    full = tuple(map(sum, info.class_counts))
    if (len(parts["train_y"]), len(parts["test_y"])) == full and counts != info.class_counts:
        raise DataError(f"these files are not {name}: its standard splits have other class counts "
                        f"(check the source directory, config key data.sources.{name})")


def save_prepared(name: str, parts: dict[str, torch.Tensor], data_dir: str | Path) -> Path:
    """Check the tensors, fingerprint them and write `DATA_DIR/NAME.pt` atomically."""
    _check(name, parts)
    recognise(name, parts)
    target = prepared_path(name, data_dir)
    parts = {key: parts[key].contiguous() for key in SPLITS}
    save_atomic(dict(parts, fingerprint=fingerprint(name, parts)), target)
    return target


def prepare(name: str, data_dir: str | Path, source_dir: str | Path | None = None) -> Path:
    """Make `DATA_DIR/NAME.pt`: an intact prepared file is kept; a missing or broken one is
    built from the raw files in source_dir, else downloaded. One process at a time per data dir (a
    lock on it): checkouts sharing a data dir never build it twice, and readers see the old
    file or the new one (written then renamed), never a missing or partial one."""
    check_writable(data_dir)
    lock = os.open(data_dir, os.O_RDONLY)  # the directory itself: no lock file left behind
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _prepare_locked(name, data_dir, source_dir)
    finally:
        os.close(lock)


def _prepare_locked(name: str, data_dir: str | Path, source_dir: str | Path | None) -> Path:
    info = dataset_info(name)
    target = prepared_path(name, data_dir)
    remove_stale_temporaries(target, sys.stderr)  # a killed build's partial copy (55 MB to 180 MB)
    refused = ""
    if target.is_file():
        try:
            verify(name, target)
            return target
        except DataError as err:
            refused = str(err).splitlines()[0]
            print(f"vrdl prepare: {refused}; rebuilding it", file=sys.stderr)
    parts = read_raw(name, Path(source_dir)) if source_dir else None
    if parts is None:
        download_dir = Path(tempfile.mkdtemp(prefix=f"{name}-download-"))
        try:
            parts = _download(name, download_dir)
        except Exception as err:
            where = f"no raw files in --source-dir {source_dir}" if source_dir else "no --source-dir given"
            have = f"{refused}, " if refused else f"no prepared file {target}, "
            raise DataError(
                f"cannot find data set {name}: {have}{where}, and the download "
                f"failed ({type(err).__name__}: {err}).\nFix: put the original files "
                f"({info.raw_files}) in a directory and pass it as --source-dir (the workflow's "
                f"config key `data.sources.{name}`), or run `vrdl prepare --dataset {name}` on "
                f"a machine with internet and copy {target.name} into {Path(data_dir)}."
            ) from None
        finally:
            shutil.rmtree(download_dir, ignore_errors=True)
    return save_prepared(name, parts, data_dir)


def load(name: str, data_dir: str | Path) -> dict:
    """The verified prepared data set: the four tensors and its `fingerprint`."""
    path = prepared_path(name, data_dir)
    if not path.is_file():
        raise DataError(
            f"data set {name} is not prepared: {path} does not exist.\n"
            f"Fix: run `vrdl prepare --dataset {name} --data-dir {data_dir} [--source-dir RAW_DIR]`."
        )
    return verify(name, path)


# ---------------------------------------------------------------------------- splits


def generator(seed: int, *stream: int) -> torch.Generator:
    """An independent, reproducible random stream for (seed, *stream)."""
    state = np.random.SeedSequence([seed, *stream]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


# stream ids, so that every random choice has its own reproducible generator
SPLIT_STREAM, TRAIN_SUBSET_STREAM, EVAL_SUBSET_STREAM, EPOCH_STREAM, METAINIT_STREAM, VARIANCE_STREAM = range(1, 7)


def kfold_indices(n: int, folds: int, seed: int) -> list[torch.Tensor]:
    """K disjoint, sorted index sets that together cover range(n) exactly once."""
    if folds < 2 or folds > n:
        raise ValueError(f"folds must be between 2 and {n}, got {folds}")
    perm = torch.randperm(n, generator=generator(seed, SPLIT_STREAM))
    return [part.sort().values for part in torch.tensor_split(perm, folds)]


def split_indices(
    n: int, seed: int, *, folds: int | None = None, fold: int | None = None,
    val_fraction: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(training portion, validation portion) of range(n); no validation part: (all, None)."""
    if folds is not None:
        if fold is None or not 0 <= fold < folds:
            raise ValueError(f"fold must be in 0..{folds - 1}, got {fold}")
        parts = kfold_indices(n, folds, seed)
        train = torch.cat([p for i, p in enumerate(parts) if i != fold]).sort().values
        return train, parts[fold]
    if val_fraction is not None:
        n_val = round(n * val_fraction)
        if not 0 < n_val < n:
            raise ValueError(f"val_fraction {val_fraction} leaves no validation or no training data")
        perm = torch.randperm(n, generator=generator(seed, SPLIT_STREAM))
        return perm[n_val:].sort().values, perm[:n_val].sort().values
    return torch.arange(n), None


def subset(indices: torch.Tensor, size: int | None, seed: int, stream: int) -> torch.Tensor:
    """A reproducible random subset of `size` of the indices (all of them if size is None)."""
    if size is None or size >= len(indices):
        return indices
    if size < 1:
        raise ValueError(f"subset size must be positive, got {size}")
    keep = torch.randperm(len(indices), generator=generator(seed, stream))[:size]
    return indices[keep.sort().values]


# ---------------------------------------------------------------------------- on the device


@dataclass
class EpochPlan:
    """One epoch's minibatch order and augmentation, drawn before any gradient of the epoch."""

    order: torch.Tensor  # permutation of the training portion
    shifts: torch.Tensor | None  # [n, 2] crop offsets in 0..2*CROP_PADDING, by position in order
    flips: torch.Tensor | None  # [n] horizontal flip, by position in order


def channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images scaled to [0, 1]: float64, two passes, chunked."""
    count = len(x) * x.shape[2] * x.shape[3]

    def chunks():
        for start in range(0, len(x), chunk):
            yield x[start : start + chunk].to(torch.float64) / 255

    mean = sum(part.sum(dim=(0, 2, 3)) for part in chunks()) / count
    var = sum((part - mean.view(1, -1, 1, 1)).square().sum(dim=(0, 2, 3)) for part in chunks()) / count
    return mean, var.sqrt()


def crop_and_flip(x: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Per-sample random crop (zero padding `pad`) then horizontal flip, as two batched gathers:
    rows first, then columns (a flip is a reversed column index)."""
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (shifts[:, :1] + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    padded = padded.gather(2, rows.expand(b, c, h, w + 2 * pad))
    cols = shifts[:, 1:] + torch.arange(w, device=x.device)
    cols = torch.where(flips[:, None], cols.flip(1), cols).view(b, 1, 1, w)
    return padded.gather(3, cols.expand(b, c, h, w))


class DeviceSplit:
    """One portion of a data set on the device with the normaliser of the training portion."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 *, augment: bool = False, dtype: torch.dtype = torch.float32,
                 memory_format: torch.memory_format = torch.contiguous_format, data_sha256: str | None = None):
        self.x, self.y, self.augment, self.memory_format = x, y, augment, memory_format
        self.data_sha256 = data_sha256  # content hash of the prepared file it came from
        std = torch.where(std > 1e-6, std, torch.ones_like(std))  # a constant channel
        # (x/255 - mean)/std == x * scale + shift, in the training dtype
        self.scale = (1 / (255 * std)).to(dtype).view(1, -1, 1, 1)
        self.shift = (-mean / std).to(dtype).view(1, -1, 1, 1)

    def __len__(self) -> int:
        return len(self.y)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.addcmul(self.shift, x.to(self.scale.dtype), self.scale)
        return x.contiguous(memory_format=self.memory_format)

    def epoch_plan(self, seed: int, epoch: int, augmentation_stream: int = 0,
                   order_stream: int = EPOCH_STREAM) -> EpochPlan:
        """The epoch's order and augmentation; another augmentation_stream redraws only the
        augmentation of the same order (for the transform-locking ablation)."""
        n, device = len(self), self.x.device
        order = torch.randperm(n, generator=generator(seed, order_stream, epoch)).to(device)
        if not self.augment:
            return EpochPlan(order, None, None)
        g = generator(seed, order_stream, epoch, 1 + augmentation_stream)
        shifts = torch.randint(0, 2 * CROP_PADDING + 1, (n, 2), generator=g).to(device)
        flips = (torch.rand(n, generator=g) < 0.5).to(device)
        return EpochPlan(order, shifts, flips)

    def batches(self, plan: EpochPlan, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's minibatches (the last one may be smaller), augmented and normalised."""
        for start in range(0, len(plan.order), batch_size):
            idx = plan.order[start : start + batch_size]
            x = self.x[idx]
            if plan.shifts is not None:
                stop = start + len(idx)
                x = crop_and_flip(x, plan.shifts[start:stop], plan.flips[start:stop], CROP_PADDING)
            yield self.normalise(x), self.y[idx]

    def eval_batches(self, batch_size: int = 1000) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self), batch_size):
            yield self.normalise(self.x[start : start + batch_size]), self.y[start : start + batch_size]
