"""Figures of the study: loss against per-sample gradient computations, saved as PNG and PDF.

Uses matplotlib's object API (no pyplot), so it needs no display and leaves global state alone.
Every run is read through vrdl.runs (CSV cross-checked against its JSON, one data set per
figure), so a figure never draws a truncated, edited or mixed-up file.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator

from vrdl import runs as run_files
from vrdl.select import SelectionError, load_tune_runs, select_best
from vrdl.select import aggregate as aggregate_points

_AXIS = re.compile(r"([a-z][a-z_]*)~([^_/]+)")


def point_label(point: str) -> str:
    """'c~100_k~0.1' -> 'c=100, k=0.1'."""
    axes = _AXIS.findall(point)
    return ", ".join(f"{key}={value}" for key, value in axes) if axes else point


def read_curve(csv_path: str | Path) -> pd.DataFrame:
    """A run's CSV with non-finite losses as NaN (matplotlib leaves gaps, log axes stay valid)."""
    return read_curve_frame(run_files.read_run(csv_path).curve)


def read_runs(runs: Iterable[Mapping]) -> list[run_files.Run]:
    """The runs of one figure (dicts with csv and any of optimizer, seed, hparams), each checked
    against its JSON and all against one prepared data file."""
    loaded = [run_files.read_run(run["csv"], expected=run) for run in runs]
    run_files.check_same_data((run.csv, run.meta) for run in loaded)
    return loaded


def read_variance_runs(paths: Iterable[str | Path]) -> list[pd.DataFrame]:
    loaded = [(path, *run_files.read_variance(path)) for path in paths]
    run_files.check_same_data((path, meta) for path, _, meta in loaded)
    return [frame for _, frame, _ in loaded]


def read_curve_frame(curve: pd.DataFrame) -> pd.DataFrame:
    curve = curve.copy()
    for column in ("train_loss", "eval_loss"):
        curve[column] = curve[column].where(np.isfinite(curve[column]) & (curve[column] > 0))
    return curve


