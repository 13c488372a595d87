"""Time to target on constructed curves."""

import math

import pandas as pd
import pytest

from vrdl.targets import Target, first_reach, reference_target, time_to_target


def curve(losses, per_epoch=100, seconds=2.0):
    return pd.DataFrame(dict(
        epoch=range(len(losses)),
        grad_evals=[e * per_epoch for e in range(len(losses))],
        wall_s=[e * seconds for e in range(len(losses))],
        eval_loss=losses,
    ))


def test_first_reach_is_the_first_row_at_or_below_the_target():
    assert first_reach(curve([2.0, 1.0, 0.5, 0.4]), 0.5) == (200.0, 4.0)
    assert first_reach(curve([2.0, 0.4, 0.9, 0.3]), 0.5) == (100.0, 2.0)  # first, not last


def test_a_run_that_never_reaches_the_target_did_not_reach():
    hit = first_reach(curve([2.0, 1.0, math.nan]), 0.5)
    assert all(math.isnan(v) for v in hit)


def test_reference_target_is_the_best_of_the_mean_curve_with_slack():
    runs = [curve([2.0, 1.0, 0.6, 0.7]), curve([2.0, 1.2, 0.8, 0.5])]
    # mean curve 2.0, 1.1, 0.7, 0.6: best 0.6 (neither seed's own best, 0.6 and 0.5)
    assert reference_target(runs, "sgd").loss == pytest.approx(0.6)
    target = reference_target(runs, "sgd", slack=0.1)
    assert target.loss == pytest.approx(0.66)
    assert target.source == "lowest point of the mean test-loss curve of sgd (+10%)"


def test_reference_target_skips_epochs_where_a_seed_diverged():
    runs = [curve([2.0, 1.0, 0.2]), curve([2.0, 1.0, math.inf])]
    assert reference_target(runs, "sgd").loss == pytest.approx(1.0)


def test_reference_target_refuses_a_reference_without_finite_losses():
    with pytest.raises(ValueError, match="no finite test loss"):
        reference_target([curve([math.nan, math.nan])], "sgd")
    with pytest.raises(ValueError, match="no runs"):
        reference_target([], "sgd")


def test_time_to_target_counts_reaching_runs_and_takes_medians():
    curves = {
        "sgd": [curve([2.0, 1.0, 0.5]), curve([2.0, 0.9, 0.6])],
        "svrg": [curve([2.0, 0.5, 0.4], per_epoch=300, seconds=5.0),
                 curve([2.0, 0.8, 0.5], per_epoch=300, seconds=5.0),
                 curve([2.0, 0.8, 0.7], per_epoch=300, seconds=5.0)],
        "storm": [curve([2.0, 1.5, 1.2])],
    }
    rows = {row.optimizer: row for row in time_to_target(curves, Target(0.5, "given"))}
    assert list(rows) == ["sgd", "svrg", "storm"]
    assert (rows["sgd"].reached, rows["sgd"].runs, rows["sgd"].grad_evals) == (1, 2, 200.0)
    assert not rows["sgd"].reached_all
    assert (rows["svrg"].reached, rows["svrg"].grad_evals, rows["svrg"].wall_s) == (2, 450.0, 7.5)
    assert rows["storm"].reached == 0 and math.isnan(rows["storm"].grad_evals)


def test_study_target_is_a_given_loss_or_the_reference_optimizers_best():
    from vrdl.targets import study_target

    runs = {"sgd": [curve([2.0, 1.0, 0.6])], "mars": [curve([2.0, 0.5, 0.4])]}
    assert study_target({"loss": 0.5, "reference": "sgd"}, runs) == Target(0.5, "given")
    assert study_target({"reference": "sgd", "slack": 0.5}, runs).loss == pytest.approx(0.9)
    assert study_target({}, runs).source == "lowest point of the mean test-loss curve of sgd"
    with pytest.raises(ValueError, match="no runs of the reference optimizer adam"):
        study_target({"reference": "adam"}, runs)


