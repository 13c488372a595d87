"""Shared by the rule scripts: the vrdl library and command of this checkout's src/ (the code the
workflow fingerprinted), else the installed one (a workflow copied without src/)."""

from __future__ import annotations

import contextlib
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
    """Make `import vrdl` import this checkout's vrdl (else the installed one). First on sys.path:
    Snakemake's script preamble appends the workflow's sys.path, this src/ included, after the
    site-packages where an installed (editable) vrdl of another checkout may come first."""
    src = checkout_src(scriptdir)
    if not (src / "vrdl").is_dir():
        return
    while str(src) in sys.path:
        sys.path.remove(str(src))
    sys.path.insert(0, str(src))
    import vrdl

    if Path(vrdl.__file__).resolve().parent != (src / "vrdl").resolve():
        sys.exit(f"this job imported vrdl from {Path(vrdl.__file__).parent}, not from this checkout's "
                 f"{src / 'vrdl'} (imported before use_library?)")


def vrdl_command(scriptdir: str) -> list[str]:
    """This checkout's vrdl CLI, else `vrdl` of this job's environment (beside its Python, then PATH)."""
    src = checkout_src(scriptdir)
    if (src / "vrdl" / "cli.py").exists():
        return [sys.executable, "-c", _CLI_FROM_SOURCE, str(src)]
    beside = Path(sys.executable).with_name("vrdl")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("vrdl")
    if found:
        return [found]
    sys.exit("vrdl is not installed here and no checkout src/ was found: pip install -e . (README.md)")


def gpu_slot(log):
    """A GPU of its own for the running job while it runs, where it has a `gpu` resource (the
    training rules) and runs locally on a machine with CUDA devices (vrdl.gpu_slots); else None."""
    # The job is the `snakemake` object Snakemake puts into the rule script's globals; read here
    # rather than passed in so the rule scripts stay unchanged (their mtimes are rerun triggers).
    smk = getattr(sys.modules["__main__"], "snakemake", None)
    gpus = smk.resources.get("gpu", 0) if smk is not None else 0
    if not gpus:
        return None
    use_library(smk.scriptdir)
    from vrdl.gpu_slots import for_job

    compute = smk.config.get("compute") or {}
    try:
        return for_job(gpus, compute.get("device", "auto"), compute.get("gpus"), log=log)
    except ValueError as err:  # more GPUs per job than exist, a bad device list or lock directory
        log(str(err))
        sys.exit(str(err))


def open_log(path: str):
    """The job's log, open for writing; a log that cannot be written (a read-only or full logs/)
    ends the job with one line naming it, the cause and the fix, not a traceback."""
    try:
        return open(path, "w")
    except OSError as err:
        try:
            from vrdl.files import explain  # stdlib only: the cause and its fix

            problem = explain(err, path)
        except ImportError:
            problem = f"{path}: {err.strerror}"
        sys.exit(f"cannot write this job's log {problem}; then rerun snakemake")


@contextlib.contextmanager
def file_errors_end_the_job(what: str):
    """An OSError from the job's own files (its outputs, its inputs) ends the job with one line
    naming the file, the cause and the fix, as `vrdl` does, not a traceback."""
    try:
        yield
    except OSError as err:
        from vrdl.files import explain

        sys.exit(f"{what}: {explain(err)}; then rerun snakemake")
    except RuntimeError as err:
        from vrdl.files import OutputError  # what vrdl's atomic writes raise: it names the file

        if not isinstance(err, OutputError):
            raise
        sys.exit(f"{what}: {err}; then rerun snakemake")


def run_logged(argv: list[str], log_path: str, what: str) -> None:
    """Run argv, on the job's GPU slot if it gets one, with stdout and stderr into the job's log
    (after the command line and the slot); exit on failure."""
    with open_log(log_path) as log:

        def note(line: str) -> None:
            log.write(line + "\n")
            log.flush()

        note(f"$ {shlex.join(argv)}")
        slot = gpu_slot(note)
        try:
            # The training process gets the lock's descriptor too: the slot stays taken while
            # it runs, even if this script is killed first.
            status = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                    env=slot.env() if slot else None, pass_fds=slot.fds if slot else ()).returncode
        finally:
            if slot:
                slot.release(note)
    if status != 0:
        sys.exit(f"{what} exited with {status}; see {log_path}")
