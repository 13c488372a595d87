"""Reading a run's outputs: RUN.csv cross-checked against RUN.json (and RUN.variance.csv).

The one reader of `select`, the figures and the report, so that a hand-edited, truncated or
mixed-up file is refused the same way everywhere, naming the file: every cell must be a number
(`nan`/`inf` only where a run diverged), epochs run 0..N, and the JSON must agree with the CSV
(epochs run, gradient count, diverged flag, final loss) and with what the caller configured
(optimizer, seed, hyperparameters). RUN.json also records the run's identity (stage, study, BN,
optimizer, point, split, seed: the fields of its path in the workflow's layout, vrdl.paths) and a
SHA-256 of its CSVs (`vrdl.identity.run_record`), so an edited row, or a run copied into another run's place, is
refused too. A refused run is moved aside (RUN.csv.rejected, ...) so that Snakemake reruns it.
`check_same_data` refuses runs of one data set trained on different prepared files.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vrdl.identity import identity_of, run_stem, sha256_of, unseal

CURVE_COLUMNS = ("epoch", "grad_evals", "wall_s", "lr", "train_loss", "train_acc", "eval_loss", "eval_acc")


class RunFileError(ValueError):
    """A run's files are missing, malformed or disagree; the message names the file."""


def _check_identity(where: Path, meta: Mapping) -> None:
    """A run in the workflow's layout must have been written for that place, with settings that fit it."""
    expected = identity_of(where)
    if expected is None:
        return
    recorded = meta.get("identity")
    if recorded != expected:
        def text(identity):
            return " ".join(f"{k}={v}" for k, v in identity.items()) if isinstance(identity, dict) else "(none)"

        raise RunFileError(f"{where}: written as run {text(recorded)} (its RUN.json identity), not as the run of "
                           f"its path ({text(expected)}): copied from another run's place?")
    settings = dict(bn=("on" if meta.get("bn") else "off"), optimizer=meta.get("optimizer"),
                    seed=str(meta.get("seed")),
                    split=f"fold~{meta.get('fold')}" if meta.get("folds") else
                    "holdout" if meta.get("val_fraction") else None,
                    variant="on" if meta.get("metainit") else "off",
                    locking="on" if meta.get("transform_locking") else "off")
    for key, value in expected.items():
        if key in settings and settings[key] != value:
            raise RunFileError(f"{where}: the run trained with {key} {settings[key]}, but its path says {value}")


def _check_hash(path: Path, meta: Mapping, key: str) -> None:
    if not isinstance(meta.get(key), str):
        raise RunFileError(f"{path}: its RUN.json records no {key} (written by an older vrdl?), so the file "
                           "cannot be checked")
    if sha256_of(path.read_bytes()) != meta[key]:
        raise RunFileError(f"{path} is not the file the run wrote (its SHA-256 differs from {key} in its "
                           "RUN.json): an edited or replaced file")


def set_aside(csv_path: str | Path) -> list[Path]:
    """Move a refused run's files (RUN.csv, RUN.json, RUN.variance.csv) to NAME.rejected, where
    Snakemake no longer finds them: its next run reruns the run. Returns the moved files."""
    stem = run_stem(csv_path)
    moved = []
    for path in (Path(stem + ".csv"), Path(stem + ".json"), Path(stem + ".variance.csv")):
        if path.is_file():
            os.replace(path, f"{path}.rejected")
            moved.append(path)
    return moved


def _refused(err: RunFileError, csv_path: Path, heal: bool) -> RunFileError:
    """The refusal, with the run's files set aside when `heal`; its message says so."""
    if not heal or not set_aside(csv_path):
        return err
    return RunFileError(f"{err} [moved aside as {csv_path.name}.rejected with its RUN.json: the next "
                        "snakemake run reruns it]")


@dataclass
class Run:
    csv: Path
    curve: pd.DataFrame
    meta: dict

    @property
    def diverged(self) -> bool:
        return bool(self.meta["diverged"])

    @property
    def final_eval_loss(self) -> float:
        return float(self.curve["eval_loss"].iloc[-1])


def same_value(used, configured) -> bool:
    try:
        return float(used) == float(configured)
    except (TypeError, ValueError):
        return used == configured


