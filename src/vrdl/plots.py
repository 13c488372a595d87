"""Figures of the study: loss against per-sample gradient computations, saved as PNG and PDF.

Uses matplotlib's object API (no pyplot), so it needs no display and leaves global state alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

_AXIS = re.compile(r"([a-z][a-z_]*)~([^_/]+)")


def point_label(point: str) -> str:
    """'c~100_k~0.1' -> 'c=100, k=0.1'."""
    axes = _AXIS.findall(point)
    return ", ".join(f"{key}={value}" for key, value in axes) if axes else point


def read_curve(csv_path: str | Path) -> pd.DataFrame:
    """A run's CSV with non-finite losses as NaN (matplotlib leaves gaps, log axes stay valid)."""
    curve = pd.read_csv(csv_path)
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


def _save(figure: Figure, out: Sequence[str | Path]) -> None:
    for path in out:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Fixed metadata: the same curves give the same files.
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else {"Software": None}
        figure.savefig(path, dpi=150, metadata=metadata)


def _grid(n: int, ncols_max: int = 3) -> tuple[int, int]:
    ncols = min(n, ncols_max)
    return math.ceil(n / ncols), ncols


def tuning_figure(runs: Iterable[Mapping], out: Sequence[str | Path], title: str = "") -> Figure:
    """Validation loss of every grid point, one panel per optimizer: the mean over folds solid,
    the folds faint (the paper's Figure 4.3). `runs`: dicts with optimizer, point, csv."""
    by_optimizer: dict[str, dict[str, list[pd.DataFrame]]] = {}
    for run in runs:
        by_optimizer.setdefault(run["optimizer"], {}).setdefault(run["point"], []).append(
            read_curve(run["csv"])
        )
    nrows, ncols = _grid(len(by_optimizer))
    figure = Figure(figsize=(5.0 * ncols, 3.8 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (optimizer, points) in zip(axes, by_optimizer.items()):
        colors = _colors(len(points))
        for color, (point, curves) in zip(colors, points.items()):
            if len(curves) > 1:
                for curve in curves:
                    ax.plot(curve["grad_evals"], curve["eval_loss"], color=color, alpha=0.25, lw=0.8)
            mean = mean_curve(curves)
            diverged = any(c["eval_loss"].isna().any() for c in curves)
            label = point_label(point) + (" (diverged)" if diverged else "")
            ax.plot(mean["grad_evals"], mean["eval_loss"], color=color, lw=1.6, label=label)
        ax.set_title(optimizer)
        _loss_axes(ax, "validation loss")
        ax.legend(fontsize="small")
    for ax in axes[len(by_optimizer):]:
        ax.set_visible(False)
    if title:
        figure.suptitle(title)
    _save(figure, out)
    return figure


def test_curves_figure(curves: Mapping[str, str | Path], out: Sequence[str | Path], title: str = "") -> Figure:
    """Test loss (log scale) and test accuracy against gradient computations, one line per run
    (the paper's Figures 4.4, 4.8, 4.9, 4.12-4.14). `curves`: label -> RUN.csv."""
    figure = Figure(figsize=(11.0, 4.0), layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    for color, (label, path) in zip(_colors(len(curves)), curves.items()):
        curve = read_curve(path)
        loss_ax.plot(curve["grad_evals"], curve["eval_loss"], color=color, lw=1.4, label=label)
        acc_ax.plot(curve["grad_evals"], curve["eval_acc"], color=color, lw=1.4, label=label)
    _loss_axes(loss_ax, "test loss")
    acc_ax.set_xlabel("gradient computations")
    acc_ax.set_ylabel("test accuracy")
    acc_ax.grid(alpha=0.3)
    loss_ax.legend(fontsize="small")
    if title:
        figure.suptitle(title)
    _save(figure, out)
    return figure


def _loss_axes(ax, ylabel: str) -> None:
    ax.set_xlabel("gradient computations")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    # Plain numbers (0.5, 2.31) instead of 2.31x10^0 on the narrow ranges losses often span.
    ax.yaxis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    ax.grid(alpha=0.3, which="both")


class _PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers: 0.9, 2.31, 0.001."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:.4g}"


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if n <= 10 else colormaps["viridis"].resampled(n)
    return [cmap(i) for i in range(n)]
