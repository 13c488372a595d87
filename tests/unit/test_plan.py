"""The study plan without Snakemake: validation, runs, names, `vrdl train` arguments, gradient
counts, `selection: paper`, and `vrdl plan`'s table, cost and progress."""

import copy
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.workflow.test_select import write_run
from vrdl import costs, fingerprint
from vrdl.cli import main
from vrdl.config import ConfigError, load_config, train_size
from vrdl.data import split_indices
from vrdl.identity import identity_of, sealed_json
from vrdl.optim import registry
from vrdl.plan import Plan, PlanError
from vrdl.stages.grids import point_name

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "config" / "config.yaml"


@pytest.fixture(scope="module")
def paper():
    return Plan(load_config(PAPER))


def stages(plan):
    return Counter(job["stage"] for job in plan.jobs())


def test_paper_study_runs(paper):
    assert stages(paper) == {"tune": 196, "final": 17, "metainit": 2}
    assert len(paper.studies.tune_runs("lenet_mnist", "off")) == 39 * 4
    run = dict(study="lenet_mnist", bn="off", optimizer="storm", point="c~100_k~0.1", seed=1, split="fold~3")
    assert run in paper.studies.tune_runs("lenet_mnist", "off")
    args = paper.studies.tune_args(run)
    assert args[args.index("--optimizer"):args.index("--epochs")] == [
        "--optimizer", "storm", "--storm-c", "100", "--storm-k", "0.1", "--storm-w", "0.1"]
    assert args[args.index("--folds"):args.index("--folds") + 4] == ["--folds", "4", "--fold", "3"]
    assert "results/paper/resnet18_cifar10/bn~off/final/svrg/seed~1.variance.csv" in paper.all_results()


def test_names_read_back_exactly():
    assert point_name({"k": 0.1, "c": 100.0}) == "c~100_k~0.1"
    assert point_name({"lr": 1e-5}) == "lr~1e-05"
    with pytest.raises(ValueError, match="finite"):
        point_name({"lr": float("inf")})


def test_unconfigured_seed_or_point_is_refused(paper):
    run = dict(study="lenet_mnist", bn="off", optimizer="sgd", point="lr~0.1", seed=2, split="fold~0")
    with pytest.raises(PlanError, match="seed 2 is not configured"):
        paper.studies.tune_args(run)
    with pytest.raises(PlanError, match="lr~0.5 is not a grid point of sgd"):
        paper.studies.tune_args(dict(run, seed=1, point="lr~0.5"))


def bad(config_text_or_dict, edit=None):
    config = load_config(PAPER) if edit else config_text_or_dict
    if edit:
        edit(config)
    with pytest.raises(ConfigError) as err:
        Plan(config)
    return "\n".join(err.value.problems)


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_non_finite_numbers_are_refused_naming_the_key(tmp_path, value):
    text = PAPER.read_text().replace("grid: {lr: [1.0e-6, 1.0e-5, 1.0e-4]}", f"grid: {{lr: [1.0e-6, {value}]}}")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    problems = bad(load_config(path))
    assert "studies.resnet101_cifar100.optimizers.adam.grid.lr[1]: " in problems and "not a finite number" in problems


def test_hyperparameters_are_checked_against_the_registry():
    problems = bad(None, lambda c: c["metainit"]["hparams"].update(k=0.1))
    assert "metainit.hparams.k: svrg takes lr, snapshot_every" in problems
    problems = bad(None, lambda c: c["studies"]["lenet_mnist"]["optimizers"]["sgd"]["grid"].update(momentum=[0.9]))
    assert "studies.lenet_mnist.optimizers.sgd.grid.momentum: unknown key" in problems
    problems = bad(None, lambda c: c["studies"]["lenet_mnist"]["optimizers"]["svrg"]["fixed"].update(snapshot_every=0))
    assert "studies.lenet_mnist.optimizers.svrg.fixed.snapshot_every: 0 is less than the minimum of 1" in problems


# ---------------------------------------------------------------------------------------------
# selection: paper


def paper_hparams_plan():
    return Plan(load_config(REPO / "config" / "paper-hparams.yaml"))


