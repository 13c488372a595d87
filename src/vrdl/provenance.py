"""Which code produced a run: the git commit of the vrdl checkout, whether its tree had
uncommitted changes, the run's code fingerprint (vrdl.fingerprint) and where vrdl was imported
from. Recorded in every RUN.json; the report shows the commits and warns when they differ or
were dirty. No torch here."""

from __future__ import annotations

import subprocess
from pathlib import Path

from vrdl import fingerprint


def _git(directory: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def git_state(directory: Path) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding `directory`; (None, None) outside one (an
    installed wheel, a copied workflow). Dirty: tracked files changed or untracked files that
    git does not ignore (results/, data/ and the like are ignored)."""
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = _git(directory, "status", "--porcelain")
    return commit.strip(), (None if status is None else bool(status.strip()))


def describe(optimizer: str, stacked: bool = False) -> dict:
    """The provenance fields of a run's RUN.json."""
    source = fingerprint.source_root()
    commit, dirty = git_state(source)
    return dict(
        git_commit=commit,
        git_dirty=dirty,
        code_fingerprint=fingerprint.run_fingerprint(optimizer, stacked),
        vrdl_path=str(source / "vrdl"),
    )
