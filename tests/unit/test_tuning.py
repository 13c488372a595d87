"""The tuning budget (vrdl.tuning): Dodge et al.'s expected best of k against a literal
transcription of their formula and against brute-force enumeration over the grid; the grid-edge
flag."""

import itertools
import math

import numpy as np
import pytest

from vrdl.tuning import expected_best, expected_best_curve, grid_edges, ranking_by_k, ranking_text

GRIDS = [[0.5], [0.9, 0.3], [0.7, 0.2, 0.2, 1.5], [1.0, 0.8, 0.6, 0.4, 0.3, 2.0, 0.35]]


def dodge_literal(scores, n):
    """Dodge et al. (2019), Eq. 1-2, for a score to maximise, transcribed as written:
    E[max_{i<=n} V_i] = sum_i v_i (P(V <= v_i)^n - P(V < v_i)^n), with P the empirical CDF."""
    total = 0.0
    for v in sorted(set(scores)):
        at_most = sum(s <= v for s in scores) / len(scores)
        below = sum(s < v for s in scores) / len(scores)
        total += v * (at_most ** n - below ** n)
    return total


@pytest.mark.parametrize("grid", GRIDS)
def test_with_replacement_is_dodge_et_al_literally(grid):
    for k in range(1, len(grid) + 3):
        # the best loss is minus the best of the negated losses
        assert expected_best(grid, k, replace=True) == pytest.approx(-dodge_literal([-v for v in grid], k))


@pytest.mark.parametrize("grid", GRIDS)
def test_with_replacement_matches_enumerating_every_draw(grid):
    for k in range(1, len(grid) + 1):
        draws = list(itertools.product(grid, repeat=k))
        assert expected_best(grid, k, replace=True) == pytest.approx(np.mean([min(d) for d in draws]))


@pytest.mark.parametrize("grid", GRIDS)
def test_without_replacement_matches_enumerating_every_subset(grid):
    for k in range(1, len(grid) + 1):
        subsets = list(itertools.combinations(grid, k))
        assert expected_best(grid, k) == pytest.approx(np.mean([min(s) for s in subsets]))
    assert expected_best(grid, len(grid)) == min(grid)  # all points: the best one, as select picks
    assert expected_best(grid, 1) == pytest.approx(np.mean(grid))


def test_a_diverged_point_makes_small_budgets_infinite():
    grid = [0.4, math.nan, 0.6]
    assert expected_best(grid, 1) == math.inf  # one draw may be the diverged point
    assert expected_best(grid, 2) == pytest.approx((0.4 + 0.4 + 0.6) / 3)  # any pair has a finite one
    assert expected_best_curve(grid)[-1] == 0.4
    with pytest.raises(ValueError, match="k must be in 1..3"):
        expected_best(grid, 4)


def test_a_ranking_that_depends_on_the_tuning_budget():
    # a: one excellent point among bad ones; b: uniformly decent
    a, b = [0.2, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]
    assert ranking_by_k(a, b) == [False, False, True, True]  # E: 0.8, 0.6, 0.4, 0.2 vs 0.5
    assert "for k = 3, 4 of 1-4 only" in ranking_text("svrg", "sgd", a, b)
    assert "at every k (1-2)" in ranking_text("svrg", "sgd", [0.1, 0.2], [0.5])  # a smaller grid keeps its best


@pytest.mark.parametrize("selected,flags", [
    ({"lr": 0.1}, ["lr at the top of its grid"]),
    ({"lr": 0.001}, ["lr at the bottom of its grid"]),
    ({"lr": 0.01}, []),
])
def test_a_selected_point_on_the_edge_of_its_grid_is_flagged(selected, flags):
    assert grid_edges(selected, {"lr": [0.001, 0.01, 0.1]}) == flags


def test_single_value_axes_and_other_keys_are_no_edge():
    # STORM: c at the top of [10, 100]; k has one value (not searched); w is fixed, not in the grid
    assert grid_edges({"c": 100, "k": 0.1, "w": 0.1}, {"c": [10, 100], "k": [0.1]}) == ["c at the top of its grid"]
