"""The run settings' one declaration (vrdl.settings) and what is made from it: the `vrdl train`
options, RunConfig's defaults and range checks, the workflow's argument list, the config schema's
enums and the settings table of docs/cli.md."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vrdl import settings
from vrdl.cli import build_parser
from vrdl.schema import build_schema
from vrdl.train import RunConfig

ROOT = Path(__file__).resolve().parents[2]
CLI_DOC = ROOT / "docs" / "cli.md"
REQUIRED = ["train", "--dataset", "mnist", "--model", "lenet", "--optimizer", "sgd", "--lr", "0.1",
            "--epochs", "2", "--batch-size", "32", "--out", "run.csv"]


def parse(args):
    return build_parser().parse_args(REQUIRED + args)


def test_the_options_take_the_declared_defaults_and_types():
    args = parse(["--variance-epochs", "3,1", "--val-fraction", "0.25", "--no-transform-locking", "--compile"])
    assert (args.seed, args.width, args.augment, args.precision, args.device) == (1, 1.0, "auto", "fp32", "auto")
    assert args.variance_epochs == (1, 3) and args.val_fraction == 0.25 and args.folds is None
    assert args.transform_locking is False and args.compile is True and args.bn is False and args.data_dir == "data"
    assert (args.metainit_steps, args.metainit_lr, args.metainit_eps, args.metainit_data) == (200, 0.1, 1e-5, "random")


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["--batch-size", "many"], "argument --batch-size: invalid _positive_int value: 'many'"),
    (["--precision", "fp16"], "argument --precision: invalid choice: 'fp16' (choose from 'fp32', 'bf16')"),
    (["--augment", "yes"], "argument --augment: invalid choice: 'yes'"),
    (["--width", "0"], "argument --width: must be a positive number, got 0"),
    (["--val-fraction", "nan"], "argument --val-fraction: must be a finite number, got nan"),
    (["--l2", "-1"], "argument --l2: must be >= 0, got -1"),
    (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
    (["--variance-epochs", "0,2"], "argument --variance-epochs: epochs must be >= 1, got '0,2'"),
    (["--threads", "0"], "argument --threads: must be a positive integer, got 0"),
    (["--dataset", "svhn"], "argument --dataset: invalid choice: 'svhn'"),
])
def test_the_options_reject_as_before(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_runconfig_has_a_field_per_run_setting_with_its_default():
    fields = [f for f in dataclasses.fields(RunConfig) if f.name != "hparams"]
    assert sorted(f.name for f in fields) == sorted(settings.RUN_FIELDS)
    for f in fields:
        if not settings.BY_NAME[f.name].required:
            assert f.default == settings.default(f.name), f.name


@pytest.mark.parametrize("values,message", [
    (dict(folds=1, fold=0), "folds must be >= 2, got 1"),
    (dict(val_fraction=1.5), "val fraction must be in (0, 1), got 1.5"),
    (dict(augment="yes"), "augment must be auto, on or off, got 'yes'"),
    (dict(precision="fp16"), "precision must be fp32 or bf16, got 'fp16'"),
    (dict(variance_batches=1), "variance batches must be >= 2, got 1"),
    (dict(epochs=0), "epochs must be >= 1, got 0"),
    (dict(l2=-0.5), "l2 must be >= 0, got -0.5"),
])
def test_runconfig_checks_the_declared_ranges(values, message):
    base = dict(dataset="mnist", model="lenet", optimizer="sgd", lr=0.1, epochs=2, batch_size=32)
    with pytest.raises(ValueError) as err:
        RunConfig(**(base | values))
    assert str(err.value) == message


def test_the_workflow_arguments_of_a_sample_run():
    values = dict(dataset="cifar10", model="resnet18", bn=True, width=0.5, optimizer="svrg", epochs=3,
                  batch_size=128, seed=2, folds=4, fold="1", train_subset=None, eval_subset=500, augment="on",
                  device="cuda", precision="bf16", channels_last=False, compile=True)
    assert settings.train_arguments(values, {"snapshot_every": 2, "lr": 0.01}) == [
        "--dataset", "cifar10", "--model", "resnet18", "--bn", "--width", "0.5",
        "--optimizer", "svrg", "--lr", "0.01", "--snapshot-every", "2",
        "--epochs", "3", "--batch-size", "128", "--seed", "2", "--folds", "4", "--fold", "1",
        "--eval-subset", "500", "--augment", "on", "--device", "cuda", "--precision", "bf16", "--compile",
    ]  # fmt: skip
    # speed settings at their defaults are left out (configs from before them keep their params)
    assert settings.train_arguments(dict(precision="fp32", channels_last=False, compile=False)) == []
    parsed = parse(settings.train_arguments(values, {"lr": 0.01}))
    assert all(getattr(parsed, key) == (int(value) if key == "fold" else value)
               for key, value in values.items() if value is not None)


def test_the_plan_passes_the_generated_arguments():
    from vrdl.config import load_config
    from vrdl.plan import Plan

    plan = Plan(load_config(ROOT / "config" / "config.yaml"))
    run = dict(study="lenet_mnist", bn="off", optimizer="storm", point="c~100_k~0.1", seed=1, split="fold~3")
    assert plan.studies.tune_args(run) == [
        "--dataset", "mnist", "--model", "lenet", "--no-bn", "--optimizer", "storm",
        "--storm-c", "100", "--storm-k", "0.1", "--storm-w", "0.1", "--epochs", "100", "--batch-size", "32",
        "--seed", "1", "--folds", "4", "--fold", "3", "--augment", "auto", "--device", "auto",
    ]  # fmt: skip


def test_the_schema_takes_the_declared_choices_and_defaults():
    schema = build_schema()
    compute = schema["properties"]["compute"]["properties"]
    assert compute["precision"] == dict(compute["precision"], enum=["fp32", "bf16"], default="fp32")
    assert schema["$defs"]["study"]["properties"]["augment"]["enum"] == ["auto", "on", "off"]
    assert schema["$defs"]["selection"]["properties"]["folds"] == {"type": "integer", "minimum": 2}


def test_the_docs_table_is_the_generated_one():
    text = CLI_DOC.read_text()
    begin, end = "<!-- vrdl settings: begin -->\n", "<!-- vrdl settings: end -->"
    assert text[text.index(begin) + len(begin):text.index(end)] == settings.markdown_table(), (
        "docs/cli.md's settings table is stale: paste the output of `vrdl settings` between its markers")


@pytest.mark.parametrize("command", [
    ["optimizers"], ["datasets"], ["models"], ["settings"], ["--help"], ["train", "--help"],
    ["plan", "--configfile", "config/config.yaml"],
    ["plan", "--configfile", "config/quick.yaml", "--results", "results"],
])
def test_registry_and_config_commands_import_no_torch(command):
    """They answer in well under a second: importing torch alone takes seconds on a loaded machine."""
    probe = ("import sys\nfrom vrdl.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
             "    assert e.code in (0, None), e.code\nprint('torch' in sys.modules, file=sys.stderr)")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    done = subprocess.run([sys.executable, "-c", probe, *command], cwd=root, env=env, capture_output=True,
                          text=True, check=True)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr
