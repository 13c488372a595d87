"""`vrdl train --compile` (vrdl.compiled: each step's gradients, the reference gradient and SVRG's
snapshot pass as compiled functions) writes the eager run's curve, for every registered optimizer."""

import pytest

from tests.unit.test_train import read_csv, run_cli, train_args
from vrdl.optim import registry

# 80 = 2 x 32 + 16: the ragged last batch runs eagerly; two epochs: a second snapshot, STORM's
# and exact MARS's reference step, alpha-SVRG's second coefficient
CASES = [
    ("sgd", dict(lr=0.05)),
    ("adam", dict(lr=1e-3)),
    ("adagrad", dict(lr=0.01)),
    ("svrg", dict(lr=0.05)),
    ("svrg", dict(lr=0.05, bn=True, cache_snapshot_grads=True)),
    ("storm", dict(lr=None, storm_k=0.1, storm_c=100, bn=True)),
    ("alpha_svrg", dict(lr=1e-3)),
    ("mars", dict(lr=None)),
    ("mars", dict(lr=None, exact=True)),
]


def test_every_registered_optimizer_is_tested_compiled():
    assert {name for name, _ in CASES} == set(registry.OPTIMIZERS)


@pytest.mark.slow  # torch.compile on a CPU: some seconds per compiled function
@pytest.mark.parametrize("optimizer,options", CASES)
def test_compiled_run_writes_the_eager_curve(fashion_mnist_dir, tmp_path, optimizer, options):
    curves = {}
    for compiled in (False, True):
        out = tmp_path / f"{compiled}.csv"
        run_cli(train_args(fashion_mnist_dir, out, optimizer=optimizer, train_subset=80, eval_subset=64,
                           threads=1, compile=compiled or None, **options))
        curves[compiled] = read_csv(out)
    eager, fast = curves[False], curves[True]
    assert [r["grad_evals"] for r in fast] == [r["grad_evals"] for r in eager]
    for column in ("lr", "train_loss", "train_acc", "eval_loss", "eval_acc"):
        expected = [float(r[column]) for r in eager]
        assert [float(r[column]) for r in fast] == pytest.approx(expected, rel=1e-6, nan_ok=True), column
