"""Hyperparameter selection from tune runs: each optimizer's grid point with the lowest mean
final-epoch validation loss over folds and seeds (every tune run of the point counts once); a
point with a diverged run can never be selected.

Pure functions on the files `vrdl train` writes (RUN.csv + RUN.json, read and cross-checked by
vrdl.runs), used by the workflow's `select` rule and by tests.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from vrdl.identity import sha256_of
from vrdl.runs import RunFileError, check_same_data, read_run

RUN_COLUMNS = ["optimizer", "point", "seed", "split", "hparams", "val_loss", "epochs", "diverged", "csv", "dataset",
               "data_sha256"]
# `folds`: tune runs of the point (folds x seeds), `seeds`: distinct seeds among them.
TABLE_COLUMNS = [
    "optimizer", "point", "hparams", "mean_val_loss", "std_val_loss", "folds", "seeds", "diverged", "dataset",
    "data_sha256",
]  # fmt: skip
SELECTED_COLUMNS = [
    "optimizer", "point", "hparams", "mean_val_loss", "std_val_loss", "folds", "seeds", "points", "diverged",
    "dataset", "data_sha256", "tuning_sha256",
]  # fmt: skip
# dataset, data_sha256: the prepared data file the runs trained on (vrdl.data), for the report's check;
# tuning_sha256: of the tuning.tsv the selection was made from (read_selection checks both agree)


class SelectionError(ValueError):
    """The tune runs cannot give a selection (files that disagree, other settings or data than
    configured, nothing eligible); the message names the file."""


def hparams_text(hparams: Mapping[str, float]) -> str:
    """Canonical JSON of a hyperparameter point (sorted keys; floats round-trip exactly)."""
    return json.dumps(dict(sorted(hparams.items())), sort_keys=True)


def load_tune_runs(runs: Iterable[Mapping]) -> pd.DataFrame:
    """One row per tune run. Each item of `runs` says what a run was meant to be: `optimizer`,
    `point` (its name in paths), `split`, `seed`, `hparams` (configured values) and `csv`.

    Raises SelectionError naming the file when a run's CSV and JSON disagree or hold anything but
    numbers (vrdl.runs), when its JSON records other settings than configured (a value that never
    reached the optimizer), when it was evaluated on the test set, or when the runs were trained
    on different data."""
    rows, described = [], []
    for run in runs:
        try:
            loaded = read_run(run["csv"], expected=run)
        except RunFileError as err:
            raise SelectionError(str(err)) from None
        meta = loaded.meta
        if meta.get("eval_split", "val") != "val":
            raise SelectionError(f"{run['csv']}: evaluated on {meta['eval_split']!r}, not validation data")
        described.append((run["csv"], meta))
        rows.append(
            dict(
                optimizer=run["optimizer"],
                point=run["point"],
                seed=run.get("seed"),
                split=run["split"],
                hparams=hparams_text(run["hparams"]),
                val_loss=loaded.final_eval_loss,
                epochs=int(loaded.curve["epoch"].iloc[-1]),
                diverged=loaded.diverged,
                csv=str(run["csv"]),
                dataset=meta.get("dataset"),
                data_sha256=meta.get("data_sha256"),
            )
        )
    try:
        check_same_data(described)
    except RunFileError as err:
        raise SelectionError(str(err)) from None
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
                dataset=group["dataset"].iloc[0],
                data_sha256=group["data_sha256"].iloc[0],
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
                dataset=best["dataset"],
                data_sha256=best["data_sha256"],
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
    selected = select_best(read_tsv(table_path))  # from the table as written, as read_selection checks it
    selected["tuning_sha256"] = sha256_of(Path(table_path).read_bytes())
    write_tsv(selected, selected_path)
    return selected


def read_selection(selected_path, table_path=None, heal: bool = True) -> pd.DataFrame:
    """selected.tsv, checked against the tuning.tsv beside it (or `table_path`) that it claims to
    come from: that file's hash, and the choice select_best makes from it. SelectionError naming
    the file otherwise, after moving both aside (unless not `heal`) so that `select` reruns."""
    selected_path = Path(selected_path)
    table_path = Path(table_path) if table_path else selected_path.with_name("tuning.tsv")
    try:
        selected = _read_table(selected_path, SELECTED_COLUMNS)
        table = _read_table(table_path, TABLE_COLUMNS)
        if set(selected["tuning_sha256"]) != {sha256_of(table_path.read_bytes())}:
            raise SelectionError(f"{selected_path} was not selected from {table_path} (its tuning_sha256 differs): "
                                 "one of them was edited or replaced")
        best = select_best(table).set_index("optimizer")
        for row in selected.itertuples(index=False):
            if row.optimizer not in best.index or (row.point, row.hparams) != tuple(best.loc[row.optimizer,
                                                                                             ["point", "hparams"]]):
                raise SelectionError(f"{selected_path}: {row.optimizer} {row.point} is not the point {table_path} "
                                     "selects: an edited file")
            json.loads(row.hparams)
    except (SelectionError, ValueError, KeyError, OSError) as err:
        message = str(err) if isinstance(err, SelectionError) else f"{selected_path} cannot be read ({err})"
        moved = [p for p in (selected_path, table_path) if heal and p.is_file()]
        for path in moved:
            path.replace(f"{path}.rejected")
        if moved:
            message += f" [moved aside as {selected_path.name}.rejected: the next snakemake run selects again]"
        raise SelectionError(message) from None
    return selected


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        frame = read_tsv(path)
    except FileNotFoundError:
        raise SelectionError(f"{path} is missing") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SelectionError(f"{path} is not a readable table ({str(err).strip()})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing or frame.empty:
        raise SelectionError(f"{path} lacks column(s) {', '.join(missing)}" if missing else f"{path} has no rows")
    return frame


def check_selections(manifest: Mapping) -> None:
    """read_selection for every (selected.tsv, tuning.tsv) pair of a report manifest (vrdl.plan)."""
    for study in manifest.get("studies", []):
        for setting in study.get("settings", []):
            if setting.get("selected"):
                read_selection(setting["selected"], setting.get("tuning"))
