"""Training rules (tune, final, metainit, convex, ablation): one `vrdl train` run. Arguments
from params, paths from input/output; a rerun resumes from the checkpoint a failed attempt left."""

import sys
from pathlib import Path

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import run_logged, use_library, vrdl_command  # noqa: E402


def write_empty_variance(path: str) -> None:
    """`final` declares RUN.variance.csv for all its jobs once any study asks for diagnostics;
    a run of a study that does not gets the header only."""
    use_library(snakemake.scriptdir)  # noqa: F821
    from vrdl.variance import COLUMNS

    Path(path).write_text(",".join(COLUMNS) + "\n")


def main(smk) -> None:
    # vrdl train creates and checks the checkpoint's directory (a read-only one: one line naming it)
    checkpoint = Path(smk.params.checkpoint)
    argv = [
        *vrdl_command(smk.scriptdir), "train", *smk.params.args,
        "--data-dir", str(Path(smk.input.data).parent),
        "--threads", str(smk.threads),
        "--checkpoint", str(checkpoint),
        "--out", smk.output.csv,
    ]  # fmt: skip
    run_logged(argv, smk.log[0], "vrdl train")
    variance = dict(smk.output.items()).get("variance")
    if variance and "--variance-epochs" not in smk.params.args:
        write_empty_variance(variance)
    for path in smk.output:
        if not Path(path).exists():
            sys.exit(f"vrdl train did not write {path}; see {smk.log[0]}")


main(snakemake)  # noqa: F821