def mean_curve(curves: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Mean over folds epoch by epoch (x: mean gradient count); NaN wherever a fold is missing
    or non-finite, so a diverged fold never hides in the mean."""
    stacked = pd.concat(
        [c.set_index("epoch")[["grad_evals", "eval_loss"]] for c in curves], axis=1, keys=range(len(curves))
    )
    grad = stacked.xs("grad_evals", axis=1, level=1)
    loss = stacked.xs("eval_loss", axis=1, level=1)
    return pd.DataFrame(
        {"grad_evals": grad.mean(axis=1, skipna=True), "eval_loss": loss.mean(axis=1, skipna=False)}
    ).reset_index()


BANDS = ("min-max", "std")


def seed_band(curves: Sequence[pd.DataFrame], column: str, x: str = "grad_evals",
              band: str = "min-max") -> pd.DataFrame:
    """Mean of `column` over runs (seeds) epoch by epoch, with a band: min-max, or mean +- one
    standard deviation (ddof 1; none with one run). Columns: epoch, x (mean over runs; equal
    across seeds of one setting), mean, low, high, runs. An epoch that a run lacks or where its
    value is not finite gets no mean and no band (a diverged seed never hides in the mean)."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    if not curves:
        raise ValueError("no curves to aggregate")
    keep = ["epoch", column] if x == "epoch" else ["epoch", x, column]
    frames = []
    for i, curve in enumerate(curves):
        frame = curve[keep].copy()
        frame[column] = frame[column].where(np.isfinite(frame[column].astype(float)))
        frames.append(frame.set_index("epoch").add_suffix(f"#{i}"))
    wide = pd.concat(frames, axis=1, join="outer").sort_index()
    values = wide[[f"{column}#{i}" for i in range(len(curves))]].astype(float)
    mean = values.mean(axis=1, skipna=False)
    if band == "min-max":
        low, high = values.min(axis=1, skipna=False), values.max(axis=1, skipna=False)
    else:
        std = values.std(axis=1, ddof=1, skipna=False) if len(curves) > 1 else mean * 0.0
        low, high = mean - std, mean + std
    out = pd.DataFrame({"epoch": wide.index.to_numpy()})
    if x != "epoch":
        out[x] = wide[[f"{x}#{i}" for i in range(len(curves))]].mean(axis=1, skipna=True).to_numpy()
    out["mean"], out["low"], out["high"] = mean.to_numpy(), low.to_numpy(), high.to_numpy()
    out["runs"] = values.notna().sum(axis=1).to_numpy()
    return out


def _plot_band(ax, curves: Sequence[pd.DataFrame], column: str, x: str = "grad_evals", band: str = "min-max",
               positive: bool = False, **style) -> None:
    """The mean over runs as a line, the band shaded when there are several runs."""
    stats = seed_band(curves, column, x=x, band=band)
    if positive:  # log axes: no zero or negative values
        for key in ("mean", "low", "high"):
            stats[key] = stats[key].where(stats[key] > 0)
    if "marker" in style:  # about 8 markers a line, staggered so that overlapping lines show both
        step = max(1, len(stats) // 8)
        style = dict(markevery=(zlib.crc32(str(style.get("label")).encode()) % step, step), **style)
    line = ax.plot(stats[x], stats["mean"], **style)[0]
    if len(curves) > 1:
        ax.fill_between(stats[x], stats["low"], stats["high"], color=line.get_color(), alpha=0.2, lw=0)


# One colour and marker per optimizer in every figure. Kept here rather than in the registry
# entries: the registry is training code, and a colour must not rerun a training run.
STYLES = {
    "sgd": ("#1f77b4", "o"), "adam": ("#ff7f0e", "s"), "adagrad": ("#8c564b", "D"),
    "svrg": ("#d62728", "^"), "storm": ("#2ca02c", "v"), "alpha_svrg": ("#9467bd", "P"),
    "mars": ("#e377c2", "X"),
}
# Compared variants that are not optimizers ("with MetaInit", "transform locking off") and new
# optimizers take the next unused pair of a figure from these fixed lists, in the order drawn.
_SPARE_COLORS = ("#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")
_SPARE_MARKERS = ("h", "*", "p", "<", ">", "d", "H", "8")
NOT_LEARNED_COLOR = "#b0b0b0"


def style(name: str) -> dict:
    """Colour and marker of optimizer `name` in every figure; any other name gets the first
    spare pair (figures with several use `figure_styles`, which keeps them apart)."""
    color, marker = STYLES.get(name, (_SPARE_COLORS[0], _SPARE_MARKERS[0]))
    return dict(color=color, marker=marker)


def figure_styles(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """Colour and marker of each series of one figure, key (optimizer or name, variant): an
    optimizer's first series its own colour and marker, its further variants (BN off) its colour
    with the next unused spare marker; anything else the next unused spare colour with the next
    unused spare marker. No two series of the figure share colour and marker."""
    out, used_colors, used = {}, set(), set()
    spare_colors = iter(c for c in _SPARE_COLORS if c not in {c for c, _ in STYLES.values()})
    for key in dict.fromkeys(keys):
        name = key[0]
        if name in STYLES:
            color, marker = STYLES[name]
        else:
            color = next((c for c in spare_colors if c not in used_colors), "#000000")
            marker = _SPARE_MARKERS[0]
        if (color, marker) in used:
            marker = next(m for m in _SPARE_MARKERS + tuple("ov^<>sDP") if (color, m) not in used)
        used.add((color, marker))
        used_colors.add(color)
        out[key] = dict(color=color, marker=marker)
    return out


def line_style(name: str, chosen: dict | None = None) -> dict:
    """A curve's style: its colour, hollow markers (two overlapping lines both stay visible);
    `chosen`: the colour and marker `figure_styles` gave it."""
    s = chosen or style(name)
    return dict(color=s["color"], marker=s["marker"], ms=6, mfc="none", mew=1.3, lw=1.5)


PNG_DPI = 110  # the report page is about 1150 px wide: bigger PNGs only make it heavier


def png_bytes(figure: Figure) -> bytes:
    """The figure as a compact PNG: 256-colour palette, fixed metadata (same figure, same bytes)."""
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB").quantize(256)
    out = io.BytesIO()
    image.save(out, format="png", optimize=True)
    return out.getvalue()


def _save(figure: Figure, out: Sequence[str | Path]) -> None:
    for path in out:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".png":
            path.write_bytes(png_bytes(figure))
        else:  # fixed metadata: the same curves give the same files
            figure.savefig(path, metadata={"CreationDate": None})


def _grid(n: int, ncols_max: int = 3) -> tuple[int, int]:
    ncols = min(n, ncols_max)
    return math.ceil(n / ncols), ncols


def selected_points(runs: Sequence[Mapping]) -> dict[str, str]:
    """optimizer -> the grid point `select` picks from these runs (none where nothing can be)."""
    table = aggregate_points(load_tune_runs(runs))
    chosen = {}
    for optimizer, group in table.groupby("optimizer", sort=False):
        try:
            chosen[optimizer] = select_best(group)["point"].iloc[0]
        except SelectionError:  # every point diverged: nothing to mark
            pass
    return chosen


def tuning_figure(runs: Iterable[Mapping], out: Sequence[str | Path], title: str = "") -> Figure:
    """Validation loss of every grid point, one panel per optimizer: the mean over folds (and
    seeds) thick, each fold thin (the paper's Figure 4.3); the point `select` picks is drawn
    thickest, with a star at its end and "selected" in the legend. `runs`: dicts with
    optimizer, point, csv (and seed, split, hparams, as the select rule gets them)."""
    runs = list(runs)
    loaded = read_runs(runs)
    chosen = selected_points(runs) if all("hparams" in run and "split" in run for run in runs) else {}
    by_optimizer: dict[str, dict[str, list[pd.DataFrame]]] = {}
    for run, run_file in zip(runs, loaded, strict=True):
        by_optimizer.setdefault(run["optimizer"], {}).setdefault(run["point"], []).append(
            read_curve_frame(run_file.curve)
        )
    nrows, ncols = _grid(len(by_optimizer), ncols_max=2)  # two panels a row: readable at the page's width
    figure = Figure(figsize=(6.8 * ncols, 3.8 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (optimizer, points) in zip(axes, by_optimizer.items()):
        colors = _colors(len(points))
        for color, (point, curves) in zip(colors, points.items()):
            if len(curves) > 1:
                for curve in curves:
                    ax.plot(curve["grad_evals"], curve["eval_loss"], color=color, alpha=0.25, lw=0.8)
            mean = mean_curve(curves)
            diverged = any(c["eval_loss"].isna().any() for c in curves)
            selected = chosen.get(optimizer) == point
            label = point_label(point) + (" (diverged)" if diverged else "") + (" - selected" if selected else "")
            ax.plot(mean["grad_evals"], mean["eval_loss"], color=color, lw=3.0 if selected else 1.6, label=label,
                    zorder=3 if selected else 2)
            if selected:
                ax.plot(mean["grad_evals"].iloc[-1:], mean["eval_loss"].iloc[-1:], marker="*", ms=14, color=color,
                        markeredgecolor="black", zorder=4, ls="none")
        ax.set_title(optimizer, color=style(optimizer)["color"])
        _loss_axes(ax, "validation loss")
        several = any(len(curves) > 1 for curves in points.values())
        # beside the panel, not on it: a legend inside covers curves
        ax.legend(fontsize="small", title_fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  title="thick: mean over runs\nthin: each run (fold, seed)" if several else None)
    for ax in axes[len(by_optimizer):]:
        ax.set_visible(False)
    _title(figure, title)
    _save(figure, out)
    return figure


def test_curves_figure(curves: Mapping[str, str | Path | Sequence[str | Path]], out: Sequence[str | Path],
                       title: str = "", band: str = "min-max") -> Figure:
    """Test loss (log scale) and test accuracy against gradient computations, one line per label
    (the paper's Figures 4.4, 4.8, 4.9, 4.12-4.14). `curves`: label -> RUN.csv, or a list of
    RUN.csv of several seeds: their mean, with a band (`band`: min-max or std)."""
    figure = Figure(figsize=(11.0, 4.4), layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    styles = figure_styles([(name, "") for name in curves])
    for name, paths in curves.items():
        paths = [paths] if isinstance(paths, str | Path) else paths
        runs = [read_curve_frame(run.curve) for run in read_runs({"csv": p} for p in paths)]
        label = f"{name} ({len(runs)} seeds)" if len(runs) > 1 else name
        line = line_style(name, styles[(name, "")])
        _plot_band(loss_ax, runs, "eval_loss", band=band, positive=True, label=label, **line)
        _plot_band(acc_ax, runs, "eval_acc", band=band, label=label, **line)
    _loss_axes(loss_ax, "test loss")
    acc_ax.set_xlabel("gradient computations")
    acc_ax.set_ylabel("test accuracy")
    low, high = acc_ax.dataLim.y0, acc_ax.dataLim.y1
    if high - low < MIN_ACC_SPAN:  # runs at chance: the whole range, not a zoom into noise
        acc_ax.set_ylim(0.0, 1.0)
    acc_ax.grid(alpha=0.3)
    _legend_below(figure, loss_ax)
    _title(figure, title)
    _save(figure, out)
    return figure


MIN_ACC_SPAN = 0.05  # an accuracy axis spanning less shows [0, 1] (runs at chance)


def met_at_start(rows) -> bool:
    """Every run meets the target before any update: the table says nothing about speed."""
    return bool(rows) and all(row.reached_all and row.grad_evals == 0 for row in rows)


def target_note(target) -> str:
    return (f"Every run is at or below the target test loss {target.loss:.4g} ({target.source}) before any "
            "update: nothing to compare.")


def time_to_target_figure(runs: Iterable[Mapping], spec: Mapping, out: Sequence[str | Path],
                          title: str = "") -> Figure:
    """Gradient computations each optimizer's final runs need to first reach the target test loss
    (vrdl.targets; `spec`: the study's time_to_target settings), one bar per optimizer (median over
    the seeds that reach it); "did not reach" written where no seed does. `runs`: dicts with
    optimizer, seed, csv (the final runs)."""
    from vrdl.targets import study_target, time_to_target

    runs = list(runs)
    curves: dict[str, list[pd.DataFrame]] = {}
    for run, loaded in zip(runs, read_runs(runs), strict=True):
        curves.setdefault(run["optimizer"], []).append(loaded.curve)
    target = study_target(spec, curves)
    rows = time_to_target(curves, target)
    if met_at_start(rows):  # five bars of 0 say nothing: one line says it
        figure = Figure(figsize=(8.0, 1.2), layout="constrained")
        figure.text(0.5, 0.3, target_note(target), ha="center", va="center", wrap=True)
        _title(figure, title)
        _save(figure, out)
        return figure
    figure = Figure(figsize=(8.0, 0.5 * len(rows) + 1.8), layout="constrained")
    ax = figure.subplots()
    longest = max((r.grad_evals for r in rows if r.reached), default=1.0)
    for y, row in enumerate(rows):
        if row.reached:
            ax.barh(y, row.grad_evals, color=style(row.optimizer)["color"], height=0.6)
            note = f" {row.grad_evals:.3g}" + ("" if row.reached_all else f" ({row.reached}/{row.runs} seeds)")
            ax.text(row.grad_evals, y, note, va="center", fontsize="small")
        else:  # a boxed label clear of the spine: it cannot read as a bar or a struck-out number
            ax.annotate("did not reach the target", (0, y), xytext=(8, 0), textcoords="offset points",
                        va="center", fontsize="small", color="#b3261e",
                        bbox=dict(boxstyle="round,pad=0.3", fc="white", ec="#b3261e", lw=0.8))
    ax.set_yticks(range(len(rows)), [r.optimizer for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, longest * 1.35)
    ax.set_xlabel("\n".join(textwrap.wrap(f"gradient computations to reach test loss {target.loss:.4g} "
                                           f"({target.source})", 90)))
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.grid(alpha=0.3, axis="x")
    _title(figure, title)
    _save(figure, out)
    return figure


_BN_STYLE = {"on": "-", "off": "--"}
VARIANCE_PANELS = (
    ("variance_ratio", "variance ratio Var[SVRG] / Var[SGD]"),
    ("var_sgd", "Var of the minibatch gradient"),
    ("var_svrg", "Var of the SVRG estimator"),
    ("storm_sq_error", "STORM ||d - grad f||^2"),
)


def variance_figure(runs: Iterable[Mapping], out: Sequence[str | Path], title: str = "",
                    band: str = "min-max") -> Figure:
    """Gradient-variance diagnostics against epochs (log scale), one line per optimizer and BN
    setting (solid: BN on, dashed: off), the mean over seeds with a band. Panels: the ratio
    Var[SVRG estimator] / Var[minibatch gradient] (below 1: variance is reduced), both variances,
    and STORM's squared error when a STORM run has it. `runs`: dicts with bn, optimizer, csv
    (RUN.variance.csv)."""
    runs = list(runs)
    groups: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for run, frame in zip(runs, read_variance_runs(run["csv"] for run in runs), strict=True):
        groups.setdefault((run["optimizer"], run["bn"]), []).append(frame)
    panels = [p for p in VARIANCE_PANELS if p[0] != "storm_sq_error"
              or any(c["storm_sq_error"].notna().any() for curves in groups.values() for c in curves)]
    # two panels a row: the labels stay readable when the page scales the figure to its width
    nrows, ncols = _grid(len(panels), ncols_max=2)
    figure = Figure(figsize=(5.6 * ncols, 3.6 * nrows + 0.8), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    styles = figure_styles(list(groups))
    for ax, (column, label) in zip(axes, panels):
        for (optimizer, bn), curves in groups.items():
            if not any(c[column].notna().any() for c in curves):
                continue
            name = f"{optimizer}, BN {bn}" + (f" ({len(curves)} seeds)" if len(curves) > 1 else "")
            line = line_style(optimizer, styles[(optimizer, bn)]) | dict(ls=_BN_STYLE.get(bn, "-"))
            _plot_band(ax, curves, column, x="epoch", band=band, positive=True, label=name, **line)
            if column == "variance_ratio":
                _ratio_errorbars(ax, curves, line["color"])
        if column == "variance_ratio":
            ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
            label += "\n(bars: ± jackknife SE over the minibatches)"
        _epoch_axis(ax, label)
    _legend_below(figure, axes[0])
    _title(figure, title)
    _save(figure, out)
    return figure


def _ratio_errorbars(ax, curves: Sequence[pd.DataFrame], color) -> None:
    """± the jackknife standard error over the minibatches (vrdl.variance) of the mean ratio at
    each epoch (seeds combined: sqrt(sum se^2) / seeds); nothing for runs without it."""
    if not all("variance_ratio_se" in c for c in curves):
        return
    wide = pd.concat([c.set_index("epoch")[["variance_ratio", "variance_ratio_se"]] for c in curves],
                     axis=1, keys=range(len(curves)))
    mean = wide.xs("variance_ratio", axis=1, level=1).mean(axis=1, skipna=False)
    se = np.sqrt((wide.xs("variance_ratio_se", axis=1, level=1) ** 2).sum(axis=1, min_count=len(curves)))
    se = se / len(curves)
    ax.errorbar(mean.index, mean, yerr=se, fmt="none", ecolor=color, elinewidth=1, capsize=3, alpha=0.8)


def _epoch_axis(ax, ylabel: str) -> None:
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    epochs = sorted({int(x) for line in ax.get_lines() for x in line.get_xdata() if line.get_label()[:1] != "_"})
    if 0 < len(epochs) <= 12:  # the measured epochs themselves, not 0.945 ... 1.05 around a single one
        ax.set_xticks(epochs)
        ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, which="both")


def _title(figure: Figure, title: str) -> None:
    """The title wrapped to the figure's width, smaller where it would take more than 3 lines."""
    if not title:
        return
    for size in (12, 11, 10, 9):
        # 0.6 em: a generous mean glyph width of DejaVu Sans, so a wrapped line always fits
        chars = int(0.92 * figure.get_figwidth() * 72 / (0.6 * size))
        lines = [part for line in title.splitlines() for part in (textwrap.wrap(line, chars) or [""])]
        if len(lines) <= 3:
            break
    figure.suptitle("\n".join(lines), fontsize=size)


def _legend_below(figure: Figure, ax) -> None:
    """The figure's legend under its panels: clear of the title and of every curve."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize="small")


def suboptimality(curves: Sequence[pd.DataFrame], column: str = "train_objective") -> tuple[list[pd.DataFrame], float]:
    """Each curve with a `suboptimality` column, `column` minus the best value reached by any
    of them (the f* of the plot), and that best value."""
    best = min(float(np.nanmin(c[column].to_numpy(dtype=float))) for c in curves)
    out = []
    for curve in curves:
        curve = curve.copy()
        curve["suboptimality"] = curve[column] - best
        out.append(curve)
    return out, best


def convex_figure(runs: Iterable[Mapping], out: Sequence[str | Path], title: str = "",
                  band: str = "min-max") -> Figure:
    """The convex study as in Johnson & Zhang (2013): training objective minus the best value any
    run reached (log scale) against gradient computations, per optimizer the mean over seeds with
    a band; right, the test loss. Points at the best value itself (0) are left out of the log
    axis. `runs`: dicts with optimizer, csv (with a train_objective column)."""
    runs = list(runs)
    curves, best = suboptimality([run.curve for run in read_runs(runs)])
    groups: dict[str, list[pd.DataFrame]] = {}
    for run, curve in zip(runs, curves, strict=True):
        groups.setdefault(run["optimizer"], []).append(curve)
    figure = Figure(figsize=(11.0, 4.0), layout="constrained")
    gap_ax, loss_ax = figure.subplots(1, 2)
    styles = figure_styles([(optimizer, "") for optimizer in groups])
    for optimizer, group in groups.items():
        label = optimizer + (f" ({len(group)} seeds)" if len(group) > 1 else "")
        line = line_style(optimizer, styles[(optimizer, "")])
        _plot_band(gap_ax, group, "suboptimality", band=band, positive=True, label=label, **line)
        _plot_band(loss_ax, [read_curve_frame(c) for c in group], "eval_loss", band=band, positive=True,
                   label=label, **line)
    gap_ax.set_xlabel("gradient computations")
    gap_ax.set_ylabel(f"training objective - best ({best:.6g})")
    gap_ax.set_yscale("log")
    gap_ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    gap_ax.grid(alpha=0.3, which="both")
    _legend_below(figure, gap_ax)
    _loss_axes(loss_ax, "test loss")
    _title(figure, title)
    _save(figure, out)
    return figure


def ablation_figure(runs: Iterable[Mapping], out: Sequence[str | Path], title: str = "",
                    band: str = "min-max") -> Figure:
    """Transform locking on vs off side by side: test loss and training loss against gradient
    computations, and the variance ratio of the SVRG estimator against epochs, as `vrdl train`
    measures it (same augmentation for both gradients) at each run's iterate. `runs`: dicts
    with locking, csv (RUN.csv) and variance (RUN.variance.csv)."""
    runs = list(runs)
    groups: dict[str, dict[str, list[pd.DataFrame]]] = {}
    variances = read_variance_runs(run["variance"] for run in runs)
    for run, run_file, variance in zip(runs, read_runs(runs), variances, strict=True):
        group = groups.setdefault(run["locking"], {"curve": [], "variance": []})
        group["curve"].append(read_curve_frame(run_file.curve))
        group["variance"].append(variance)
    figure = Figure(figsize=(15.0, 4.4), layout="constrained")
    test_ax, train_ax, var_ax = figure.subplots(1, 3)
    styles = figure_styles([(f"transform locking {locking}", "") for locking in groups])
    for locking, group in groups.items():
        n = len(group["curve"])
        label = f"transform locking {locking}" + (f" ({n} seeds)" if n > 1 else "")
        line = line_style(label, styles[(f"transform locking {locking}", "")])
        _plot_band(test_ax, group["curve"], "eval_loss", band=band, positive=True, label=label, **line)
        _plot_band(train_ax, group["curve"], "train_loss", band=band, positive=True, label=label, **line)
        _plot_band(var_ax, group["variance"], "variance_ratio", x="epoch", band=band, positive=True, label=label,
                   **line)
    _loss_axes(test_ax, "test loss")
    _loss_axes(train_ax, "training loss (running mean over the epoch)")
    var_ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
    # each run measures the estimator it uses: unlocked runs take g_B(w~) on another augmentation
    _epoch_axis(var_ax, "variance ratio Var[SVRG] / Var[SGD]")
    _legend_below(figure, test_ax)
    _title(figure, title)
    _save(figure, out)
    return figure


def _loss_axes(ax, ylabel: str) -> None:
    ax.set_xlabel("gradient computations")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    # Plain numbers (0.5, 2.31) instead of 2.31x10^0 on the narrow ranges losses often span.
    ax.yaxis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    # Label every minor tick below one decade of range (else 0.5 between 0.45 and 2.5 goes unlabelled).
    ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1)))
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.grid(alpha=0.3, which="both")


class _PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers: 0.9, 2.31, 0.001."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.4g}"


def _colors(n: int) -> list:
    from matplotlib import colormaps

    # sequential, apart from the optimizers' colours (a panel's title carries its optimizer's):
    # grid points in the order of their values, dark to light
    cmap = colormaps["viridis"]
    return [cmap(0.85 * i / max(n - 1, 1)) for i in range(n)]


VERDICT_COLORS = {"holds": "#1a7f37", "does not hold": "#b3261e"}  # anything else: inconclusive
INCONCLUSIVE_COLOR = "#8a6d00"


def verdict_color(verdict: str) -> str:
    return VERDICT_COLORS.get(verdict, INCONCLUSIVE_COLOR)


def claims_figure(claims: Sequence, title: str = "") -> Figure | None:
    """The claims at a glance (vrdl.claims.Claim with parts), one panel per claim: per setting,
    the test loss claimed lower (filled) and the one claimed higher (hollow), each with its
    noise bar (± one standard error), joined by a line in the colour of that comparison's
    verdict; losses of runs that did not learn in grey. None when no claim was compared."""
    claims = [claim for claim in claims if claim.parts]
    if not claims:
        return None
    heights = [0.42 * len(claim.parts) + 0.5 for claim in claims]
    width = 10.0
    figure = Figure(figsize=(width, sum(heights) + 1.0 * len(claims) + 0.8), layout="constrained")
    axes = figure.subplots(len(claims), 1, squeeze=False, gridspec_kw=dict(height_ratios=heights)).ravel()
    for ax, claim in zip(axes, claims):
        labels = []
        for y, part in enumerate(claim.parts):
            ax.plot([part.a.mean, part.b.mean], [y, y], color=verdict_color(part.verdict), lw=2.5, alpha=0.6,
                    solid_capstyle="butt", zorder=1)
            for estimate, name, filled in ((part.a, part.lower, True), (part.b, part.higher, False)):
                color = style(name.split(" ")[0])["color"] if estimate.learned else NOT_LEARNED_COLOR
                ax.errorbar(estimate.mean, y, xerr=estimate.noise, fmt=style(name.split(" ")[0])["marker"], ms=8,
                            color=color, mfc=color if filled else "white", mew=1.5, capsize=3, zorder=3)
            failed = f"\n(did not learn: {', '.join(part.not_learned)})" if part.not_learned else ""
            labels.append(f"{part.setting}\n{part.lower} < {part.higher}{failed}")
        ax.set_yticks(range(len(claim.parts)), labels, fontsize="small")
        ax.set_ylim(len(claim.parts) - 0.5, -0.5)
        ax.margins(x=0.08)
        ax.set_xlabel(f"test loss, {_judged(claim)}", fontsize="small")
        ax.grid(alpha=0.3, axis="x")
        text = f"{claim.claim}: {claim.verdict}"
        # wrapped to the panel's width: the figure's less up to 3.2 in of setting labels on its left
        ax.set_title("\n".join(textwrap.wrap(text, int((width - 3.2) * 72 / (0.6 * 11)))), fontsize=11,
                     color=verdict_color(claim.verdict), loc="left")
    from matplotlib.lines import Line2D

    key = [Line2D([], [], marker="o", ls="none", color="0.3", mfc="0.3", label="claimed lower"),
           Line2D([], [], marker="o", ls="none", color="0.3", mfc="white", label="claimed higher"),
           Line2D([], [], marker="o", ls="none", color=NOT_LEARNED_COLOR, label="run did not learn"),
           *[Line2D([], [], color=verdict_color(v), lw=2.5, alpha=0.6, label=f"comparison {v}")
             for v in ("holds", "does not hold", "inconclusive")]]
    figure.legend(handles=key, loc="outside lower center", ncols=3, fontsize="small",
                  title="bars: ± noise (one standard error); colour and marker: the optimizer", title_fontsize="small")
    _title(figure, title)
    return figure


NOT_REACHED_COLOR = "#e0e0e0"


def _strip_color(verdict: str) -> str:
    return NOT_REACHED_COLOR if verdict == "not reached" else verdict_color(verdict)


def verdict_strip_figure(claims: Sequence, title: str = "") -> Figure | None:
    """Each claim's verdict along the gradient budget (vrdl.claims.Claim.strip), one row per
    claim: a verdict holds from the budget it was measured at to the next one (the loss at a
    budget is the last evaluation within it). A black tick marks the budget a claim judged at a
    common budget is decided at; a claim judged at the end of training says so. None when no
    claim has a strip."""
    claims = [claim for claim in claims if claim.strip]
    if not claims:
        return None
    figure = Figure(figsize=(10.0, 0.55 * len(claims) + 1.6), layout="constrained")
    ax = figure.subplots()
    for y, claim in enumerate(claims):
        nexts = claim.strip[1:] + ((claim.strip[-1][0] * 1.15, "not reached"),)
        for (x, verdict), (end, then) in zip(claim.strip, nexts):
            # up to the next budget; where some run ends before it, a sliver, then "not reached"
            if then == "not reached" and verdict != "not reached":
                ax.barh(y, end - x * 1.04, left=x * 1.04, height=0.6, color=NOT_REACHED_COLOR, lw=0)
                end = x * 1.04
            ax.barh(y, end - x, left=x, height=0.6, color=_strip_color(verdict), lw=0)
        decisive = claim.decisive
        if claim.at == "budget" and decisive is not None and decisive.a is not None:
            ax.plot([decisive.a.budget / decisive.a.n_train] * 2, [y - 0.38, y + 0.38], color="black", lw=2)
    labels = [textwrap.shorten(claim.claim, 60) + f"\n{_judged(claim)}: {claim.verdict}" for claim in claims]
    ax.set_yticks(range(len(claims)), labels, fontsize="small")
    ax.set_ylim(len(claims) - 0.5, -0.5)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    ax.xaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 1)))
    ax.set_xlabel("budget: gradient computations per training example")
    ax.grid(alpha=0.3, axis="x", which="both")
    from matplotlib.patches import Patch

    key = [Patch(color=verdict_color(v), label=v) for v in ("holds", "does not hold")]
    key += [Patch(color=INCONCLUSIVE_COLOR, label="inconclusive (within noise, did not learn, ...)"),
            Patch(color=NOT_REACHED_COLOR, label="not reached by every run")]
    figure.legend(handles=key, loc="outside lower center", ncols=4, fontsize="small",
                  title="the verdict the runs give at each budget; black tick: where a claim judged at a "
                        "common budget is decided",
                  title_fontsize="small")
    _title(figure, title)
    return figure


def _judged(claim) -> str:
    return "judged at the end of training" if claim.at == "end" else "judged at the common budget"


def expected_best_figure(values: Mapping[str, Sequence[float]], out: Sequence[str | Path] = (),
                         title: str = "") -> Figure:
    """The tuning budget (vrdl.tuning): per optimizer, the expected best mean validation loss of
    k grid points drawn at random without replacement, k = 1 .. its grid's size (at its size:
    the selected point's). Where k points can all have diverged the expectation is infinite: no
    point drawn there. `values`: optimizer -> each grid point's mean final validation loss."""
    from vrdl.tuning import expected_best_curve

    figure = Figure(figsize=(8.0, 3.8), layout="constrained")
    ax = figure.subplots()
    styles = figure_styles([(name, "") for name in values])
    for name, points in values.items():
        curve = np.array(expected_best_curve(points))
        curve[~np.isfinite(curve)] = np.nan
        ks = np.arange(1, len(curve) + 1)
        label = f"{name} ({len(curve)} point{'s' if len(curve) != 1 else ''})"
        ax.plot(ks, curve, label=label, **line_style(name, styles[(name, "")]))
    ax.set_xlabel("k: grid points tried (drawn at random, without replacement)")
    ax.set_ylabel("expected best val. loss")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    _legend_below(figure, ax)
    _title(figure, title)
    _save(figure, out)
    return figure


def performance_profile_figure(profiles: Mapping[str, Mapping[str, Sequence[float]]], taus: Sequence[float],
                               workloads: int, title: str = "") -> Figure:
    """Performance profiles (vrdl.targets.performance_profile): per optimizer, the fraction of
    its workloads where it reached the workload's target within tau times the fastest
    optimizer's gradient computations, against tau (log scale); `profiles[optimizer]`: "median"
    (of the seeds' times) and, with seeds, "low"/"high" (the band over seeds)."""
    figure = Figure(figsize=(8.0, 4.0), layout="constrained")
    ax = figure.subplots()
    styles = figure_styles([(name, "") for name in profiles])
    for name, profile in profiles.items():
        line = line_style(name, styles[(name, "")])
        ax.step(taus, profile["median"], where="post", label=name, markevery=max(1, len(taus) // 8), **line)
        if "low" in profile:
            ax.fill_between(taus, profile["low"], profile["high"], step="post", color=line["color"], alpha=0.15, lw=0)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(_PlainLogFormatter(base=2, labelOnlyBase=False))
    ax.set_xlabel("tau: gradient computations to the target / the fastest optimizer's")
    ax.set_ylabel(f"fraction of workloads ({workloads})")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3, which="both")
    _legend_below(figure, ax)
    _title(figure, title)
    return figure
