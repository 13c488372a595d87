"""`vrdl train-grid` (stacked runs under vmap) gives the curves of separate `vrdl train` runs."""

import json

import pytest
import torch

from tests.unit.test_plan import PAPER
from tests.unit.test_train import read_csv, run_cli, train_args
from vrdl.config import ConfigError, load_config
from vrdl.grid import StackedOptimizer
from vrdl.optim import build_optimizer, registry
from vrdl.plan import Plan
from vrdl.train import RunConfig

# two grid points of every optimizer the registry says train-grid can stack
STACKED_POINTS = {
    "sgd": [dict(lr=0.1), dict(lr=0.01)],
    "adam": [dict(lr=0.1), dict(lr=0.01)],
    "adagrad": [dict(lr=0.1), dict(lr=0.01)],
    "svrg": [dict(lr=0.1), dict(lr=0.01)],
    "storm": [dict(k=0.5, c=10.0), dict(k=0.1, c=100.0)],
}


def test_every_stackable_optimizer_is_tested_stacked():
    assert set(STACKED_POINTS) == {name for name, entry in registry.OPTIMIZERS.items() if entry.stacked}


@pytest.mark.parametrize("name,hparams", STACKED_POINTS.items())
def test_stacked_updates_equal_the_single_run_optimizers(name, hparams):
    """Same gradients in, same parameters out: the stacked rules against torch.optim / vrdl.optim."""
    g = torch.Generator().manual_seed(0)
    cfgs = [RunConfig(dataset="mnist", model="lenet", optimizer=name, epochs=1, batch_size=8, hparams=h)
            for h in hparams]
    singles = [torch.randn(3, 2, generator=g) for _ in cfgs]
    params = {"w": torch.stack([p.clone() for p in singles])}
    singles = [p.clone().requires_grad_() for p in singles]
    opts = [build_optimizer(name, [p], **c.hparams)
            for p, c in zip(singles, cfgs)]
    stacked = StackedOptimizer(name, cfgs, params)
    if name == "svrg":
        mu = torch.randn(2, 3, 2, generator=g)
        stacked.state.update(snapshot={"w": params["w"].clone()}, mu={"w": mu})
        for opt, m in zip(opts, mu):
            opt.take_snapshot()
            opt.set_full_gradient([m])
    for _ in range(5):
        grads = torch.randn(2, 3, 2, generator=g)
        reference = torch.randn(2, 3, 2, generator=g)
        needs_reference = stacked.reference_params() is not None
        stacked.step(params, {"w": grads}, {"w": reference} if needs_reference else None)
        for r, (p, opt) in enumerate(zip(singles, opts)):
            p.grad = grads[r].clone()
            if registry.get(name).reference != "none":
                opt.step([reference[r]] if needs_reference else None)
            else:
                opt.step()
        for r, p in enumerate(singles):
            torch.testing.assert_close(params["w"][r], p.detach(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("optimizer,points", [
    ("sgd", [dict(lr=0.05), dict(lr=0.2)]),
    ("adam", [dict(lr=1e-3), dict(lr=1e-2)]),
    ("adagrad", [dict(lr=0.003), dict(lr=0.01)]),
    ("svrg", [dict(lr=0.02), dict(lr=0.1)]),
    ("storm", [dict(lr=None, storm_k=0.1, storm_c=100), dict(lr=None, storm_k=0.5, storm_c=10)]),
])
def test_grid_runs_match_separate_runs(fashion_mnist_dir, tmp_path, optimizer, points):
    runs, outs = [], []
    for i, point in enumerate(points):
        for fold in (0, 1):
            args = train_args(fashion_mnist_dir, tmp_path / f"grid_{i}_{fold}.csv", optimizer=optimizer, epochs=2,
                              folds=2, fold=fold, train_subset=256, eval_subset=128, **point)
            runs.append(args[1:])
            outs.append((tmp_path / f"grid_{i}_{fold}.csv", args))
    spec = tmp_path / "grid.json"
    spec.write_text(json.dumps({"runs": [[str(a) for a in r] for r in runs]}))
    run_cli(["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir])
    for grid_out, args in outs:
        alone = tmp_path / ("alone_" + grid_out.name)
        args = list(args)
        args[args.index("--out") + 1] = alone
        run_cli(args)
        a, b = read_csv(alone), read_csv(grid_out)
        assert [r["grad_evals"] for r in a] == [r["grad_evals"] for r in b]
        for column in ("lr", "train_loss", "eval_loss", "train_acc", "eval_acc"):
            # AdaGrad's first steps are ~lr * sign(g): float noise in near-zero gradients flips signs, so
            # its curves agree less tightly; the update rule itself is checked exactly below
            tol = 2e-2 if optimizer == "adagrad" else 2e-4
            expected = pytest.approx([float(r[column]) for r in a], rel=tol,
                                     abs=tol if column.endswith("acc") else 1e-5, nan_ok=True)
            assert [float(r[column]) for r in b] == expected, column
        grid_meta = json.loads(grid_out.with_suffix(".json").read_text())
        alone_meta = json.loads(alone.with_suffix(".json").read_text())
        assert grid_meta["hparams"] == alone_meta["hparams"] and grid_meta["grid"]["runs"] == 4
        assert grid_meta["n_train"] == alone_meta["n_train"] and grid_meta["fold"] == alone_meta["fold"]


def test_grid_refuses_runs_that_do_not_stack(fashion_mnist_dir, tmp_path, capsys):
    spec = tmp_path / "grid.json"
    a = train_args(fashion_mnist_dir, tmp_path / "a.csv")[1:]
    b = train_args(fashion_mnist_dir, tmp_path / "b.csv", optimizer="adam", lr=1e-3)[1:]
    spec.write_text(json.dumps({"runs": [[str(x) for x in a], [str(x) for x in b]]}))
    with pytest.raises(SystemExit):
        run_cli(["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir])
    assert "must share optimizer" in capsys.readouterr().err


def test_grid_resumes_from_its_checkpoint(fashion_mnist_dir, tmp_path, monkeypatch):
    import vrdl.grid

    runs = [train_args(fashion_mnist_dir, tmp_path / f"r{f}.csv", optimizer="storm", lr=None, epochs=3, folds=2,
                       fold=f, train_subset=256, eval_subset=64)[1:] for f in (0, 1)]
    spec = tmp_path / "grid.json"
    spec.write_text(json.dumps({"runs": [[str(a) for a in r] for r in runs]}))
    command = ["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir, "--checkpoint", tmp_path / "g.ckpt"]
    run_cli(command)
    uninterrupted = [read_csv(tmp_path / f"r{f}.csv") for f in (0, 1)]

    original = vrdl.grid.checkpoints.save
    calls = []

    def save_then_die(obj, path):  # the job is killed right after its first epoch checkpoint
        original(obj, path)
        calls.append(path)
        raise KeyboardInterrupt

    for f in (0, 1):
        (tmp_path / f"r{f}.csv").unlink()
    monkeypatch.setattr(vrdl.grid.checkpoints, "save", save_then_die)
    with pytest.raises(SystemExit) as interrupted:  # vrdl.cli: one line and exit 130
        run_cli(command)
    assert interrupted.value.code == 130
    assert calls and not (tmp_path / "r0.csv").exists()
    monkeypatch.setattr(vrdl.grid.checkpoints, "save", original)
    run_cli(command)
    for f in (0, 1):
        resumed = read_csv(tmp_path / f"r{f}.csv")
        assert [{k: v for k, v in r.items() if k != "wall_s"} for r in resumed] == \
            [{k: v for k, v in r.items() if k != "wall_s"} for r in uninterrupted[f]]
    assert not (tmp_path / "g.ckpt").exists()


@pytest.mark.slow  # torch.compile on a CPU: tens of seconds per compiled function
@pytest.mark.parametrize("optimizer,points", [
    ("svrg", [dict(lr=0.02), dict(lr=0.1)]),
    ("storm", [dict(lr=None, storm_k=0.1, storm_c=100), dict(lr=None, storm_k=0.5, storm_c=10)]),
])
def test_compiled_grid_writes_the_eager_grids_curves(fashion_mnist_dir, tmp_path, optimizer, points):
    """`train-grid --compile` (torch.compile of the stacked step, and of SVRG's snapshot pass) gives
    the eager grid's curves, with one graph per compiled function and no recompiles: the ragged last
    batch (200 = 6 x 32 + 8) and the first step run eagerly. STORM's in-place copy of the previous
    parameters once came out wrong compiled (it took the updated ones): this test catches that."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    curves = {}
    for compiled in (False, True):
        runs = [train_args(fashion_mnist_dir, tmp_path / f"{compiled}_{i}_{fold}.csv", optimizer=optimizer,
                           epochs=1, folds=2, fold=fold, train_subset=200, eval_subset=128, **point)[1:]
                for i, point in enumerate(points) for fold in (0, 1)]
        spec = tmp_path / f"grid_{compiled}.json"
        spec.write_text(json.dumps({"runs": [[str(a) for a in r] for r in runs]}))
        torch._dynamo.reset()
        counters.clear()
        flags = ["--compile"] if compiled else []
        with torch._dynamo.config.patch(error_on_recompile=True):
            run_cli(["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir, *flags])
        assert counters["stats"]["unique_graphs"] == (2 if optimizer == "svrg" and compiled else int(compiled))
        curves[compiled] = [read_csv(tmp_path / f"{compiled}_{i}_{fold}.csv") for i in (0, 1) for fold in (0, 1)]
        meta = json.loads((tmp_path / f"{compiled}_0_0.json").read_text())
        assert meta["compile"] is compiled
    for eager, fast in zip(curves[False], curves[True]):
        assert [r["grad_evals"] for r in eager] == [r["grad_evals"] for r in fast]
        for column in ("lr", "train_loss", "eval_loss", "train_acc", "eval_acc"):
            expected = [float(r[column]) for r in eager]
            tol = dict(rel=2e-4, abs=1.5 / 128 if column.endswith("acc") else 1e-5, nan_ok=True)
            assert [float(r[column]) for r in fast] == pytest.approx(expected, **tol), column


def test_a_stacked_study_with_compute_compile_compiles_its_grids():
    """`compute.compile` with `stacked: true`: every run of a grid's spec gets --compile, which
    `vrdl train-grid` takes as compiling the stacked step; channels_last is still refused."""
    config = load_config(PAPER)
    config["studies"]["lenet_mnist"]["stacked"] = True
    config.setdefault("compute", {})["compile"] = True
    plan = Plan(config)
    groups = plan.studies.stacked_groups()
    assert groups and all("--compile" in run for g in groups for run in plan.studies.stacked_params(g))
    config["compute"]["channels_last"] = True
    with pytest.raises(ConfigError, match="does not support compute.channels_last"):
        Plan(config)