def test_selection_paper_runs_the_papers_finals_without_tuning():
    plan = paper_hparams_plan()
    assert stages(plan) == {"final": 5}
    assert plan.studies.all_tune_runs() == [] and plan.studies.stacked_groups() == []
    assert not any("tune" in path or "selected.tsv" in path for path in plan.all_results())
    run = dict(study="lenet_mnist_paper", bn="off", optimizer="storm", seed=1)
    hparams = plan.studies["lenet_mnist_paper"].paper_hparams("off", "storm")
    assert hparams == {"c": 100, "k": 0.1, "w": 0.1}
    args = plan.studies.final_args(run, hparams)
    assert args[args.index("--optimizer"):args.index("--epochs") + 2] == [
        "--optimizer", "storm", "--storm-c", "100", "--storm-k", "0.1", "--storm-w", "0.1", "--epochs", "100"]
    setting = plan.report_manifest()["studies"][0]["settings"][0]
    assert setting["hparams_from"] == "paper" and setting["selected"] is None
    assert setting["hparams"]["adam"] == {"lr": 1e-4}
    assert "the paper's hyperparameters" in plan.studies["lenet_mnist_paper"].final_title("off")


def test_selection_paper_needs_the_papers_choice_for_every_optimizer():
    config = load_config(REPO / "config" / "paper-hparams.yaml")
    del config["studies"]["lenet_mnist_paper"]["paper"]["bn_off"]["selected"]["svrg"]
    problems = bad(config)
    assert "studies.lenet_mnist_paper.paper.bn_off.selected.svrg: missing" in problems
    config = load_config(REPO / "config" / "paper-hparams.yaml")
    config["studies"]["lenet_mnist_paper"]["selection"] = "papers"
    assert "studies.lenet_mnist_paper.selection: 'paper' was expected" in bad(config)


def test_a_study_that_tunes_still_needs_its_grid():
    problems = bad(None, lambda c: c["studies"]["lenet_mnist"]["optimizers"]["sgd"].pop("grid"))
    assert "studies.lenet_mnist.optimizers.sgd: 'grid' is a required property" in problems


# ---------------------------------------------------------------------------------------------
# gradient counts and costs


@pytest.mark.parametrize("split", [None, "holdout", "fold~0", "fold~3"])
def test_training_sizes_match_the_data_split(split):
    setting = dict(dataset="cifar10", selection=dict(folds=7, val_fraction=0.05))
    kwargs = {} if split is None else (dict(val_fraction=0.05) if split == "holdout"
                                       else dict(folds=7, fold=int(split[-1])))
    assert train_size(setting, split) == len(split_indices(50000, 1, **kwargs)[0])
    assert train_size(dict(setting, train_subset=300), split) == 300


@pytest.mark.parametrize("optimizer,hparams,expected", [
    # the counts tests/unit/test_train.py checks against the training loop (n=300, B=32, 3 epochs)
    ("sgd", {"lr": 0.1}, 3 * 300),
    ("svrg", {"lr": 0.1}, 3 * (300 + 2 * 300)),
    ("svrg", {"lr": 0.1, "snapshot_every": 2}, 3 * 2 * 300 + 2 * 300),
    ("storm", {}, 3 * 2 * 300 - 32),
])
def test_registry_counts_gradients_as_the_training_loop(optimizer, hparams, expected):
    assert registry.get(optimizer).grad_evals(hparams, n=300, batch_size=32, epochs=3) == expected


def rate(model, bn, seconds, width=1.0, dataset="cifar10", batch_size=128, precision="fp32", device="cuda"):
    return dict(costs.shape(model, bn, width, dataset, batch_size, precision, device),
                seconds_per_sample_gradient=seconds)


# the paper's shapes: LeNet on MNIST at batch 32, full-width ResNets on CIFAR at batch 128, fp32
PAPER_RATES = [rate("lenet", "off", 1.6e-05, dataset="mnist", batch_size=32),
               rate("resnet18", "on", 2.1e-05), rate("resnet18", "off", 1.9e-05),
               rate("resnet101", "on", 9e-05, dataset="cifar100"), rate("resnet101", "off", 8e-05, dataset="cifar100")]
COSTS = {"device": "NVIDIA H100 80GB HBM3", "measured_by": "free text", "rates": PAPER_RATES}