def _reject_constant(token: str):
    raise ValueError(f"{token} is not JSON")


def read_meta(json_path: str | Path) -> dict:
    json_path = Path(json_path)
    try:
        meta = json.loads(json_path.read_text(), parse_constant=_reject_constant)
    except FileNotFoundError:
        raise RunFileError(f"{json_path} is missing (every RUN.csv has its RUN.json beside it)") from None
    except ValueError as err:
        raise RunFileError(f"{json_path} is not valid JSON ({err}); rerun the run") from None
    if not isinstance(meta, dict):
        raise RunFileError(f"{json_path} does not hold a run's description (a JSON object)")
    broken = unseal(meta)
    if broken:
        raise RunFileError(f"{json_path} {broken}")
    return meta


def read_numeric_csv(path: str | Path, columns: Iterable[str]) -> pd.DataFrame:
    """A CSV whose `columns` must all be present and every cell a number (nan/inf allowed)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=["nan"])
    except FileNotFoundError:
        raise RunFileError(f"{path} is missing") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise RunFileError(f"{path} is not a readable CSV ({str(err).strip()})") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RunFileError(f"{path} lacks column(s) {', '.join(missing)}")
    for column in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[column]):
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & (frame[column].astype(str) != "nan")
        if bad.any():
            row = int(bad.idxmax())
            raise RunFileError(f"{path}, line {row + 2}, column {column}: "
                               f"{frame[column].iloc[row]!r} is not a number")
        frame[column] = numbers
    if frame.empty:
        raise RunFileError(f"{path} has no rows")
    return frame


def _check_agrees(run: Run, expected: Mapping) -> None:
    """JSON against CSV, and both against what the caller configured."""
    meta, curve, where = run.meta, run.curve, run.csv
    epochs = curve["epoch"].tolist()
    if epochs != list(range(len(curve))):
        raise RunFileError(f"{where}: epochs are {epochs[:3]}...{epochs[-1:]}, not 0, 1, 2, ... in order")
    last = curve.iloc[-1]

    def differs(what, recorded, in_csv):
        raise RunFileError(f"{where}: {what} is {in_csv} in the CSV but {recorded} in {where.with_suffix('.json').name}"
                           " (a truncated or edited file: rerun the run)")

    for key in ("epochs_run", "grad_evals", "diverged", "epochs"):
        if key not in meta:
            raise RunFileError(f"{where.with_suffix('.json')} lacks {key!r} (written by another vrdl version?)")
    if meta["epochs_run"] != int(last["epoch"]):
        differs("the last epoch", meta["epochs_run"], int(last["epoch"]))
    if meta["grad_evals"] != int(last["grad_evals"]):
        differs("the gradient count", meta["grad_evals"], int(last["grad_evals"]))
    finite = curve[["train_loss", "eval_loss"]].map(math.isfinite).all(axis=1)
    diverged_in_csv = not bool(finite.iloc[-1])
    if bool(meta["diverged"]) != diverged_in_csv or not finite.iloc[:-1].all():
        differs("diverged", meta["diverged"], diverged_in_csv)
    if not meta["diverged"] and meta["epochs_run"] != meta["epochs"]:
        raise RunFileError(f"{where}: ran {meta['epochs_run']} of {meta['epochs']} epochs without diverging "
                           "(an unfinished run: rerun it)")
    final = meta.get("final_eval_loss")
    if not (final is None and not math.isfinite(last["eval_loss"]) or same_value(final, last["eval_loss"])):
        differs("the final eval loss", final, last["eval_loss"])
    recorded = meta.get("hparams", {})
    for key, value in expected.get("hparams", {}).items():
        if key not in recorded or not same_value(recorded[key], value):
            raise RunFileError(f"{where}: {key} configured as {value!r} but the run recorded {recorded.get(key)!r}")
    for key in ("optimizer", "seed"):
        if key in expected and key in meta and not same_value(meta[key], expected[key]):
            raise RunFileError(f"{where}: {key} {meta[key]!r}, expected {expected[key]!r}")


def read_run(csv_path: str | Path, expected: Mapping | None = None, heal: bool = True) -> Run:
    """RUN.csv and RUN.json, checked against each other, against the run their path names, against
    the CSV's hash and against `expected` (any of optimizer, seed, hparams); RunFileError naming
    the file otherwise, after moving the run's files aside (unless not `heal`)."""
    csv_path = Path(csv_path)
    try:
        run = Run(csv_path, read_numeric_csv(csv_path, CURVE_COLUMNS), read_meta(csv_path.with_suffix(".json")))
        _check_agrees(run, expected or {})
        _check_identity(csv_path, run.meta)
        _check_hash(csv_path, run.meta, "csv_sha256")  # last: the checks above say more precisely what is wrong
    except RunFileError as err:
        raise _refused(err, csv_path, heal) from None
    return run


