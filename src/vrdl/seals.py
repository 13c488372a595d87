"""Derived files prove themselves: a job that derives files from runs (the tidy tables, the
report) writes, last, a seal beside them: each file's SHA-256 in `sha256sum` format, so that
`sha256sum -c runs.sha256` checks them by hand too. The workflow checks the seals on every call
(not the files' mtimes): a derived file edited, replaced or damaged since its job wrote it is
rebuilt, never left in place behind "Nothing to be done"."""

from __future__ import annotations

import re
from pathlib import Path

from vrdl.files import write_atomic
from vrdl.identity import sha256_of

_LINE = re.compile(r"([0-9a-f]{64})  (.+)")


def write_seal(seal: str | Path, files: list[str | Path]) -> None:
    """The seal of `files`, each in the seal's directory (named relative to it)."""
    seal = Path(seal)
    lines = [f"{sha256_of(Path(path).read_bytes())}  {Path(path).relative_to(seal.parent)}" for path in files]
    write_atomic(seal, "\n".join(lines) + "\n")


def seal_problem(seal: str | Path) -> str | None:
    """Why the files a seal lists are not what their job wrote (the first that differs); None
    when they are, or when there is no seal yet (the job has not run)."""
    seal = Path(seal)
    if not seal.is_file():
        return None
    for line in seal.read_text().splitlines():
        match = _LINE.fullmatch(line)
        if not match:
            return f"{seal} is not a seal its job wrote (line {line[:60]!r})"
        path = seal.parent / match[2]
        if not path.is_file():
            return f"{path} is missing (listed in {seal})"
        if sha256_of(path.read_bytes()) != match[1]:
            return f"{path} is not the file its job wrote (its SHA-256 differs from {seal}): edited or replaced"
    return None