def test_cost_estimate_from_a_costs_file(paper, tmp_path):
    path = tmp_path / "costs.json"
    path.write_text(json.dumps(COSTS))
    text = costs.report(paper, costs=path)
    assert "Training runs: 196 tune, 17 final, 2 MetaInit" in text
    assert "measured on NVIDIA H100 80GB HBM3" in text
    expected = sum(job["grad_evals"] * costs.lookup(PAPER_RATES, costs.job_shape(paper, job))
                   for job in paper.jobs()) / 3600
    assert f"Estimate: {expected:.2f} device-hours" in text
    path.write_text(json.dumps(dict(COSTS, rates=PAPER_RATES[:3])))
    text = costs.report(paper, costs=path)
    assert "no rate for resnet101 width 1 at 3x32x32, BN off, batch 128, fp32, auto (measured: nothing of " \
           "resnet101)" in text and "Estimate:" not in text


def test_a_rate_prices_only_runs_of_its_own_shape(paper):
    """A width-1/8 ResNet-18 on 28x28 images (the demo's) prices no full-width CIFAR ResNet-18;
    neither does a rate of another batch size, precision or device kind. The same shape does."""
    resnet18 = [j for j in paper.jobs() if j["model"] == "resnet18" and j["bn"] == "on"]
    need = costs.job_shape(paper, resnet18[0])
    demo = rate("resnet18", "on", 1e-4, width=0.125, dataset="fashion_mnist", batch_size=32, device="cpu")
    for other in (demo, rate("resnet18", "on", 1e-5, width=0.125), rate("resnet18", "on", 1e-5, batch_size=32),
                  rate("resnet18", "on", 1e-5, precision="bf16"), rate("resnet18", "off", 1e-5)):
        assert costs.lookup([other], need) is None, other
    assert costs.lookup([demo, rate("resnet18", "on", 2e-5)], need) == 2e-5
    # a plan's device `auto` takes a CUDA rate before a CPU one; `cpu` only a CPU one
    both = [rate("resnet18", "on", 9.0, device="cpu"), rate("resnet18", "on", 2e-5)]
    assert costs.lookup(both, need) == 2e-5 and costs.lookup(both, dict(need, device="cpu")) == 9.0
    assert costs.lookup(both[1:], dict(need, device="cpu")) is None
    cost = costs.device_hours(paper, [demo])
    assert cost["hours"] == {} and "resnet18 width 1 at 3x32x32, BN on, batch 128, fp32, auto" in cost["missing_rates"]


def test_device_hours_per_stage(paper):
    cost = costs.device_hours(paper, PAPER_RATES)
    assert cost["runs"] == {"tune": 196, "final": 17, "metainit": 2} and cost["missing_rates"] == []
    assert cost["total_hours"] == pytest.approx(sum(cost["hours"].values()), abs=0.01)
    # the paper's five LeNet finals by hand: 100 epochs of 60,000 samples, gradients per sample
    # sgd/adam/adagrad 1, storm 2 (its first step 1), svrg 2 + 1 per snapshot
    lenet = rate("lenet", "off", 1e-3, dataset="mnist", batch_size=32)
    cost = costs.device_hours(paper_hparams_plan(), [lenet])
    assert cost["hours"] == {"final": pytest.approx(100 * 60000 * (1 + 1 + 1 + 2 + 3) * 1e-3 / 3600, abs=1e-3)}
    assert len(costs.device_hours(paper, [lenet])["missing_rates"]) == 4  # ResNet-18/101, BN on/off


def test_a_costs_file_without_shapes_is_refused(tmp_path):
    path = tmp_path / "costs.json"
    path.write_text(json.dumps({"device": "x", "seconds_per_sample_gradient": {"lenet": 1e-5}}))
    with pytest.raises(ValueError, match="without its shape"):
        costs.load_rates(path)
    bad_rate = dict(PAPER_RATES[0])
    del bad_rate["batch_size"]
    path.write_text(json.dumps({"device": "x", "rates": [bad_rate]}))
    with pytest.raises(ValueError, match=r"rates\[0\] lacks batch_size"):
        costs.load_rates(path)


def test_without_costs_there_is_no_estimate(paper):
    text = costs.report(paper)
    assert "no estimate" in text and "device-hours in all" not in text


def finished_run(results, stem, model, dataset="mnist", width=1.0, batch_size=32, bn=False, wall=120.0):
    done = results / stem
    done.parent.mkdir(parents=True, exist_ok=True)
    done.with_suffix(".csv").write_text(f"epoch,grad_evals,wall_s\n0,0,0.0\n100,6000000,{wall}\n")
    done.with_suffix(".json").write_text(sealed_json(dict(
        model=model, bn=bn, width=width, dataset=dataset, batch_size=batch_size, precision="fp32",
        grad_evals=6000000, device="cpu")))


