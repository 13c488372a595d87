"""The bootstrap over test examples (vrdl.bootstrap): its standard error of a mean against the
analytic one, the paired gap, and the per-block test losses a run records (the same mean test
loss as vrdl.gradients.evaluate)."""

import math

import numpy as np
import pytest
import torch

from vrdl.bootstrap import BLOCKS, bootstrap_se, evaluate_blocks, gap_se
from vrdl.data import DeviceSplit
from vrdl.gradients import evaluate


@pytest.mark.parametrize("n,seed", [(64, 0), (200, 1), (30, 2)])
def test_the_bootstrap_se_of_a_mean_is_the_analytic_one(n, seed):
    values = np.random.default_rng(seed).normal(1.0, 0.3, n)
    analytic = values.std(ddof=0) / math.sqrt(n)  # the bootstrap's own limit
    assert bootstrap_se(values, resamples=20_000) == pytest.approx(analytic, rel=0.03)


def test_the_bootstrap_is_deterministic_and_needs_two_values():
    values = [0.1, 0.4, 0.2, 0.9]
    assert bootstrap_se(values) == bootstrap_se(values)
    assert math.isnan(bootstrap_se([0.5])) and math.isnan(bootstrap_se([0.1, math.nan]))


def test_the_gap_is_paired_block_by_block():
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 0.5, 64)
    b = a + 0.1 + rng.normal(0, 0.01, 64)  # the same hard examples: b - a scatters by 0.01
    assert gap_se(a, b) == pytest.approx(np.std(b - a) / 8, rel=0.1)
    assert gap_se(a, b) < 0.01 < math.hypot(bootstrap_se(a), bootstrap_se(b))
    assert math.isnan(gap_se(a, b[:10])) and math.isnan(gap_se(None, b))


def test_the_recorded_blocks_average_to_the_evaluated_loss():
    torch.manual_seed(0)
    x, y = torch.randint(0, 256, (1300, 1, 4, 4), dtype=torch.uint8), torch.randint(0, 3, (1300,))
    split = DeviceSplit(x, y, torch.tensor([0.5]), torch.tensor([0.3]))  # 2 eval batches of 1000
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    loss, acc, blocks = evaluate_blocks(model, split)
    assert (loss, acc) == evaluate(model, split)  # the same numbers as before
    counts = np.bincount(np.arange(1300) % BLOCKS, minlength=BLOCKS)
    assert len(blocks) == BLOCKS
    assert float(np.dot(blocks, counts) / 1300) == pytest.approx(loss, rel=1e-5)
