"""Shared by the rule scripts: the vrdl command and library of the environment a job runs in,
falling back to this checkout's src/ (a conda env from envs/vrdl.yaml has the dependencies but
not the package itself)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# Runs vrdl.cli from the directory given as the first argument.
_CLI_FROM_SOURCE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'vrdl'; from vrdl.cli import main; main()"
)


def checkout_src(scriptdir: str) -> Path:
    return Path(scriptdir).resolve().parent / "src"


def use_library(scriptdir: str) -> None:
    """Make `import vrdl` work: installed, or else from the checkout."""
    try:
        import vrdl  # noqa: F401
    except ModuleNotFoundError:
        sys.path.insert(0, str(checkout_src(scriptdir)))


def vrdl_command(scriptdir: str) -> list[str]:
    """`vrdl` of this job's environment (beside its Python, then PATH), else the checkout's CLI."""
    beside = Path(sys.executable).with_name("vrdl")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("vrdl")
    if found:
        return [found]
    src = checkout_src(scriptdir)
    if not (src / "vrdl" / "cli.py").exists():
        sys.exit("vrdl is not installed here and no checkout src/ was found: pip install -e . (README.md)")
    return [sys.executable, "-c", _CLI_FROM_SOURCE, str(src)]


def run_logged(argv: list[str], log_path: str, what: str) -> None:
    """Run argv with stdout and stderr into the job's log (after the command line); exit on failure."""
    with open(log_path, "w") as log:
        log.write(f"$ {shlex.join(argv)}\n")
        log.flush()
        status = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        sys.exit(f"{what} exited with {status}; see {log_path}")