def finished_like_the_workflow(plan, stem, optimizer, lr):
    """A final run as the workflow writes it: its code fingerprint, and the command it ran with
    the config's arguments but for `lr`."""
    identity = {key: value for key, value in identity_of(stem).items() if key not in ("stage", "name")}
    args = plan.studies.final_args(identity, plan.studies[identity["study"]].paper_hparams("off", optimizer))
    args[args.index("--lr") + 1] = str(lr)
    write_run(stem.with_suffix(".csv"), [2.3, 0.5], {"lr": lr}, eval_split="test", optimizer=optimizer)
    meta = json.loads(stem.with_suffix(".json").read_text())
    stem.with_suffix(".json").write_text(sealed_json(dict(
        meta, model="lenet", bn=False, device="cpu", dataset="mnist", width=1.0, batch_size=32, precision="fp32",
        code_fingerprint=fingerprint.run_fingerprint(optimizer), command=["vrdl", "train", *args, "--out", "x"])))


def test_progress_and_rates_from_a_results_directory(tmp_path):
    """Each run's state from its files' contents: done, stale (other settings than the config's),
    refused (with the reason), running (a checkpoint), missing; `--results results/NAME` too."""
    plan = paper_hparams_plan()
    results = tmp_path / "results"
    final = results / "paper-hparams/lenet_mnist_paper/bn~off/final"
    finished_like_the_workflow(plan, final / "sgd/seed~1", "sgd", 0.1)  # 100 gradients in 0.1 s
    finished_like_the_workflow(plan, final / "adagrad/seed~1", "adagrad", 0.5)  # the config says 0.01
    damaged = final / "adam/seed~1"
    write_run(damaged.with_suffix(".csv"), [2.3, 0.5], {"lr": 0.1}, eval_split="test", optimizer="adam")
    damaged.with_suffix(".csv").write_text(damaged.with_suffix(".csv").read_text().replace("2.3", "2.2"))
    running = tmp_path / "checkpoints/paper-hparams/lenet_mnist_paper/bn~off/final/svrg/seed~1.ckpt"
    running.parent.mkdir(parents=True)
    running.write_bytes(b"")
    for given in (results, results / "paper-hparams"):
        text = costs.report(plan, results=given)
        assert "collected from 2 finished runs" in text
        total = [line for line in text.splitlines() if line.startswith("total")][0].split()
        assert total[-5:] == ["1", "1", "1", "1", "1"]  # done, stale, refused, running, missing
        assert "adagrad/seed~1: its settings changed since: --lr 0.5 -> " in text
        assert "adam/seed~1: " in text and "its SHA-256 differs" in text
    assert damaged.with_suffix(".csv").exists()  # vrdl plan moves nothing aside
    remaining = sum(j["grad_evals"] for j in plan.jobs() if "sgd" not in j["stem"]) * 0.1 / 100 / 3600
    assert f"Remaining (runs not done, counted whole): {remaining:.2f} device-hours" in text


def test_demo_results_price_none_of_the_papers_resnets(paper, tmp_path):
    """The demo's narrow ResNets on Fashion-MNIST give the paper's ResNets no device-hours, only
    'no rate' naming what was measured; LeNet runs of the paper's shape are priced."""
    results = tmp_path / "results"
    finished_run(results, "demo/bn~on/final/sgd/seed~1", "resnet18", dataset="fashion_mnist", width=0.125, bn=True)
    finished_run(results, "demo/bn~off/final/sgd/seed~1", "resnet101", dataset="fashion_mnist", width=0.0625)
    finished_run(results, "lenet_demo/bn~off/final/sgd/seed~1", "lenet", dataset="fashion_mnist")
    text = costs.report(paper, results=results)
    rows = [line.split() for line in text.splitlines() if line.startswith(("tune", "final", "MetaInit"))]
    resnet_rows = [r for r in rows if r[1].startswith("resnet") or r[0] == "MetaInit"]
    lenet_rows = [r for r in rows if r[1] == "lenet_mnist"]
    assert resnet_rows and all(r[7:9] == ["no", "rate"] for r in resnet_rows)
    assert lenet_rows and all(r[7] != "no" for r in lenet_rows)
    assert "no rate for resnet18 width 1 at 3x32x32, BN on, batch 128, fp32, auto (measured: resnet18 width " \
           "0.125 at 1x28x28, BN on, batch 32, fp32, cpu)" in text
    assert "device-hours in all" not in text


