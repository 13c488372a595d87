"""One GPU per training job on a multi-GPU workstation.

`snakemake --resources gpu=N` lets N training jobs run at once, but each would open `cuda:0`.
A job therefore takes a free *slot*, one per device, for its lifetime and hands its training
process `CUDA_VISIBLE_DEVICES` naming only that device.

A slot is an exclusive `fcntl.flock` on the file `gpu-<device>.lock` in the lock directory:
`$VRDL_GPU_LOCK_DIR`, else `<tmp>/vrdl-gpu-slots-<uid>` (one per user, shared by all of that
user's checkouts and Snakemake runs, so they never put two jobs on one GPU). The OS drops a
flock when the last process holding its file descriptor ends, however it ends (SIGKILL
included), so slots never leak. The job script holds the descriptor and passes it to the
training process, so the slot stays taken while either still runs.

Which devices exist: `compute.gpus` (a count or a list of `CUDA_VISIBLE_DEVICES` entries), else
`CUDA_VISIBLE_DEVICES` of the environment, else the CUDA device count. Nothing is taken (the
environment passes unchanged) for jobs without a `gpu` resource, with `--device cpu`, under
SLURM (the scheduler already gave the job its device) or where no device exists.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

LOCK_DIR_ENV = "VRDL_GPU_LOCK_DIR"
VISIBLE = "CUDA_VISIBLE_DEVICES"


def lock_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """$VRDL_GPU_LOCK_DIR, else a per-user directory under the system's temporary directory."""
    if environ.get(LOCK_DIR_ENV):
        return Path(environ[LOCK_DIR_ENV])
    return Path(tempfile.gettempdir()) / f"vrdl-gpu-slots-{os.getuid()}"


class SlotError(ValueError):
    """A device list or lock directory that cannot work; the message names it and the fix."""


# What CUDA takes as a device: an index, or a GPU-/MIG- UUID (or a unique prefix of one)
_DEVICE = re.compile(r"\d+|(GPU|MIG)-[A-Za-z0-9/-]+")


def check_device(entry: str, where: str) -> str:
    if not _DEVICE.fullmatch(entry):
        raise SlotError(f"{where}: {entry!r} is not a CUDA device (an index 0, 1, ... or a GPU-/MIG- UUID "
                        "as `nvidia-smi -L` lists them); fix it, e.g. CUDA_VISIBLE_DEVICES=0,1, or unset it")
    return entry


def parse_visible(value: str) -> list[str]:
    """The entries of a CUDA_VISIBLE_DEVICES value; CUDA ignores everything from the first
    negative index on (`-1` hides all devices). Anything else that is not a device is refused:
    CUDA would silently hide every device from it on, and we would take it for a slot name."""
    devices = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry or entry.startswith("-"):
            break
        devices.append(check_device(entry, f"{VISIBLE}={value}"))
    return devices


def count_devices() -> int:
    """CUDA devices of this machine: torch's count, else `nvidia-smi -L`; 0 without either."""
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        return torch.cuda.device_count()
    if shutil.which("nvidia-smi") is None:
        return 0
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    return sum(line.startswith("GPU ") for line in listing.splitlines())


def devices(configured: int | list | None = None, environ: Mapping[str, str] = os.environ,
            count: Callable[[], int] = count_devices) -> list[str]:
    """The devices jobs may take, as CUDA_VISIBLE_DEVICES entries (see the module's docstring)."""
    if isinstance(configured, int):
        return [str(i) for i in range(configured)]
    if configured:
        return [check_device(str(d), "compute.gpus") for d in configured]
    if VISIBLE in environ:
        return parse_visible(environ[VISIBLE])
    return [str(i) for i in range(count())]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass
class Slot:
    """Held slots: their devices and open, locked descriptors (closed by `release`)."""

    devices: list[str]
    fds: list[int]
    paths: list[Path] = field(default_factory=list)

    @property
    def visible(self) -> str:
        return ",".join(self.devices)

    def env(self, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
        """The training process's environment: only the slot's devices visible."""
        return {**environ, VISIBLE: self.visible}

    def release(self, log: Callable[[str], None] | None = None) -> None:
        """Unlock: close the descriptors (call it after the training process, which holds copies, ended)."""
        if log is not None and self.fds:
            log(f"gpu slot: {VISIBLE}={self.visible} released at {_now()}")
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _file_name(device: str) -> str:
    return "gpu-" + re.sub(r"[^A-Za-z0-9._-]", "_", device) + ".lock"


def _lock_dir_error(what: str, err: OSError) -> SlotError:
    return SlotError(f"cannot use GPU slot lock {what}: {err.strerror}; make its directory writable or set "
                     f"{LOCK_DIR_ENV} to a writable directory (one shared by every job that may use these GPUs)")


def try_acquire(available: list[str], count: int = 1, directory: Path | None = None) -> Slot | None:
    """`count` free slots among `available` (first free first) without waiting, or None. Never
    holds some while waiting for the rest, so jobs asking for several GPUs cannot deadlock."""
    directory = lock_dir() if directory is None else Path(directory)
    held = Slot([], [])
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _lock_dir_error(f"directory {directory}", err) from None
    for device in available:
        path = directory / _file_name(device)
        # Read-only suffices for flock, so other users' jobs can lock files one user created
        # (in a shared lock directory). `lslocks` shows who holds which.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError as err:
            held.release()
            raise _lock_dir_error(str(path), err) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        held.devices.append(device)
        held.fds.append(fd)
        held.paths.append(path)
        if len(held.devices) == count:
            return held
    held.release()
    return None


def acquire(available: list[str], count: int = 1, directory: Path | None = None, poll: float = 0.5,
            on_wait: Callable[[str], None] | None = None) -> Slot:
    """`count` slots among `available`, waiting until they are free (another checkout or user's
    jobs may hold some: a job waits rather than share a GPU)."""
    if count > len(available):
        raise ValueError(f"a job asks for {count} GPUs (compute.gpus_per_job) but only {len(available)} "
                         f"exist ({','.join(available) or 'none'}); lower compute.gpus_per_job or set compute.gpus")
    directory = lock_dir() if directory is None else Path(directory)
    next_note = 0.0
    while (slot := try_acquire(available, count, directory)) is None:
        if on_wait is not None and time.monotonic() >= next_note:
            on_wait(f"gpu slot: waiting for {count} free GPU slot(s) of {','.join(available)} (locks in {directory})")
            next_note = time.monotonic() + 60
        time.sleep(poll)
    return slot


def for_job(gpus: int, device: str, configured: int | list | None = None,
            environ: Mapping[str, str] = os.environ, log: Callable[[str], None] = print,
            directory: Path | None = None) -> Slot | None:
    """The slot(s) of a training job asking for `gpus` of the `gpu` resource, with `vrdl train
    --device DEVICE`; None where the environment passes unchanged. Says what it did in `log`."""
    if not gpus or device == "cpu":
        return None
    if environ.get("SLURM_JOB_ID"):
        log(f"gpu slot: none taken under SLURM (job {environ['SLURM_JOB_ID']}); "
            f"{VISIBLE}={environ.get(VISIBLE, '(unset)')} as the scheduler set it")
        return None
    available = devices(configured, environ)
    if not available:
        log("gpu slot: none taken, no CUDA device found")
        return None
    directory = lock_dir(environ) if directory is None else directory
    slot = acquire(available, gpus, directory, on_wait=log)
    log(f"gpu slot: {VISIBLE}={slot.visible} held from {_now()} (of {','.join(available)}; "
        f"lock {', '.join(map(str, slot.paths))})")
    return slot