def check_run_files(csv_path: str | Path, heal: bool = True) -> None:
    """The cheap half of read_run, for every run a job reads on every workflow call: RUN.json's
    seal, the run's identity and its CSVs' hashes, no parsing. A file edited or swapped since it
    was written (its mtime kept: a restore, `cp -p`) is caught here, not only by a job that runs."""
    csv_path = Path(csv_path)
    try:
        meta = read_meta(csv_path.with_suffix(".json"))
        _check_identity(csv_path, meta)
        _check_hash(csv_path, meta, "csv_sha256")
        variance = Path(run_stem(csv_path) + ".variance.csv")
        if "variance_sha256" in meta and variance.is_file():
            _check_hash(variance, meta, "variance_sha256")
    except RunFileError as err:
        raise _refused(err, csv_path, heal) from None


def read_variance(path: str | Path, heal: bool = True) -> tuple[pd.DataFrame, dict]:
    """RUN.variance.csv (numbers only, epochs the run was asked to measure) and its RUN.json."""
    path = Path(path)
    try:
        frame = read_numeric_csv(path, ("epoch",))
        meta = read_meta(run_stem(path) + ".json")
        asked = set(meta.get("variance_epochs") or ())
        if not set(frame["epoch"].astype(int)) <= asked:
            raise RunFileError(f"{path}: epochs {sorted(frame['epoch'].astype(int))} but the run measured "
                               f"{sorted(asked)}")
        _check_identity(path, meta)
        _check_hash(path, meta, "variance_sha256")
    except RunFileError as err:
        raise _refused(err, Path(run_stem(path) + ".csv"), heal) from None
    return frame, meta


def check_same_data(described: Iterable[tuple[str | Path, Mapping]]) -> None:
    """(file, its JSON) pairs: runs of one data set must come from one prepared file."""
    seen: dict[str, tuple[str, Path]] = {}
    for path, meta in described:
        sha = meta.get("data_sha256")
        if not isinstance(sha, str):
            raise RunFileError(f"{path} records no data_sha256 (written before vrdl recorded its data), so it "
                               "cannot be checked against the other runs; delete it and rerun")
        dataset = meta.get("dataset", "?")
        first = seen.setdefault(dataset, (sha, Path(path)))
        if first[0] != sha:
            raise RunFileError(f"runs trained on different {dataset} data: {first[1]} (data {first[0][:12]}) and "
                               f"{path} (data {sha[:12]}); rerun the runs of the stale data")


def listed_files_data(manifest) -> list[tuple[Path, Mapping]]:
    """(file, what it records about its data) for every run CSV (via its JSON) and every table
    with a data_sha256 column (select's TSVs) named anywhere in `manifest` (nested dicts/lists)."""
    found = []

    def walk(item):
        if isinstance(item, Mapping):
            for value in item.values():
                walk(value)
        elif isinstance(item, list | tuple):
            for value in item:
                walk(value)
        elif isinstance(item, str | Path) and str(item).endswith(".csv"):
            path = Path(item)
            stem = path.name.removesuffix(".variance.csv").removesuffix(".csv")
            found.append((path, read_meta(path.with_name(stem + ".json"))))
        elif isinstance(item, str | Path) and str(item).endswith(".tsv"):
            table = pd.read_csv(item, sep="\t", quoting=csv.QUOTE_NONE,
                                usecols=lambda column: column in ("dataset", "data_sha256"))
            for row in table.to_dict("records") or [{}]:
                found.append((Path(item), row))

    walk(manifest)
    return found