def test_vrdl_plan_and_vrdl_optimizers(capsys):
    main(["plan", "--configfile", str(PAPER)])
    out = capsys.readouterr().out
    assert "Training runs: 196 tune, 17 final, 2 MetaInit" in out and "no estimate" in out
    main(["optimizers"])
    out = capsys.readouterr().out
    for name in registry.OPTIMIZERS:
        assert f"\n{name}: " in "\n" + out
    assert "--storm-c" in out and "--snapshot-every" in out


@pytest.mark.parametrize("flag,value,message", [
    ("--lr", "inf", "argument --lr: must be a finite number, got inf"),
    ("--lr", "nan", "argument --lr: must be a finite number, got nan"),
    ("--storm-k", "-1", "argument --storm-k: must be a positive number"),
    ("--snapshot-every", "1.5", "argument --snapshot-every: expected a whole number"),
    ("--l2", "inf", "argument --l2: must be a finite number"),
])
def test_cli_refuses_bad_hyperparameters_naming_the_flag(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "mnist", "--model", "lenet", "--optimizer", "svrg", "--epochs", "1",
              "--batch-size", "8", "--out", str(tmp_path / "r.csv"), flag, value])
    assert message in capsys.readouterr().err


def test_cli_help_gives_every_hyperparameter_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--storm-c C storm: momentum factor" in out and "default 100)" in out
    assert "--snapshot-every SNAPSHOT_EVERY svrg, alpha_svrg: epochs between snapshots (>= 1; default 1)" in out
    # a flag shared by optimizers with other defaults says each
    assert "sgd, adam, adagrad, svrg, alpha_svrg: learning rate (> 0; required); mars: learning rate (> 0; " \
           "default 0.003)" in out


# ---------------------------------------------------------------------------------------------
# a new optimizer: one registry entry and its module


class Toy:
    """SGD that halves its step size each epoch's first step: a stand-in for a user's optimizer."""

    def __new__(cls, params, lr, halve=True):
        import torch

        return torch.optim.SGD(params, lr=lr / 2 if halve else lr)


@pytest.fixture
def toy():
    entry = registry.register(registry.Optimizer(
        "toy", "a toy optimizer", (registry.Hparam("lr", float, "learning rate", required=True, exclusive_minimum=0),
                                   registry.Hparam("halve", bool, "halve the step size", default=True)),
        builder=f"{__name__}:Toy"))
    yield entry
    registry.OPTIMIZERS.pop("toy")


def test_a_registered_optimizer_is_planned_and_trained(toy, fashion_mnist_dir, tmp_path):
    config = yaml.safe_load((REPO / "config" / "quick.yaml").read_text())
    study = copy.deepcopy(next(iter(config["studies"].values())))
    study.update(optimizers={"toy": {"grid": {"lr": [0.1, 0.01]}, "fixed": {"halve": False}}}, stacked=False,
                 paper={})
    plan = Plan({"name": "toy", "studies": {"toy_study": study}})
    runs = plan.studies.tune_runs("toy_study", "off")
    assert [r["point"] for r in runs][:1] == ["lr~0.1"]
    args = plan.studies.tune_args(runs[0])
    assert args[args.index("--optimizer"):args.index("--epochs")] == ["--optimizer", "toy", "--no-halve", "--lr", "0.1"]
    out = tmp_path / "toy.csv"
    main(["train", "--dataset", "fashion_mnist", "--model", "lenet", "--optimizer", "toy", "--lr", "0.1",
          "--no-halve", "--epochs", "1", "--batch-size", "32", "--train-subset", "64", "--eval-subset", "64",
          "--data-dir", str(fashion_mnist_dir), "--out", str(out)])
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["optimizer"] == "toy" and meta["hparams"]["lr"] == 0.1 and meta["grad_evals"] == 64