def test_time_to_target_figure_marks_did_not_reach(tmp_path):
    from tests.workflow.test_select import write_run
    from vrdl.plots import time_to_target_figure

    runs = []
    for name, losses in {"sgd": [2.0, 1.0, 0.6], "mars": [2.0, 0.5, 0.4], "svrg": [2.0, 1.5, 1.2]}.items():
        csv = write_run(tmp_path / f"{name}.csv", losses, {"lr": 0.1}, eval_split="test", optimizer=name)
        runs.append(dict(optimizer=name, seed=1, csv=csv))
    out = (tmp_path / "t.png", tmp_path / "t.pdf")
    figure = time_to_target_figure(runs, {"reference": "sgd", "slack": 0.0}, out, title="t")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts == [" 200", " 100", "did not reach the target"]  # sgd at epoch 2, mars at epoch 1, svrg never
    label = figure.axes[0].texts[2]
    assert label.get_bbox_patch() is not None  # boxed, clear of the spine: never reads as struck out
    assert all(p.stat().st_size > 0 for p in out)


def test_a_target_met_before_any_update_is_a_note_not_bars(tmp_path):
    from tests.workflow.test_select import write_run
    from vrdl.plots import time_to_target_figure

    runs = []
    for name in ("sgd", "adam"):  # neither learns: the reference's best loss is its starting loss
        csv = write_run(tmp_path / f"{name}.csv", [2.0, 2.1, 2.2], {"lr": 0.1}, eval_split="test", optimizer=name)
        runs.append(dict(optimizer=name, seed=1, csv=csv))
    figure = time_to_target_figure(runs, {"reference": "sgd"}, (tmp_path / "t.png",), title="t")
    assert not figure.axes  # no bar chart
    assert "before any update" in figure.texts[0].get_text()


# ---------------------------------------------------------------------------- performance profiles


def test_the_performance_profile_of_a_hand_worked_example():
    """Three workloads, two optimizers: A takes 100, 300, 100 gradient computations, B 200, 150
    and never. Ratios to the fastest: A 1, 2, 1; B 2, 1, inf. So rho_A = 2/3 at tau 1 and 1
    from 2 on; rho_B = 1/3 at 1, 2/3 from 2 on, never 1."""
    from vrdl.targets import performance_profile, ratios

    times = {"w1": {"A": 100.0, "B": 200.0}, "w2": {"A": 300.0, "B": 150.0}, "w3": {"A": 100.0, "B": math.nan}}
    assert ratios(times) == {"w1": {"A": 1.0, "B": 2.0}, "w2": {"A": 2.0, "B": 1.0}, "w3": {"A": 1.0, "B": math.inf}}
    profile = performance_profile(times, [1.0, 1.5, 2.0, 100.0])
    assert profile["A"] == pytest.approx([2 / 3, 2 / 3, 1.0, 1.0])
    assert profile["B"] == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])


def test_a_profile_counts_only_the_workloads_an_optimizer_ran():
    from vrdl.targets import performance_profile

    times = {"w1": {"A": 100.0, "B": 100.0}, "w2": {"A": 100.0}, "w3": {"A": math.nan, "B": math.nan}}
    profile = performance_profile(times, [1.0])  # w3: nobody reached its target, left out
    assert profile == {"A": [1.0], "B": [1.0]}


def test_the_common_target_is_every_optimizers_reach_not_one_optimizers_best():
    from vrdl.targets import common_target

    curves = {"sgd": [curve([2.3, 0.8, 0.6])], "svrg": [curve([2.3, 1.0, 0.9])], "flat": [curve([2.3, 2.3, 2.3])]}
    target = common_target(curves, skip=["flat"])
    assert target.loss == 0.9 and "svrg's" in target.source  # the slower one's best: both reach it
    assert common_target({"a": [curve([0.5, 0.6])], "b": [curve([0.5, 0.7])]}) is None  # met before any update
