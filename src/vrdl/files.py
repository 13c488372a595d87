"""Writing outputs safely: atomic files, write errors that name the path, strict JSON.

Every file vrdl writes goes through a temporary file in the same directory, is synced, then
renamed over the target: a kill leaves the old file or none, never half of one. A failed write
(disk full, read-only, quota) raises OutputError naming the path instead of a library's
internal message (torch.save on a full disk says only "unexpected pos ...").

The temporary file is named `.NAME.pid<PID>@<HOST>.<random>.tmp` after its writer, so that the
next start of a run can remove what a killed writer left (`remove_stale_temporaries`). Files get
mode 0666 & ~umask, as `open()` would give them (mkstemp alone makes them 0600).

One writer per output: a run holds a lock on its outputs while it runs (`one_writer`), so a
second process on the same files is refused at start instead of mixing its files with the
first's. `explain` turns an OSError into one line: the path, the cause and its fix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import math
import os
import re
import socket
import tempfile
from pathlib import Path


class OutputError(RuntimeError):
    """An output that cannot be written; the message names the path and the cause."""


_CAUSES = {  # errno: (what it means, the fix)
    errno.EROFS: ("a read-only file system", "make it writable or choose a writable location"),
    errno.EACCES: ("permission denied", "fix its permissions (chmod/chown) or choose a writable location"),
    errno.EPERM: ("permission denied", "fix its permissions (chmod/chown) or choose a writable location"),
    errno.ENOSPC: ("the disk is full", "free space on it or choose another location"),
    errno.EDQUOT: ("the disk quota is full", "free space or choose another location"),
}


def _no_free_inodes(path: Path) -> bool:
    """ENOSPC with bytes to spare: the file system ran out of inodes (many small files)."""
    for place in (path, *path.parents):
        try:
            stats = os.statvfs(place)
        except OSError:
            continue
        return stats.f_files > 0 and stats.f_favail == 0
    return False


def explain(err: OSError, path: str | Path | None = None) -> str:
    """`PATH: CAUSE (what it means: the fix)` for an OSError from one of a run's own files."""
    cause = err.strerror or str(err)
    number = err.errno
    if number is None:  # pyarrow's OSError has it in its text only: "... Detail: [errno 13] ..."
        found = re.search(r"\[errno (\d+)\]", cause)
        number = int(found[1]) if found else None
    path = path if path is not None else err.filename
    meaning = _CAUSES.get(number)
    if number == errno.ENOSPC and path is not None and _no_free_inodes(Path(path)):
        meaning = ("the file system has no free inodes", "delete files there (many small ones) or choose "
                   "another location")
    return (f"{path}: {cause}" if path is not None else cause) + (f" ({meaning[0]}: {meaning[1]})" if meaning else "")


def _explain(path: Path, err: OSError) -> OutputError:
    return OutputError(f"cannot write {explain(err, path)}")


def check_writable(directory: str | Path) -> None:
    """Create `directory` if needed and prove a file can be written there, before any work."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".vrdl-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise _explain(directory, err) from None


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "_", socket.gethostname()) or "host"


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.pid{os.getpid()}@{_host()}."


def _umask() -> int:
    # Read by setting it and back: vrdl writes its files from one thread, so no file is created
    # in between with the wrong mask.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path: str | Path, log=None) -> list[Path]:
    """Remove the temporary files of atomic writes of `path` that a killed writer left behind.

    Only a file whose writer (the pid and host in its name) is this host's and no longer runs is
    removed: never one of a live process (another run writing the same file right now) nor one
    written on another host of a shared file system, whose process we cannot see. A pid reused
    since keeps its file until the next start: safe, if untidy."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.pid(\d+)@([^.]+)\.[^.]+\.tmp")
    removed = []
    try:
        candidates = list(path.parent.iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match and match[2] == _host() and not _alive(int(match[1])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    if removed and log is not None:
        print(f"removed {len(removed)} temporary file(s) a killed vrdl process left: "
              f"{', '.join(p.name for p in removed)}", file=log)
    return removed


class BusyError(OutputError):
    """Another live process is writing an output: it holds that output's lock."""


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def one_writer(files: list[tuple[str, Path]]):
    """Hold an exclusive lock on each of `files` (what, path) for the block; a second process
    that wants one of them is refused at once (BusyError naming the holder, pid@host).

    The lock is a flock on `.NAME.lock` beside the file, which holds the holder's pid@host for the
    message. The kernel drops a flock when its holder exits, however it dies (SIGKILL, OOM), so a
    lock file a killed run left never blocks a later run; a run that ends removes its own."""
    with contextlib.ExitStack() as stack:
        for what, path in files:
            stack.enter_context(_locked(what, Path(path)))
        yield


@contextlib.contextmanager
def _locked(what: str, path: Path):
    lock = lock_path(path)
    fd = _acquire(what, path, lock)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # removed while still held: see _acquire
            lock.unlink()
        os.close(fd)


def _acquire(what: str, path: Path, lock: Path) -> int:
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise _explain(lock, err) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "a process just starting"
            os.close(fd)
            raise BusyError(f"{what} {path} is being written by another vrdl process ({holder}, pid@host; "
                            f"it holds {lock}): wait for it to finish, or stop it and rerun this command "
                            "(it resumes from its checkpoint)") from None
        if _still_there(fd, lock):
            break
        os.close(fd)  # its holder removed it between our open and flock: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode(), 0)
    except OSError as err:
        os.close(fd)
        raise _explain(lock, err) from None
    return fd


def _still_there(fd: int, lock: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(lock))
    except FileNotFoundError:
        return False


def write_bytes_atomic(path: str | Path, data: bytes | memoryview) -> None:
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # a shared data cache stays readable to others
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # a full disk shows here on file systems that allocate late
        os.replace(tmp, path)
    except OSError as err:
        raise _explain(path, err) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: str | Path, text: str) -> None:
    """Write text through a temporary file and a rename."""
    write_bytes_atomic(path, text.encode())


def save_atomic(obj, path: str | Path) -> None:
    """torch.save, serialised in memory first so that a write error is an OSError we can name."""
    import torch  # here, not at the top: `vrdl optimizers`, `plan`, ... import no torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(path, buffer.getbuffer())


def finite_or_none(obj):
    """`obj` with every non-finite float (nan, inf) replaced by None, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_or_none(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite_or_none(value) for value in obj]
    return obj


def strict_json(obj) -> str:
    """Standard JSON (no NaN/Infinity tokens): non-finite numbers become null."""
    return json.dumps(finite_or_none(obj), indent=2, allow_nan=False) + "\n"