def test_choice_and_bool_hyperparameters_and_a_reference_that_depends_on_them():
    """What the next optimizers need (MARS: `exact` decides the reference point; alpha-SVRG: a
    `base` optimizer chosen by name): schema, CLI parsing, arguments and gradient counts."""
    entry = registry.Optimizer(
        "mars_like", "reference point chosen by a flag",
        (registry.Hparam("lr", float, "learning rate", required=True, exclusive_minimum=0),
         registry.Hparam("exact", bool, "exact reference gradient", default=False),
         registry.Hparam("base", str, "base optimizer", default="sgd", choices=("sgd", "adamw"))),
        builder="torch.optim:SGD", reference=lambda h: "previous" if h["exact"] else "none")
    assert entry.grad_evals({"lr": 0.1}, n=100, batch_size=10, epochs=2) == 200
    assert entry.grad_evals({"lr": 0.1, "exact": True}, n=100, batch_size=10, epochs=2) == 400 - 10
    assert entry.problems({"lr": 0.1, "base": "adam"}, "x") == ["x.base: expected one of sgd, adamw, got 'adam'"]
    assert entry.hparam("base").schema() == {"enum": ["sgd", "adamw"]}
    assert entry.hparam("exact").cli_args(False) == ["--no-exact"]
    assert entry.hparam("base").parse("adamw") == "adamw"
    with pytest.raises(ValueError, match="one of sgd, adamw"):
        entry.hparam("base").parse("lbfgs")


# ---------------------------------------------------------------------------------------------
# alpha-SVRG and MARS: the paper config's opt-in block, precision, time to target


def test_extra_optimizers_are_opt_in_and_checked():
    assert not {"alpha_svrg", "mars"} & {j["optimizer"] for j in Plan(load_config(PAPER)).jobs()}
    config = load_config(PAPER)
    config["extra_optimizers"]["enabled"] = True
    plan = Plan(config)
    jobs = [j for j in plan.jobs() if j["optimizer"] in ("alpha_svrg", "mars")]
    assert len(jobs) == 70
    run = plan.studies.tune_runs("resnet18_cifar10", "on", ["alpha_svrg"])[0]
    assert plan.studies.tune_args(run)[-1] == "--cache-snapshot-grads" and "150" in plan.studies.tune_args(run)
    # the cost counts what the loop counts: a snapshot pass plus two gradients a step (alpha-SVRG),
    # one a step (MARS-approx)
    n = 50000 * 0.95
    counts = {j["optimizer"]: j["grad_evals"] for j in jobs
              if j["study"] == "resnet18_cifar10" and j["stage"] == "tune"}
    assert counts == {"alpha_svrg": int(150 * 3 * n), "mars": int(200 * n)}

    problems = bad(None, lambda c: c["extra_optimizers"]["studies"]["lenet_mnist"].update(sgd={"grid": {"lr": [1.0]}}))
    assert "extra_optimizers.studies.lenet_mnist.sgd: already in studies.lenet_mnist.optimizers; keep one" in problems
    problems = bad(None, lambda c: c["extra_optimizers"]["studies"].update(nope={"mars": {"grid": {"lr": [0.1]}}}))
    assert "extra_optimizers.studies.nope: no such study" in problems


def test_bf16_is_refused_for_alpha_svrg_naming_the_key():
    def edit(c):
        c["extra_optimizers"]["enabled"] = True
        c["compute"]["precision"] = "bf16"

    problems = bad(None, edit)
    assert "studies.lenet_mnist.optimizers.alpha_svrg: alpha_svrg runs in fp32 only" in problems
    assert "mars" not in problems


def test_alpha_svrg_base_hyperparameters_are_checked_together():
    def edit(c):
        c["extra_optimizers"]["enabled"] = True
        c["extra_optimizers"]["studies"]["lenet_mnist"]["alpha_svrg"]["fixed"]["momentum"] = 0.9

    assert ("studies.lenet_mnist.optimizers.alpha_svrg (point lr~0.1): momentum belong(s) to the other base "
            "optimizer, not base adamw") in bad(None, edit)


@pytest.mark.parametrize("target,message", [
    ({"reference": "storm"}, "time_to_target.reference: storm is not an optimizer of this study"),
    ({"reference": "sgd", "loss": 0.5}, "time_to_target: give reference or loss, not both"),
    ({"slack": -0.1}, "time_to_target.slack: -0.1 is less than the minimum of 0"),
])
def test_time_to_target_settings_are_checked(target, message):
    assert message in bad(None, lambda c: c["studies"]["resnet18_cifar10"].update(time_to_target=target))


def test_an_ablation_of_mars_approx_is_refused():
    def edit(c):
        c["ablation"] = dict(dataset="cifar10", model="resnet18", bn="on", optimizer="mars", hparams={"lr": 0.003},
                             epochs=2, batch_size=32, augment="on", variance={"epochs": [1], "batches": 4})

    assert "ablation.hparams: mars takes no second gradient with these settings" in bad(None, edit)


