"""Figure rules: one figure as PNG and PDF, drawn by the function its stage gives for the rule
(vrdl.stages.figure_functions)."""

import sys

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import file_errors_end_the_job, open_log, use_library  # noqa: E402

use_library(snakemake.scriptdir)  # noqa: F821
from vrdl.runs import RunFileError  # noqa: E402
from vrdl.stages import figure_functions  # noqa: E402


def main(smk) -> None:
    draw = figure_functions().get(smk.rule)
    if draw is None:
        raise ValueError(f"scripts/figures.py: no stage draws rule {smk.rule}")
    draw(smk.input, smk.params, (smk.output.png, smk.output.pdf))


sys.stderr = open_log(snakemake.log[0])  # noqa: F821  (a read-only logs/: one line, not a traceback)
with file_errors_end_the_job(snakemake.rule):  # noqa: F821
    try:
        main(snakemake)  # noqa: F821
    except RunFileError as err:  # a truncated, edited or mixed-up run file: one line naming it
        sys.exit(f"{snakemake.rule}: {err}")  # noqa: F821
