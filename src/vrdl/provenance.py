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


CODE_PATHS = ("src/", "workflow/", "scripts/", "config/", "envs/", "pyproject.toml")  # what runs or configures
MAX_DIRTY_FILES = 20


def git_state(directory: Path) -> tuple[str | None, bool | None, list[str]]:
    """(commit, dirty, dirty files) of the git work tree holding `directory`; (None, None, [])
    outside one (an installed wheel, a copied workflow). Dirty: changed or untracked files that
    git does not ignore under CODE_PATHS; anything else (a symlinked .venv, which `.venv/` in
    .gitignore does not match, notes, tests) is not code that ran."""
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return None, None, []
    top = _git(directory, "rev-parse", "--show-toplevel")
    status = _git(Path(top.strip()) if top else directory, "status", "--porcelain", "--untracked-files=all")
    if status is None:
        return commit.strip(), None, []
    files = code_changes(status)
    return commit.strip(), bool(files), files


def code_changes(porcelain: str) -> list[str]:
    """The paths of `git status --porcelain` lines under CODE_PATHS (renames: the new path)."""
    paths = [line[3:].split(" -> ")[-1].strip('"') for line in porcelain.splitlines() if len(line) > 3]
    return [path for path in paths if path.startswith(CODE_PATHS)]


def describe(optimizer: str, stacked: bool = False) -> dict:
    """The provenance fields of a run's RUN.json."""
    source = fingerprint.source_root()
    commit, dirty, files = git_state(source)
    return dict(
        git_commit=commit,
        git_dirty=dirty,
        git_dirty_files=files[:MAX_DIRTY_FILES],
        code_fingerprint=fingerprint.run_fingerprint(optimizer, stacked),
        vrdl_path=str(source / "vrdl"),
    )
