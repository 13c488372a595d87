"""Per-epoch checkpoints that are verified before a run resumes from them.

A checkpoint is a plain dict (loadable with `torch.load(weights_only=True)`) plus `format` and
`sha256`, a digest of its whole content. On load, a file that cannot be read, is not a vrdl
checkpoint, does not match its digest (altered or damaged) or belongs to other settings is set
aside as PATH.rejected with a one-line message, and the run starts over: never a crash on every
rerun, never a silent resume of altered state.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from vrdl.files import save_atomic

FORMAT = "vrdl-checkpoint-1"


def digest(obj) -> str:
    """SHA-256 of a nested structure of dicts, lists, tensors and scalars, in its order."""
    h = hashlib.sha256()

    def walk(x):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy())
        elif isinstance(x, dict):
            h.update(f"D{len(x)}:".encode())
            for key, value in x.items():
                walk(key)
                walk(value)
        elif isinstance(x, list | tuple):
            h.update(f"L{len(x)}:".encode())
            for value in x:
                walk(value)
        else:
            h.update(f"{type(x).__name__}:{x!r};".encode())

    walk(obj)
    return h.hexdigest()


# checkpoint path -> the epoch it holds, as this process wrote or verified it (for the line a
# Ctrl-C prints: what a rerun resumes after)
_epochs: dict[str, int | None] = {}


def _remember(path: Path, payload: dict) -> None:
    try:  # a grid's checkpoint names its epoch, a run's has it in its last CSV row
        epoch = payload["epoch"] if "epoch" in payload else payload["state"]["rows"][-1]["epoch"]
    except (KeyError, IndexError, TypeError):
        epoch = None
    _epochs[os.path.abspath(path)] = epoch


def saved_epoch(path: Path) -> int | None:
    """The epoch of the checkpoint at `path` if this process wrote or verified it, else None."""
    return _epochs.get(os.path.abspath(path)) if path.is_file() else None


def save(payload: dict, path: Path) -> None:
    save_atomic(dict(payload, format=FORMAT, sha256=digest(payload)), path)
    _remember(path, payload)


def set_aside(path: Path, reason: str, log) -> None:
    """Rename an unusable checkpoint to PATH.rejected (kept for inspection) and say why."""
    _epochs.pop(os.path.abspath(path), None)
    rejected = path.with_name(path.name + ".rejected")
    os.replace(path, rejected)
    print(f"checkpoint {path} {reason}: moved it to {rejected.name} and starting over", file=log)


def of_another_kind(path: Path) -> bool:
    """Whether `path` is an existing file that is not a checkpoint of ours: never replaced nor set
    aside (a user's notes, the prepared data file). A file named *.ckpt counts as ours even when
    damaged: `load` sets it aside and the run starts over."""
    if not path.is_file() or path.suffix == ".ckpt":
        return False
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # mmap: no tensor is read
    except Exception:
        return True
    return not (isinstance(saved, dict) and saved.get("format") == FORMAT)


def load(path: Path, config, keys: tuple[str, ...], device, log) -> dict | None:
    """The checkpoint's payload if `path` holds an intact checkpoint of `config` with `keys`;
    None if there is none or it was set aside."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except OSError:  # a file we may not read is not damaged: the CLI names it, the cause and the fix
        raise
    except Exception as err:
        set_aside(path, f"is unreadable ({type(err).__name__})", log)
        return None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or not set(keys) <= saved.keys():
        set_aside(path, "is not a vrdl checkpoint of this version", log)
        return None
    payload = {key: value for key, value in saved.items() if key not in ("format", "sha256")}
    if saved.get("sha256") != digest(payload):
        set_aside(path, "does not match its checksum (altered or damaged)", log)
        return None
    if payload.get("config") != config:
        set_aside(path, "belongs to a run with other settings", log)
        return None
    _remember(path, payload)
    return payload
