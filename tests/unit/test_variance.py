"""Gradient-variance diagnostics against a brute-force computation, and their run outputs."""

import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from tests.unit.test_train import run_cli, train_args
from vrdl.gradients import Objective, ReferenceGradients
from vrdl.variance import estimator_variances


def test_variances_match_a_brute_force_computation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 40, 8)]
    iterate = [p.detach().clone() for p in model.parameters()]
    snapshot = [p + 0.3 * torch.randn_like(p) for p in iterate]
    direction = [torch.randn_like(p) for p in iterate]

    def grad(params, xb, yb):  # an independent copy: one plain backward per batch
        m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
        with torch.no_grad():
            for p, v in zip(m.parameters(), params):
                p.copy_(v)
        torch.nn.functional.cross_entropy(m(xb), yb).backward()
        return np.concatenate([p.grad.numpy().ravel() for p in m.parameters()]).astype(np.float64)

    g = np.stack([grad(iterate, xb, yb) for xb, yb in batches])
    g_snap = np.stack([grad(snapshot, xb, yb) for xb, yb in batches])
    mu = g_snap.mean(0) + 1.7  # any constant: the estimator's variance does not depend on mu
    svrg = g - g_snap + mu

    def total_variance(v):
        return float(np.sum((v - v.mean(0)) ** 2) / (len(v) - 1))

    got = estimator_variances(ReferenceGradients(model), iterate, snapshot, batches, direction)
    assert got["batches"] == 5
    assert got["var_sgd"] == pytest.approx(total_variance(g), rel=1e-5)
    assert got["var_svrg"] == pytest.approx(total_variance(svrg), rel=1e-5)
    assert got["variance_ratio"] == pytest.approx(total_variance(svrg) / total_variance(g), rel=1e-5)
    d = np.concatenate([t.numpy().ravel() for t in direction])
    assert got["storm_sq_error"] == pytest.approx(float(np.sum((d - g.mean(0)) ** 2)), rel=1e-5)

    # the jackknife over the 5 batches, brute force: each estimate recomputed without batch j
    def jackknife(stat):
        values = np.array([stat(np.delete(g, j, 0), np.delete(svrg, j, 0)) for j in range(len(g))])
        return float(np.sqrt((len(g) - 1) / len(g) * np.sum((values - values.mean()) ** 2)))

    assert got["var_sgd_se"] == pytest.approx(jackknife(lambda a, b: total_variance(a)), rel=1e-4)
    assert got["var_svrg_se"] == pytest.approx(jackknife(lambda a, b: total_variance(b)), rel=1e-4)
    ratio_se = jackknife(lambda a, b: total_variance(b) / total_variance(a))
    assert got["variance_ratio_se"] == pytest.approx(ratio_se, rel=1e-4) and ratio_se > 0


def test_svrg_variance_vanishes_at_its_snapshot():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    params = [p.detach() for p in model.parameters()]
    got = estimator_variances(ReferenceGradients(model), params, params, [(x[:16], y[:16]), (x[16:], y[16:])])
    assert got["var_svrg"] == 0 and got["var_sgd"] > 0
    assert np.isnan(got["variance_ratio_se"])  # 2 batches: no jackknife


def test_l2_objective_adds_the_weight_penalty():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(5, 3), torch.randint(0, 2, (5,))
    plain, _ = Objective()(model, x, y)
    with_l2, _ = Objective(0.1)(model, x, y)
    torch.testing.assert_close(with_l2 - plain, 0.05 * (model.weight.square().sum() + model.bias.square().sum()))
    summed, _ = Objective(0.1)(model, x, y, reduction="sum")
    torch.testing.assert_close(summed / 5, with_l2)


def test_a_run_writes_variance_and_objective_columns(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    run_cli(train_args(fashion_mnist_dir, out, optimizer="storm", lr=None, epochs=3, variance_epochs="1,3",
                       variance_batches=4, track_objective=True, l2=0.01))
    with open(tmp_path / "run.variance.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 3]
    assert all(float(r["var_sgd"]) > 0 and float(r["storm_sq_error"]) >= 0 for r in rows)
    with open(out) as f:
        curve = list(csv.DictReader(f))
    # the objective includes the L2 term, so it lies above the cross-entropy at the same iterate
    assert all(float(r["train_objective"]) > 0 for r in curve)
    assert json.loads(out.with_suffix(".json").read_text())["l2"] == 0.01


def test_unlocked_variance_takes_the_snapshot_gradient_on_the_other_input():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    params = [p.detach() for p in model.parameters()]
    x_other = x + 1.0
    locked = estimator_variances(ReferenceGradients(model), params, params, [(x[:16], y[:16]), (x[16:], y[16:])])
    unlocked = estimator_variances(ReferenceGradients(model), params, params,
                                   [(x[:16], y[:16], x_other[:16]), (x[16:], y[16:], x_other[16:])])
    assert locked["var_svrg"] == 0 < unlocked["var_svrg"]
