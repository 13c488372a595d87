"""Hyperparameter selection from tune runs: each optimizer's grid point with the lowest mean
final-epoch validation loss over folds and seeds (every tune run of the point counts once); a
point with a diverged run can never be selected.

Pure functions on the files `vrdl train` writes (RUN.csv + RUN.json), used by the workflow's
`select` rule and by tests.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

RUN_COLUMNS = ["optimizer", "point", "seed", "split", "hparams", "val_loss", "epochs", "diverged", "csv"]
# `folds`: tune runs of the point (folds x seeds), `seeds`: distinct seeds among them.
TABLE_COLUMNS = [
    "optimizer", "point", "hparams", "mean_val_loss", "std_val_loss", "folds", "seeds", "diverged",
]  # fmt: skip
SELECTED_COLUMNS = [
    "optimizer", "point", "hparams", "mean_val_loss", "std_val_loss", "folds", "seeds", "points", "diverged",
]  # fmt: skip


class SelectionError(ValueError):
    """The tune runs cannot give a selection (mismatched hyperparameters, nothing eligible)."""


def hparams_text(hparams: Mapping[str, float]) -> str:
    """Canonical JSON of a hyperparameter point (sorted keys; floats round-trip exactly)."""
    return json.dumps(dict(sorted(hparams.items())), sort_keys=True)


def load_run(csv_path: str | Path) -> dict:
    """Final-epoch validation loss of one run and whether it diverged, from RUN.csv + RUN.json."""
    csv_path = Path(csv_path)
    meta = json.loads(csv_path.with_suffix(".json").read_text())
    curve = pd.read_csv(csv_path)
    last = curve.iloc[-1] if len(curve) else None
    val_loss = float(last["eval_loss"]) if last is not None else math.nan
    diverged = bool(meta.get("diverged")) or not math.isfinite(val_loss)
    return dict(
        meta=meta,
        val_loss=val_loss,
        epochs=int(last["epoch"]) if last is not None else 0,
        diverged=diverged,
    )


def _same_value(used, configured) -> bool:
    try:
        return float(used) == float(configured)
    except (TypeError, ValueError):
        return used == configured


def load_tune_runs(runs: Iterable[Mapping]) -> pd.DataFrame:
    """One row per tune run. Each item of `runs` says what a run was meant to be: `optimizer`,
    `point` (its name in paths), `split`, `seed`, `hparams` (configured values) and `csv`.

    Raises SelectionError when a run's JSON records other hyperparameters than configured (a
    value that never reached the optimizer) or was evaluated on the test set."""
    rows = []
    for run in runs:
        loaded = load_run(run["csv"])
        meta = loaded["meta"]
        recorded = meta.get("hparams", {})
        for key, value in run["hparams"].items():
            if key not in recorded or not _same_value(recorded[key], value):
                raise SelectionError(
                    f"{run['csv']}: {key} configured as {value!r} but the run recorded "
                    f"{recorded.get(key)!r}"
                )
        if meta.get("optimizer", run["optimizer"]) != run["optimizer"]:
            raise SelectionError(f"{run['csv']}: optimizer {meta['optimizer']!r}, expected {run['optimizer']!r}")
        if meta.get("eval_split", "val") != "val":
            raise SelectionError(f"{run['csv']}: evaluated on {meta['eval_split']!r}, not validation data")
        rows.append(
            dict(
                optimizer=run["optimizer"],
                point=run["point"],
                seed=run.get("seed"),
                split=run["split"],
                hparams=hparams_text(run["hparams"]),
                val_loss=loaded["val_loss"],
                epochs=loaded["epochs"],
                diverged=loaded["diverged"],
                csv=str(run["csv"]),
            )
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer and grid point: mean/std (ddof 1) of the final validation loss over all its
    runs (folds x seeds), how many runs, how many seeds and how many diverged. A point with a
    diverged run has no mean."""
    rows = []
    for (optimizer, point), group in runs.groupby(["optimizer", "point"], sort=False):
        n_diverged = int(group["diverged"].sum())
        losses = group["val_loss"].astype(float)
        ok = n_diverged == 0
        rows.append(
            dict(
                optimizer=optimizer,
                point=point,
                hparams=group["hparams"].iloc[0],
                mean_val_loss=float(losses.mean()) if ok else math.nan,
                std_val_loss=float(losses.std(ddof=1)) if ok and len(losses) > 1 else math.nan,
                folds=len(group),
                seeds=int(group["seed"].nunique(dropna=False)),
                diverged=n_diverged,
            )
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def select_best(table: pd.DataFrame) -> pd.DataFrame:
    """Per optimizer (in table order), the point with the lowest mean validation loss among
    points without a diverged run; ties go to the point listed first."""
    rows = []
    for optimizer, group in table.groupby("optimizer", sort=False):
        eligible = group[(group["diverged"] == 0) & group["mean_val_loss"].map(math.isfinite)]
        if eligible.empty:
            raise SelectionError(
                f"{optimizer}: all {len(group)} grid points have a diverged run; nothing can be "
                "selected (add smaller values to its grid)"
            )
        best = eligible.loc[eligible["mean_val_loss"].idxmin()]
        rows.append(
            dict(
                optimizer=optimizer,
                point=best["point"],
                hparams=best["hparams"],
                mean_val_loss=best["mean_val_loss"],
                std_val_loss=best["std_val_loss"],
                folds=int(best["folds"]),
                seeds=int(best["seeds"]),
                points=len(group),
                diverged=int(group["diverged"].sum()),
            )
        )
    return pd.DataFrame(rows, columns=SELECTED_COLUMNS)


def write_tsv(frame: pd.DataFrame, path: str | Path) -> None:
    """Tab-separated, unquoted (the hparams JSON stays readable), floats in full precision,
    missing values empty; written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, sep="\t", index=False, na_rep="", quoting=csv.QUOTE_NONE)
    tmp.replace(path)


def read_tsv(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE)


def run_selection(runs: Iterable[Mapping], selected_path, table_path) -> pd.DataFrame:
    """Load the tune runs, write the per-point table and the selection; return the selection."""
    table = aggregate(load_tune_runs(runs))
    write_tsv(table, table_path)
    selected = select_best(table)
    write_tsv(selected, selected_path)
    return selected
