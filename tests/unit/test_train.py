"""The training loop and the `vrdl train` command: gradient counts, transform locking, BN
buffers, checkpoints and resume, determinism, divergence, bad input, real data end to end."""

import csv
import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vrdl import train as train_module
from vrdl.cli import main
from vrdl.data import prepare

N = 300  # training subset: small enough for seconds, real Fashion-MNIST images


def train_args(data_dir, out, **options):
    """`vrdl train` arguments for a small LeNet run on real Fashion-MNIST."""
    settings = dict(dataset="fashion_mnist", model="lenet", optimizer="sgd", lr=0.05, epochs=2,
                    batch_size=32, train_subset=N, eval_subset=200, data_dir=data_dir, out=out)
    settings.update(options)
    args = ["train"]
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False:
            args.append("--no-" + key.replace("_", "-"))
        elif value is not None:
            args += [flag, str(value)]
    return args


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def without_wall_time(rows):
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def run_cli(args):
    main([str(a) for a in args])


@pytest.mark.parametrize("optimizer,options,per_epoch", [
    ("sgd", dict(lr=0.05), lambda n, b: n),
    ("adam", dict(lr=1e-3), lambda n, b: n),
    ("adagrad", dict(lr=0.01), lambda n, b: n),
    ("svrg", dict(lr=0.05), lambda n, b: n + 2 * n),
    ("storm", dict(lr=None, storm_k=0.1, storm_c=100), lambda n, b: 2 * n),
    ("alpha_svrg", dict(lr=1e-3), lambda n, b: n + 2 * n),
    ("alpha_svrg", dict(lr=0.05, base="sgd", momentum=0.9), lambda n, b: n + 2 * n),
    ("mars", dict(lr=None), lambda n, b: n),
    ("mars", dict(lr=None, exact=True), lambda n, b: 2 * n),
])
def test_gradient_counts_are_exact(fashion_mnist_dir, tmp_path, optimizer, options, per_epoch):
    out = tmp_path / "run.csv"
    run_cli(train_args(fashion_mnist_dir, out, optimizer=optimizer, epochs=3, **options))
    counts = [int(r["grad_evals"]) for r in read_csv(out)]
    expected = [0] + [e * per_epoch(N, 32) for e in (1, 2, 3)]
    if optimizer == "storm" or options.get("exact"):  # the first step takes one gradient, not two
        expected = [0] + [c - 32 for c in expected[1:]]
    assert counts == expected
    # the plan's cost count is the loop's
    from vrdl.optim import registry

    hparams = {k: v for k, v in options.items() if v is not None and not k.startswith("storm")}
    assert registry.get(optimizer).grad_evals(hparams, n=N, batch_size=32, epochs=3) == counts[-1]


