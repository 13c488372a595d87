"""Rules figure_tuning, figure_final, figure_metainit: one figure as PNG and PDF (vrdl.plots)."""

import sys

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import use_library  # noqa: E402

use_library(snakemake.scriptdir)  # noqa: F821
from vrdl import plots  # noqa: E402


def main(smk) -> None:
    out = (smk.output.png, smk.output.pdf)
    if smk.rule == "figure_tuning":
        runs = [dict(run, csv=path) for run, path in zip(smk.params.runs, smk.input.runs, strict=True)]
        plots.tuning_figure(runs, out, title=smk.params.title)
    else:
        curves = dict(zip(smk.params.labels, smk.input.runs, strict=True))
        plots.test_curves_figure(curves, out, title=smk.params.title)


sys.stderr = open(snakemake.log[0], "w")  # noqa: F821
main(snakemake)  # noqa: F821
