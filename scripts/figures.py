"""Figure rules: one figure as PNG and PDF (vrdl.plots)."""

import sys

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import file_errors_end_the_job, open_log, use_library  # noqa: E402

use_library(snakemake.scriptdir)  # noqa: F821
from vrdl import plots  # noqa: E402
from vrdl.runs import RunFileError  # noqa: E402


def _runs(smk, paths, **extra):
    return [dict(run, csv=path, **{k: v[i] for k, v in extra.items()})
            for i, (run, path) in enumerate(zip(smk.params.runs, paths, strict=True))]


def main(smk) -> None:
    out = (smk.output.png, smk.output.pdf)
    title = smk.params.title
    if smk.rule == "figure_tuning":
        plots.tuning_figure(_runs(smk, smk.input.runs), out, title=title)
    elif smk.rule == "figure_final":
        curves = {}
        for run in _runs(smk, smk.input.runs):
            curves.setdefault(run["optimizer"], []).append(run["csv"])
        plots.test_curves_figure(curves, out, title=title, band=smk.params.band)
    elif smk.rule == "figure_target":
        plots.time_to_target_figure(_runs(smk, smk.input.runs), smk.params.target, out, title=title)
    elif smk.rule == "figure_metainit":
        curves = {label: [path] for label, path in zip(smk.params.labels, smk.input.runs, strict=True)}
        plots.test_curves_figure(curves, out, title=title)
    elif smk.rule == "figure_variance":
        plots.variance_figure(_runs(smk, smk.input.runs), out, title=title, band=smk.params.band)
    elif smk.rule == "figure_convex":
        plots.convex_figure(_runs(smk, smk.input.runs), out, title=title, band=smk.params.band)
    elif smk.rule == "figure_ablation":
        runs = _runs(smk, smk.input.runs, variance=list(smk.input.variance))
        plots.ablation_figure(runs, out, title=title, band=smk.params.band)
    else:
        raise ValueError(f"scripts/figures.py does not draw rule {smk.rule}")


sys.stderr = open_log(snakemake.log[0])  # noqa: F821  (a read-only logs/: one line, not a traceback)
with file_errors_end_the_job(snakemake.rule):  # noqa: F821
    try:
        main(snakemake)  # noqa: F821
    except RunFileError as err:  # a truncated, edited or mixed-up run file: one line naming it
        sys.exit(f"{snakemake.rule}: {err}")  # noqa: F821