def test_configs_share_no_result_log_or_checkpoint_path():
    """results/NAME/, logs/NAME/, checkpoints/NAME/ per config (its `name:`, else its file's stem)."""
    quick = Plan(load_config(REPO / "config" / "quick.yaml"))
    paper = Plan(load_config(PAPER))

    def written(plan):
        stems = [job["stem"] for job in plan.jobs()]
        files = set(plan.all_results()) | {plan.paths.checkpoint(s) for s in stems} | {plan.paths.log(s) for s in stems}
        return files | {f"checkpoints/{group['stem']}.grid.ckpt" for group in plan.studies.stacked_groups()}

    assert quick.paths.name == "quick" and paper.paths.name == "paper"
    assert not written(quick) & written(paper)
    assert all(f.split("/")[1] == "quick" for f in written(quick))
    config = load_config(PAPER)
    del config["name"]
    assert Plan(copy.deepcopy(config), configfiles=["config/mine.yaml"]).paths.report == "results/mine/report.html"
    with pytest.raises(ConfigError, match="name: 'a/b'"):
        Plan(dict(copy.deepcopy(config), name="a/b"))
    with pytest.raises(ConfigError, match="add `name: NAME`"):
        Plan(config)


# ---------------------------------------------------------------------------------------------
# stacking where it pays (`stacked: auto`, the default)


def stacked(config) -> set[tuple[str, str]]:
    return {(g["study"], g["runs"][0]["optimizer"]) for g in Plan(config).studies.stacked_groups()}


@pytest.mark.parametrize("device,compile,expected", [
    ("auto", False, False),  # the plan cannot know where jobs run: no stacking
    ("cpu", False, False),  # an eager grid is slower than separate runs on a CPU
    ("cpu", True, True),
    ("cuda", False, True),
])
def test_stacked_auto_stacks_where_it_pays(device, compile, expected):
    config = load_config(PAPER)
    config["compute"].update(device=device, compile=compile)
    config["extra_optimizers"]["enabled"] = True  # alpha-SVRG and MARS: train-grid cannot stack them
    lenet = {("lenet_mnist", o) for o, e in registry.OPTIMIZERS.items() if e.stacked}
    assert stacked(copy.deepcopy(config)) == (lenet if expected else set())  # never the ResNets (augmented)
    assert Counter(job["stage"] for job in Plan(copy.deepcopy(config)).jobs())["tune"] == 256  # same runs


def test_stacked_true_and_false_override_auto():
    config = load_config(PAPER)
    config["compute"]["device"] = "cuda"
    config["studies"]["lenet_mnist"]["stacked"] = False
    assert stacked(copy.deepcopy(config)) == set()
    config["compute"]["device"] = "cpu"
    config["studies"]["lenet_mnist"]["stacked"] = True
    assert stacked(copy.deepcopy(config)) == {("lenet_mnist", o) for o in ("adam", "sgd", "adagrad", "svrg", "storm")}
    config["extra_optimizers"]["enabled"] = True  # `true` means every optimizer: one it cannot stack is an error
    with pytest.raises(ConfigError, match="studies.lenet_mnist.stacked: vrdl train-grid has no stacked update rule "
                                          "for mars"):
        Plan(config)


def test_declared_claims_reach_the_report_manifest_and_bad_ones_are_refused():
    config = load_config(PAPER)
    config["claims"] = [{"name": "Adam beats SGD", "better": "adam", "than": ["sgd"], "studies": ["lenet_mnist"],
                        "bn": [False]}]
    plan = Plan(copy.deepcopy(config))
    assert plan.report_manifest()["claims"] == [dict(config["claims"][0], bn=["off"])]
    assert "results/paper/claims.tsv" in plan.all_results() and "results/paper/time_to_target.tsv" in plan.all_results()
    for bad, message in (
        ({"studies": ["nope"]}, "claims[0] (Adam beats SGD).studies: no study nope"),
        ({"better": "mars"}, "claims[0] (Adam beats SGD): no study of lenet_mnist runs"),
        ({"better": "lion"}, "claims[0].better: 'lion' is not one of"),
    ):
        broken = copy.deepcopy(config)
        broken["claims"][0].update(bad)
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            Plan(broken)
