"""Rule prepare_data: `vrdl prepare` one data set into DATA_DIR/DATASET.pt."""

import sys
from pathlib import Path

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import run_logged, vrdl_command  # noqa: E402


def main(smk) -> None:
    out = Path(smk.output[0])
    argv = [*vrdl_command(smk.scriptdir), "prepare", "--dataset", smk.wildcards.dataset]
    argv += ["--data-dir", str(out.parent)]
    if smk.params.source_dir:
        argv += ["--source-dir", smk.params.source_dir]
    run_logged(argv, smk.log[0], "vrdl prepare")
    if not out.exists():
        sys.exit(f"vrdl prepare did not write {out}; see {smk.log[0]}")


main(snakemake)  # noqa: F821
