"""vrdl.select on hand-written runs: mean over folds, diverged points never selected."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from vrdl.identity import run_record, sealed_json
from vrdl.select import (
    SelectionError,
    aggregate,
    load_tune_runs,
    read_tsv,
    run_selection,
    select_best,
)

DATA = "d" * 64  # data_sha256 of every hand-written run


def write_run(path, losses, hparams, diverged=False, eval_split="val", optimizer="sgd", seed=1):
    """A run's CSV and JSON as `vrdl train` writes them; a diverged run stops at its NaN loss."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if diverged:
        losses = [*losses[:-1], float("nan")]
    rows = [
        dict(epoch=i, grad_evals=100 * i, wall_s=0.1 * i, lr=hparams.get("lr", 0.0), train_loss=loss,
             train_acc=0.5, eval_loss=loss, eval_acc=0.5)
        for i, loss in enumerate(losses)
    ]
    pd.DataFrame(rows).to_csv(path, index=False, na_rep="nan")  # as vrdl writes it
    epochs = len(losses) - 1
    meta = dict(optimizer=optimizer, hparams=hparams, diverged=diverged, eval_split=eval_split, seed=seed,
                dataset="fashion_mnist", data_sha256=DATA, epochs=epochs if not diverged else epochs + 3,
                epochs_run=epochs, diverged_epoch=epochs if diverged else None, grad_evals=100 * epochs,
                final_eval_loss=None if diverged else losses[-1])
    meta |= run_record(path, path.read_text())  # its identity (if any) and the CSV's hash
    path.with_suffix(".json").write_text(sealed_json(meta))
    return path


def make_runs(tmp_path, spec):
    """spec: {(optimizer, point): (hparams, [(final loss, diverged) per fold])}."""
    runs = []
    for (optimizer, point), (hparams, folds) in spec.items():
        for fold, (loss, diverged) in enumerate(folds):
            csv = write_run(tmp_path / optimizer / point / f"fold~{fold}.csv", [2.3, loss], hparams,
                            diverged=diverged, optimizer=optimizer)
            runs.append(dict(optimizer=optimizer, point=point, split=f"fold~{fold}", seed=1,
                             hparams=hparams, csv=csv))
    return runs


def test_argmin_of_mean_over_folds(tmp_path):
    runs = make_runs(tmp_path, {
        # fold means 0.5 vs 0.45: the second wins although its best fold is worse than 0.3
        ("sgd", "lr~0.1"): ({"lr": 0.1}, [(0.3, False), (0.7, False)]),
        ("sgd", "lr~0.01"): ({"lr": 0.01}, [(0.4, False), (0.5, False)]),
        ("storm", "c~10_k~0.1"): ({"c": 10, "k": 0.1, "w": 0.1}, [(0.9, False), (0.9, False)]),
        ("storm", "c~100_k~0.1"): ({"c": 100, "k": 0.1, "w": 0.1}, [(0.8, False), (1.0, False)]),
    })
    table = aggregate(load_tune_runs(runs))
    assert table.set_index("point").loc["lr~0.01", "mean_val_loss"] == pytest.approx(0.45)
    assert table.set_index("point").loc["lr~0.01", "std_val_loss"] == pytest.approx(math.sqrt(0.005))
    best = select_best(table).set_index("optimizer")
    assert best.loc["sgd", "point"] == "lr~0.01"
    assert json.loads(best.loc["sgd", "hparams"]) == {"lr": 0.01}
    assert best.loc["storm", "point"] == "c~10_k~0.1"  # both means 0.9: the first listed wins
    assert best.loc["storm", "folds"] == 2 and best.loc["storm", "points"] == 2


def test_diverged_point_is_never_selected(tmp_path):
    runs = make_runs(tmp_path, {
        # the lowest mean if the diverged fold counted as its last finite loss
        ("sgd", "lr~0.1"): ({"lr": 0.1}, [(0.1, False), (0.1, True)]),
        ("sgd", "lr~0.01"): ({"lr": 0.01}, [(0.5, False), (0.5, False)]),
        ("sgd", "lr~1"): ({"lr": 1}, [(0.01, True), (0.05, False)]),
    })
    table = aggregate(load_tune_runs(runs)).set_index("point")
    assert table.loc["lr~0.1", "diverged"] == 1 and math.isnan(table.loc["lr~0.1", "mean_val_loss"])
    assert table.loc["lr~1", "diverged"] == 1
    best = select_best(table.reset_index()).set_index("optimizer")
    assert best.loc["sgd", "point"] == "lr~0.01"
    assert best.loc["sgd", "diverged"] == 2