def test_alpha_svrg_spreads_its_coefficient_over_the_run(fashion_mnist_dir, tmp_path, monkeypatch):
    """The linear schedule gets the run's snapshot count: alpha_0, ..., 0 over epochs 1..E."""
    from vrdl.optim.alpha_svrg import AlphaSVRG

    alphas = []
    original = AlphaSVRG.step
    monkeypatch.setattr(AlphaSVRG, "step", lambda self, grads: (alphas.append(self.current_alpha()),
                                                                original(self, grads)))
    out = tmp_path / "run.csv"
    run_cli(train_args(fashion_mnist_dir, out, optimizer="alpha_svrg", lr=1e-3, alpha0=0.6, epochs=4,
                       snapshot_every=2, beta1=0.8, beta2=0.99))
    steps = -(-N // 32)
    assert alphas == [0.6] * (2 * steps) + [0.0] * (2 * steps)
    hparams = json.loads(out.with_suffix(".json").read_text())["hparams"]
    assert hparams | dict(lr=1e-3, alpha0=0.6, schedule="linear", base="adamw", snapshot_every=2, total_snapshots=2,
                          beta1=0.8, beta2=0.99, weight_decay=0.0) == hparams


def test_mars_records_its_hyperparameters_under_the_registry_names(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    run_cli(train_args(fashion_mnist_dir, out, optimizer="mars", lr=2e-3, beta1=0.9, mars_on_every_tensor=True,
                       epochs=1))
    hparams = json.loads(out.with_suffix(".json").read_text())["hparams"]
    from vrdl.optim import registry

    assert hparams == registry.get("mars").complete(dict(lr=2e-3, beta1=0.9, mars_on_every_tensor=True))


@pytest.mark.parametrize("snapshot_every,epochs,snapshots", [(1, 4, 4), (2, 4, 2), (3, 4, 2), (5, 4, 1)])
def test_svrg_snapshots_every_whole_number_of_epochs(fashion_mnist_dir, tmp_path, monkeypatch,
                                                     snapshot_every, epochs, snapshots):
    """Original defect 3: a float snapshot interval in iterations made snapshots almost never happen."""
    taken = []
    original = train_module.SVRG.take_snapshot
    monkeypatch.setattr(train_module.SVRG, "take_snapshot", lambda self: (taken.append(1), original(self)))
    out = tmp_path / "run.csv"
    run_cli(train_args(fashion_mnist_dir, out, optimizer="svrg", epochs=epochs, snapshot_every=snapshot_every))
    assert len(taken) == snapshots
    assert int(read_csv(out)[-1]["grad_evals"]) == epochs * 2 * N + snapshots * N
    assert json.loads(out.with_suffix(".json").read_text())["hparams"]["snapshot_every"] == snapshot_every


@pytest.mark.parametrize("fold", [0, 1])
def test_hyperparameters_recorded_are_the_ones_used(fashion_mnist_dir, tmp_path, fold):
    """Original defect 2: STORM's k was shadowed by the fold loop variable and never used."""
    runs = {}
    for k in (0.05, 0.5):
        out = tmp_path / f"k{k}.csv"
        run_cli(train_args(fashion_mnist_dir, out, optimizer="storm", lr=None, storm_k=k, storm_c=10,
                           folds=2, fold=fold, epochs=1))
        meta = json.loads(out.with_suffix(".json").read_text())
        assert meta["hparams"]["k"] == k and meta["hparams"]["c"] == 10 and meta["fold"] == fold
        runs[k] = read_csv(out)
        # the step size is k / (w + sum G^2)^(1/3) <= k / w^(1/3): k really drives it
        assert 0 < float(runs[k][-1]["lr"]) <= k / 0.1 ** (1 / 3)
    assert runs[0.05][-1]["train_loss"] != runs[0.5][-1]["train_loss"]


def spy_inputs(monkeypatch):
    """Record the input batch of every model forward and every reference-gradient call."""
    seen = {"model": [], "reference": []}
    original_at = train_module.ReferenceGradients.at

    def at(self, params, x, y):
        seen["reference"].append(x.clone())
        return original_at(self, params, x, y)

    original_epoch = train_module._train_epoch

    def train_epoch(cfg, epoch, model, *args):
        handle = model.register_forward_pre_hook(lambda m, inp: seen["model"].append(inp[0].clone()))
        try:
            return original_epoch(cfg, epoch, model, *args)
        finally:
            handle.remove()

    monkeypatch.setattr(train_module.ReferenceGradients, "at", at)
    monkeypatch.setattr(train_module, "_train_epoch", train_epoch)
    return seen


@pytest.mark.parametrize("optimizer", ["svrg", "storm"])
def test_both_gradients_of_a_step_see_the_same_augmented_batch(tmp_path, cifar10_source, monkeypatch, optimizer):
    """Original defect 6: without transform locking the two gradients saw different augmentations."""
    prepare("cifar10", tmp_path / "data", cifar10_source)
    seen = spy_inputs(monkeypatch)
    options = dict(dataset="cifar10", model="resnet18", width=0.0625, bn=True, optimizer=optimizer,
                   lr=0.01 if optimizer == "svrg" else None, epochs=1, batch_size=64,
                   train_subset=None, eval_subset=None)
    run_cli(train_args(tmp_path / "data", tmp_path / "run.csv", **options))
    steps = seen["model"][-len(seen["reference"]):]
    assert len(seen["reference"]) >= 4
    for x_model, x_reference in zip(steps, seen["reference"], strict=True):
        assert torch.equal(x_model, x_reference)
    # the augmentation is real: the same samples come out differently in another epoch plan
    seen["model"].clear()
    seen["reference"].clear()
    run_cli(train_args(tmp_path / "data", tmp_path / "unlocked.csv", transform_locking=False, **options))
    steps = seen["model"][-len(seen["reference"]):]
    assert not any(torch.equal(a, b) for a, b in zip(steps, seen["reference"], strict=True))


def test_svrg_snapshot_pass_leaves_bn_running_statistics_alone(fashion_mnist_dir, monkeypatch):
    cfg = train_module.RunConfig(dataset="fashion_mnist", model="lenet", bn=True, optimizer="svrg", lr=0.05,
                                 epochs=1, batch_size=32, train_subset=N)
    train, _ = train_module.load_splits(cfg, fashion_mnist_dir, torch.device("cpu"))
    torch.manual_seed(0)
    model = train_module.build_model("lenet", num_classes=10, in_channels=1, image_size=28, bn=True)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    reference = train_module.ReferenceGradients(model)
    plan = train.epoch_plan(1, 1)
    reference.full([p.detach() for p in model.parameters()], train.batches(plan, 32))
    for name, value in model.named_buffers():
        assert torch.equal(value, buffers[name]), name
    assert not torch.equal(dict(reference.model.named_buffers())["1.running_mean"], buffers["1.running_mean"])


def test_same_command_gives_the_same_csv(fashion_mnist_dir, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    for out in (a, b):
        run_cli(train_args(fashion_mnist_dir, out, optimizer="svrg", bn=True, epochs=2))
    assert without_wall_time(read_csv(a)) == without_wall_time(read_csv(b))
    c = tmp_path / "c.csv"
    run_cli(train_args(fashion_mnist_dir, c, optimizer="svrg", bn=True, epochs=2, seed=2))
    assert without_wall_time(read_csv(a)) != without_wall_time(read_csv(c))


@pytest.mark.slow
@pytest.mark.parametrize("optimizer,extra", [("storm", {}), ("svrg", {}), ("adam", {}),
                                             ("alpha_svrg", {}), ("mars", dict(exact=True)),
                                             ("svrg", dict(compile=True))])
def test_resume_after_sigkill_gives_the_uninterrupted_csv(fashion_mnist_dir, tmp_path, optimizer, extra):
    options = dict(optimizer=optimizer, lr=None if optimizer == "storm" else 0.01, epochs=5,
                   train_subset=3000, bn=True, threads=1, **extra)
    reference = tmp_path / "reference.csv"
    run_cli(train_args(fashion_mnist_dir, reference, **options))

    out = tmp_path / "killed.csv"
    checkpoint = tmp_path / "killed.ckpt"
    cmd = [sys.executable, "-m", "vrdl.cli", *train_args(fashion_mnist_dir, out, **options)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists(), "the run finished before its first checkpoint: make it longer"
    assert not out.exists() and not out.with_suffix(".json").exists()
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["state"]["rows"][-1]["epoch"] >= 1

    done = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, check=True)
    assert "resuming from checkpoint" in done.stderr
    assert without_wall_time(read_csv(out)) == without_wall_time(read_csv(reference))
    assert not checkpoint.exists()


def test_a_stale_checkpoint_of_other_settings_is_ignored(fashion_mnist_dir, tmp_path, capsys):
    out = tmp_path / "run.csv"
    checkpoint = tmp_path / "run.ckpt"
    other = train_module.RunConfig(dataset="fashion_mnist", model="lenet", optimizer="sgd", lr=0.9, epochs=2,
                                   batch_size=32)
    train_module._save_checkpoint(checkpoint, dict(dataclasses.asdict(other), data_sha256=None),
        torch.nn.Linear(1, 1), torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.9),
        dict(rows=[], grad_evals=0, wall_s=0.0, metainit=None, diverged_epoch=None))
    run_cli(train_args(fashion_mnist_dir, out))
    assert "other settings" in capsys.readouterr().err
    assert len(read_csv(out)) == 3 and checkpoint.with_name("run.ckpt.rejected").exists()


def test_divergence_is_recorded_and_the_run_stops(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    run_cli(train_args(fashion_mnist_dir, out, model="logreg", lr=1e38, epochs=5))
    rows = read_csv(out)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["diverged"] is True and meta["diverged_epoch"] == len(rows) - 1 < 5
    assert rows[0]["train_loss"] != "nan" and rows[-1]["train_loss"] in ("nan", "inf")
    assert not out.with_suffix(".ckpt").exists()


def test_end_to_end_on_real_fashion_mnist(fashion_mnist_dir, tmp_path):
    out = tmp_path / "runs" / "lenet.csv"
    run_cli(train_args(fashion_mnist_dir, out, train_subset=2000, eval_subset=1000, epochs=3, lr=0.1,
                       folds=4, fold=2))
    rows = read_csv(out)
    assert list(rows[0]) == list(train_module.COLUMNS)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert float(rows[-1]["eval_acc"]) > 0.5 > float(rows[0]["eval_acc"])  # learns from real images
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["eval_split"] == "val" and meta["n_train"] == 2000 and meta["n_eval"] == 1000
    assert meta["n_params"] == 61706 and meta["hparams"]["lr"] == 0.1 and meta["diverged"] is False
    assert meta["versions"]["torch"] == torch.__version__ and meta["device"] == "cpu"
    assert sorted(p.name for p in out.parent.iterdir()) == ["lenet.csv", "lenet.json"]


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_path_on_files_in_the_real_format(tmp_path, name):
    from tests.conftest import write_cifar

    write_cifar(tmp_path / "raw", name)
    run_cli(["prepare", "--dataset", name, "--data-dir", tmp_path / "data", "--source-dir", tmp_path / "raw"])
    out = tmp_path / "run.csv"
    run_cli(train_args(tmp_path / "data", out, dataset=name, model="resnet18", width=0.0625, bn=True,
                       optimizer="svrg", lr=0.01, epochs=1, train_subset=None, eval_subset=None,
                       val_fraction=0.05, batch_size=16))
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["eval_split"] == "val" and meta["n_eval"] == 16 and meta["n_train"] == 304
    assert len(read_csv(out)) == 2


def test_metainit_is_applied_and_recorded(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    run_cli(train_args(fashion_mnist_dir, out, optimizer="svrg", epochs=1, metainit=True, metainit_steps=5))
    meta = json.loads(out.with_suffix(".json").read_text())["metainit"]
    assert meta["steps"] == 5 and meta["lr"] == 0.1 and meta["momentum"] == 0.9 and meta["eps"] == 1e-5
    assert meta["gq_after"] != meta["gq_before"]


@pytest.mark.parametrize("args,message", [
    (["--optimizer", "nesterov"], "invalid choice: 'nesterov'"),
    (["--lr", "-0.1"], "must be a positive number"),
    (["--lr", "0"], "must be a positive number"),
    (["--fold", "1"], "--folds and --fold go together"),
    (["--folds", "4", "--fold", "4"], "fold must be in 0..3"),
    (["--folds", "1", "--fold", "0"], "folds must be >= 2"),
    (["--epochs", "0"], "must be a positive integer"),
    (["--optimizer", "adam", "--lr", None], "--lr is required for --optimizer adam"),
    (["--optimizer", "alpha_svrg", "--precision", "bf16"], "alpha_svrg runs in fp32 only"),
    (["--optimizer", "alpha_svrg", "--momentum", "0.9"], "momentum belong(s) to the other base optimizer"),
    (["--optimizer", "mars", "--beta1", "1"], "must be < 1"),
    (["--optimizer", "mars", "--storm-k", "1"], "--optimizer mars takes --lr/"),
])
def test_bad_input_gives_a_clear_error(fashion_mnist_dir, tmp_path, args, message, capsys):
    base = train_args(fashion_mnist_dir, tmp_path / "run.csv")
    for i in range(0, len(args), 2):
        flag = args[i]
        if flag in base:
            at = base.index(flag)
            del base[at : at + 2]
        if args[i + 1] is not None:
            base += [flag, args[i + 1]]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(base)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run.csv").exists()


def test_missing_data_names_the_fix(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_cli(train_args(tmp_path / "nowhere", tmp_path / "run.csv"))
    err = capsys.readouterr().err
    assert "not prepared" in err and "vrdl prepare --dataset fashion_mnist" in err


def test_progress_lines_on_stderr(fashion_mnist_dir, tmp_path, capsys):
    run_cli(train_args(fashion_mnist_dir, tmp_path / "run.csv"))
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and all(k in lines[-1] for k in ("grad_evals", "eval_loss", "elapsed", "eta"))


def test_the_module_runs_as_a_command(fashion_mnist_dir, tmp_path):
    done = subprocess.run([Path(sys.executable).parent / "vrdl", "describe", "--model", "lenet",
                           "--in-channels", "1", "--image-size", "28"], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["n_params"] == 61706


# alpha-SVRG on base sgd: AdamW's normalised steps would blow float rounding up past the tolerance
@pytest.mark.parametrize("optimizer,snapshot_every,extra", [("svrg", 1, {}), ("svrg", 2, {}),
                                                            ("alpha_svrg", 1, dict(base="sgd"))])
def test_cached_snapshot_gradients_give_the_plain_svrg_curves(fashion_mnist_dir, tmp_path, optimizer,
                                                             snapshot_every, extra):
    plain, cached = tmp_path / "plain.csv", tmp_path / "cached.csv"
    options = dict(optimizer=optimizer, bn=True, epochs=3, snapshot_every=snapshot_every, augment="on", **extra)
    run_cli(train_args(fashion_mnist_dir, plain, **options))
    run_cli(train_args(fashion_mnist_dir, cached, cache_snapshot_grads=True, **options))
    a, b = read_csv(plain), read_csv(cached)
    assert [r["grad_evals"] for r in a] == [r["grad_evals"] for r in b]
    for column in ("train_loss", "eval_loss", "train_acc", "eval_acc"):
        assert [float(r[column]) for r in b] == pytest.approx([float(r[column]) for r in a], rel=1e-4, abs=1e-6)
    assert float(a[-1]["eval_loss"]) != float(a[1]["eval_loss"])  # the runs did train
