"""Checkpoint select: the best grid point per optimizer (vrdl.select)."""

import sys

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import file_errors_end_the_job, open_log, use_library  # noqa: E402

use_library(snakemake.scriptdir)  # noqa: F821
from vrdl.select import SelectionError, run_selection  # noqa: E402


def main(smk) -> None:
    runs = [dict(run, csv=path) for run, path in zip(smk.params.runs, smk.input.runs, strict=True)]
    try:
        selected = run_selection(runs, smk.output.selected, smk.output.table)
    except SelectionError as err:
        sys.exit(f"select {smk.wildcards.study} bn~{smk.wildcards.bn}: {err}")
    print(selected.to_string(index=False), file=sys.stderr)


sys.stderr = open_log(snakemake.log[0])  # noqa: F821  (a read-only logs/: one line, not a traceback)
with file_errors_end_the_job(f"select {snakemake.wildcards.study} bn~{snakemake.wildcards.bn}"):  # noqa: F821
    main(snakemake)  # noqa: F821