def test_all_points_diverged_is_an_error(tmp_path):
    runs = make_runs(tmp_path, {("adam", "lr~0.1"): ({"lr": 0.1}, [(0.1, True)])})
    with pytest.raises(SelectionError, match="adam: all 1 grid points have a diverged run"):
        select_best(aggregate(load_tune_runs(runs)))


def test_hyperparameter_that_never_reached_the_optimizer_is_caught(tmp_path):
    """The original code's STORM k was shadowed by the fold index: the JSON records what ran."""
    csv = write_run(tmp_path / "run.csv", [2.3, 0.5], {"c": 100, "k": 3, "w": 0.1}, optimizer="storm")
    runs = [dict(optimizer="storm", point="c~100_k~0.1", split="fold~0", seed=1,
                 hparams={"c": 100, "k": 0.1, "w": 0.1}, csv=csv)]
    with pytest.raises(SelectionError, match="k configured as 0.1 but the run recorded 3"):
        load_tune_runs(runs)


def test_runs_evaluated_on_test_data_are_refused(tmp_path):
    csv = write_run(tmp_path / "run.csv", [2.3, 0.5], {"lr": 0.1}, eval_split="test")
    runs = [dict(optimizer="sgd", point="lr~0.1", split="fold~0", seed=1, hparams={"lr": 0.1}, csv=csv)]
    with pytest.raises(SelectionError, match="not validation data"):
        load_tune_runs(runs)


def test_written_tables_round_trip(tmp_path):
    runs = make_runs(tmp_path, {
        ("sgd", "lr~0.1"): ({"lr": 0.1}, [(0.1 + 0.2, False)]),
        ("adam", "lr~1e-05"): ({"lr": 1e-05}, [(0.7, False)]),
    })
    run_selection(runs, tmp_path / "selected.tsv", tmp_path / "tuning.tsv")
    selected = read_tsv(tmp_path / "selected.tsv").set_index("optimizer")
    assert selected.loc["sgd", "mean_val_loss"] == 0.1 + 0.2  # full precision
    assert json.loads(selected.loc["adam", "hparams"]) == {"lr": 1e-05}
    assert math.isnan(selected.loc["adam", "std_val_loss"])  # one run: no spread
    assert list(read_tsv(tmp_path / "tuning.tsv")["point"]) == ["lr~0.1", "lr~1e-05"]


def test_mean_over_folds_and_seeds(tmp_path):
    """Every tune run of a point counts once: 2 folds x 2 seeds, one mean over all four."""
    runs = []
    losses = {  # (point, seed, fold) -> final validation loss
        ("lr~0.1", 1, 0): 0.2, ("lr~0.1", 1, 1): 0.4, ("lr~0.1", 2, 0): 0.9, ("lr~0.1", 2, 1): 0.9,
        ("lr~0.01", 1, 0): 0.5, ("lr~0.01", 1, 1): 0.5, ("lr~0.01", 2, 0): 0.5, ("lr~0.01", 2, 1): 0.6,
    }
    for (point, seed, fold), loss in losses.items():
        hparams = {"lr": float(point.split("~")[1])}
        csv = write_run(tmp_path / point / f"seed~{seed}" / f"fold~{fold}.csv", [2.3, loss], hparams, seed=seed)
        runs.append(dict(optimizer="sgd", point=point, split=f"fold~{fold}", seed=seed, hparams=hparams, csv=csv))
    table = aggregate(load_tune_runs(runs)).set_index("point")
    assert table.loc["lr~0.1", "mean_val_loss"] == pytest.approx(0.6)  # seed 1 alone would pick it (0.3)
    assert table.loc["lr~0.01", "mean_val_loss"] == pytest.approx(0.525)
    assert table.loc["lr~0.01", "std_val_loss"] == pytest.approx(pd.Series([0.5, 0.5, 0.5, 0.6]).std(ddof=1))
    assert (table.loc["lr~0.1", "folds"], table.loc["lr~0.1", "seeds"]) == (4, 2)
    best = select_best(table.reset_index()).set_index("optimizer")
    assert best.loc["sgd", "point"] == "lr~0.01"
    assert (best.loc["sgd", "folds"], best.loc["sgd", "seeds"], best.loc["sgd", "points"]) == (4, 2, 2)
