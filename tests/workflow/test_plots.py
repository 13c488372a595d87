"""vrdl.plots' aggregation over seeds (the bands of the final figures) and the convex study's
suboptimality, on hand-made curves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vrdl.plots import seed_band, suboptimality


def curve(losses, grad_per_epoch=100, column="eval_loss"):
    return pd.DataFrame({"epoch": range(len(losses)), "grad_evals": [grad_per_epoch * i for i in range(len(losses))],
                         column: losses})


def test_min_max_band_and_mean():
    seeds = [curve([2.0, 1.0, 0.5]), curve([2.0, 1.4, 0.3]), curve([2.0, 1.3, 0.4])]
    band = seed_band(seeds, "eval_loss")
    assert band["epoch"].tolist() == [0, 1, 2]
    assert band["grad_evals"].tolist() == [0, 100, 200]
    assert band["mean"].tolist() == pytest.approx([2.0, 3.7 / 3, 0.4])
    assert band["low"].tolist() == pytest.approx([2.0, 1.0, 0.3])
    assert band["high"].tolist() == pytest.approx([2.0, 1.4, 0.5])
    assert band["runs"].tolist() == [3, 3, 3]


def test_std_band_is_one_sample_std():
    seeds = [curve([1.0, 0.2]), curve([1.0, 0.4]), curve([1.0, 0.9])]
    band = seed_band(seeds, "eval_loss", band="std")
    std = np.std([0.2, 0.4, 0.9], ddof=1)
    assert band["low"].iloc[1] == pytest.approx(0.5 - std)
    assert band["high"].iloc[1] == pytest.approx(0.5 + std)
    assert band["low"].iloc[0] == band["high"].iloc[0] == 1.0


def test_one_seed_has_no_spread():
    band = seed_band([curve([1.0, 0.5])], "eval_loss", band="std")
    assert band["low"].tolist() == band["mean"].tolist() == band["high"].tolist() == [1.0, 0.5]


def test_diverged_or_missing_seed_leaves_a_gap():
    """A NaN/inf loss of one seed, or an epoch it never reached, has no mean: a diverged seed
    must not hide in the average of the others."""
    seeds = [curve([2.0, 1.0, 0.5]), curve([2.0, math.inf]), curve([2.0, 1.2, float("nan")])]
    band = seed_band(seeds, "eval_loss")
    assert band["mean"].iloc[0] == 2.0
    assert band[["mean", "low", "high"]].iloc[1:].isna().all().all()
    assert band["runs"].tolist() == [3, 2, 1]


def test_epoch_axis_for_variance_csvs():
    a = pd.DataFrame({"epoch": [1, 2, 3], "variance_ratio": [0.5, 0.6, 0.9]})
    b = pd.DataFrame({"epoch": [1, 2, 3], "variance_ratio": [0.7, 0.4, 1.1]})
    band = seed_band([a, b], "variance_ratio", x="epoch")
    assert list(band.columns) == ["epoch", "mean", "low", "high", "runs"]
    assert band["mean"].tolist() == pytest.approx([0.6, 0.5, 1.0])
    assert band["low"].tolist() == pytest.approx([0.5, 0.4, 0.9])


def test_unknown_band_is_an_error():
    with pytest.raises(ValueError, match="band must be one of"):
        seed_band([curve([1.0])], "eval_loss", band="iqr")


def test_suboptimality_is_against_the_best_of_all_runs():
    sgd = curve([2.3, 0.9, 0.8, 0.75], column="train_objective")
    svrg = curve([2.3, 0.8, 0.7001, 0.7], column="train_objective")
    (sgd_gap, svrg_gap), best = suboptimality([sgd, svrg])
    assert best == 0.7
    assert svrg_gap["suboptimality"].tolist() == pytest.approx([1.6, 0.1, 1e-4, 0.0])
    assert sgd_gap["suboptimality"].iloc[-1] == pytest.approx(0.05)
