"""The tidy tables of a config's results: every run in one table, every epoch of every run in
another, so that a researcher compares anything with two lines of pandas instead of parsing
hundreds of CSV/JSON files:

    runs = pd.read_parquet("results/quick/runs.parquet")      # one row per run
    curves = pd.read_parquet("results/quick/curves.parquet")  # one row per run and epoch

Every run is read through the checked reader (vrdl.runs.read_run), so a damaged or mixed-up
run file stops the table naming the file instead of entering it. `run` (the run's path without
.csv) joins the two tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from vrdl.runs import CURVE_COLUMNS, read_run

# What identifies a run (from the plan): its stage and place in the study; None where it does
# not apply (a final run has no split, a tune run no MetaInit variant).
IDENTITY = ("stage", "study", "bn", "optimizer", "point", "split", "seed", "variant", "locking")
# What each run recorded (RUN.json), in this order after the identity.
RECORDED = ("dataset", "model", "width", "epochs", "epochs_run", "batch_size", "eval_split", "n_train", "n_eval",
            "diverged", "diverged_epoch", "device", "git_commit", "git_dirty", "code_fingerprint", "data_sha256")
SUMMARY = ("grad_evals", "wall_s", "final_train_loss", "final_train_acc", "final_eval_loss", "final_eval_acc",
           "best_eval_loss", "best_eval_acc")


def run_row(identity: Mapping, curve: pd.DataFrame, meta: Mapping) -> dict:
    """One run's row: identity, what it recorded, every hyperparameter as its own column, and its
    curve's summary (final and best, over the epochs it ran)."""
    row = {key: identity.get(key) for key in ("run", *IDENTITY)}
    row.update({key: meta.get(key) for key in RECORDED})
    last = curve.iloc[-1]
    row.update(
        grad_evals=int(last["grad_evals"]),
        wall_s=float(last["wall_s"]),
        final_train_loss=float(last["train_loss"]),
        final_train_acc=float(last["train_acc"]),
        final_eval_loss=float(last["eval_loss"]),
        final_eval_acc=float(last["eval_acc"]),
        best_eval_loss=float(curve["eval_loss"].min()),  # NaN rows (a diverged last epoch) are skipped
        best_eval_acc=float(curve["eval_acc"].max()),
    )
    for key, value in (meta.get("hparams") or {}).items():
        row[key if key not in row else f"hp_{key}"] = value
    return row


def build(runs: Sequence[Mapping]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs table, curves table) of `runs`: identity dicts (IDENTITY keys) with `csv`, the run's
    CSV path, and optionally `expected` (what read_run checks the run against)."""
    rows, curves = [], []
    for spec in runs:
        run = read_run(spec["csv"], spec.get("expected"))
        identity = dict(spec, run=str(Path(spec["csv"]).with_suffix("")))
        rows.append(run_row(identity, run.curve, run.meta))
        curve = run.curve[list(CURVE_COLUMNS)].copy()
        for key in ("run", *IDENTITY):
            curve.insert(len(curve.columns) - len(CURVE_COLUMNS), key, identity.get(key))
        curves.append(curve)
    table = pd.DataFrame(rows)
    columns = ["run", *IDENTITY, *RECORDED, *SUMMARY]
    table = table[[c for c in columns if c in table] + [c for c in table if c not in columns]]
    curve_table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(
        columns=["run", *IDENTITY, *CURVE_COLUMNS])
    return _typed(table), _typed(curve_table)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of one kind each (parquet needs that): identity as strings (seed as an integer),
    hyperparameters that are numbers in some runs and absent in others as floats."""
    for key in ("stage", "study", "bn", "optimizer", "point", "split", "variant", "locking"):
        if key in frame:
            frame[key] = frame[key].astype("string")
    if "seed" in frame:
        frame["seed"] = frame["seed"].astype("Int64")
    return frame.convert_dtypes(convert_string=True, convert_integer=False, convert_floating=False)


def write(runs: Sequence[Mapping], runs_parquet: str | Path, runs_csv: str | Path, curves_parquet: str | Path) -> None:
    table, curves = build(runs)
    table.to_parquet(runs_parquet, index=False)
    table.to_csv(runs_csv, index=False)
    curves.to_parquet(curves_parquet, index=False)
