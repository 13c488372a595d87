"""Dry runs of the shipped configs (no data present), the config-file rules and lint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import REPO, copy_workflow, job_counts, snakemake


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("dryrun") / "wf")


def test_paper_config_job_counts(workdir):
    result = snakemake(workdir, "-n", configfile="config/config.yaml")
    counts = job_counts(result.stdout)
    # LeNet: 39 points x 4 folds; ResNet-18: 11 points x 2 BN; ResNet-101: 9 points x 2 BN.
    assert counts["tune"] == 39 * 4 + 11 * 2 + 9 * 2 == 196
    assert counts["final"] == 5 + 3 * 2 + 3 * 2 == 17
    assert counts["metainit"] == 2
    assert counts["select"] == 5
    assert counts["prepare_data"] == 3
    assert counts["figure_tuning"] == counts["figure_final"] == 5
    assert counts["figure_metainit"] == counts["report"] == 1
    # Variance diagnostics ride on the final runs: one figure per study, no training job.
    assert counts["figure_variance"] == 3
    assert not {"convex", "ablation", "figure_convex", "figure_ablation"} & set(counts)


def test_paper_config_paths_and_arguments(workdir):
    result = snakemake(workdir, "-n", "--printshellcmds", configfile="config/config.yaml")
    out = result.stdout
    # Paramspace-like paths; floats written so that they read back exactly.
    assert "results/paper/lenet_mnist/bn~off/tune/storm/c~100_k~0.1/seed~1/fold~3.csv" in out
    assert "results/paper/lenet_mnist/bn~off/tune/adam/lr~1e-05/seed~1/fold~0.csv" in out
    assert "results/paper/resnet18_cifar10/bn~on/tune/svrg/lr~0.001/seed~1/holdout.csv" in out
    assert "results/paper/resnet101_cifar100/bn~off/tune/adam/lr~1e-06/seed~1/holdout.csv" in out
    assert "results/paper/resnet101_cifar100/bn~on/final/svrg/seed~1.csv" in out
    assert "results/paper/resnet18_cifar10/bn~off/final/svrg/seed~1.variance.csv" in out
    assert "results/paper/metainit/metainit~on.csv" in out
    assert "fold~4" not in out


def written_files(output: str) -> set[str]:
    """Every output and log file of a dry run's jobs, and what its `all` rule asks for."""
    files = set()
    for line in output.splitlines():
        key, _, value = line.strip().partition(": ")
        if key in ("output", "log", "input") and value:
            files.update(part.strip() for part in value.split(","))
    return files


def test_the_demo_and_the_paper_share_no_file(workdir):
    """Each config writes under results/NAME/ and logs/NAME/ (checkpoints/NAME/: test_plan): only
    the prepared data (data/) is shared."""
    outputs = {}
    for config in ("quick", "config"):
        out = snakemake(workdir, "-n", configfile=f"config/{config}.yaml").stdout
        outputs[config] = {f for f in written_files(out) if not f.startswith("data/") and f != "<TBD>"}
    assert "results/quick/report.html" in outputs["quick"] and "results/paper/report.html" in outputs["config"]
    assert "results/quick/metainit/metainit~on.csv" in outputs["quick"]
    assert "results/paper/metainit/metainit~on.csv" in outputs["config"]
    assert not outputs["quick"] & outputs["config"]
    assert all(f.startswith(("results/quick/", "logs/quick/", "logs/prepare_data/")) for f in outputs["quick"])


def test_quick_config_has_every_stage(workdir):
    counts = job_counts(snakemake(workdir, "-n", configfile="config/quick.yaml").stdout)
    # LeNet BN on: 10 points x 2 folds (tuned with one seed); ResNets: 8 points (alpha-SVRG and
    # MARS one each) x 2 BN. LeNet BN off is stacked: one `vrdl train-grid` job per optimizer.
    assert counts["tune"] == 10 * 2 + 8 * 2 + 8 * 2 == 52
    stacked = {rule: n for rule, n in counts.items() if rule.startswith("tune_stacked_")}
    assert stacked == {f"tune_stacked_lenet_fmnist_{o}_seed1": 1 for o in ("adam", "sgd", "adagrad", "svrg", "storm")}
    # LeNet: 5 optimizers x 2 BN x 2 seeds; ResNets: 5 optimizers x 2 BN.
    assert counts["final"] == 5 * 2 * 2 + 5 * 2 + 5 * 2 == 40
    assert counts["metainit"] == 2
    assert counts["convex"] == 3 and counts["ablation"] == 2
    assert counts["figure_variance"] == 3
    assert counts["figure_convex"] == counts["figure_ablation"] == 1
    assert counts["prepare_data"] == 1


def test_paper_config_with_alpha_svrg_and_mars(workdir):
    """The paper config's opt-in block adds alpha-SVRG and MARS to every study."""
    text = (workdir / "config" / "config.yaml").read_text()
    assert "extra_optimizers:\n  enabled: false\n" in text
    (workdir / "config" / "modern.yaml").write_text(
        text.replace("extra_optimizers:\n  enabled: false\n", "extra_optimizers:\n  enabled: true\n"))
    result = snakemake(workdir, "-n", "--printshellcmds", configfile="config/modern.yaml")
    counts = job_counts(result.stdout)
    # LeNet: (5 + 4) points x 4 folds; ResNets: (3 + 3) points x 2 BN each
    assert counts["tune"] == 196 + 9 * 4 + 6 * 2 + 6 * 2 == 256
    assert counts["final"] == 17 + 2 + 4 + 4 == 27
    assert "results/paper/resnet18_cifar10/bn~on/tune/alpha_svrg/lr~0.001/seed~1/holdout.csv" in result.stdout
    assert "results/paper/lenet_mnist/bn~off/tune/mars/lr~0.003/seed~1/fold~2.csv" in result.stdout


def test_no_config_is_a_clear_error(workdir):
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert "--configfile config/config.yaml" in result.stdout


def test_default_profile_runs_the_paper_and_configfile_replaces_it(workdir):
    """profiles/default names config/config.yaml; --configfile replaces it (no merging, so the
    demo never inherits the paper's studies)."""
    import subprocess
    import sys

    def dry(*args):
        return subprocess.run([sys.executable, "-m", "snakemake", "-n", *args], cwd=workdir,
                              capture_output=True, text=True, check=True).stdout

    assert job_counts(dry())["tune"] == 196
    quick = dry("--configfile", "config/quick.yaml")
    assert job_counts(quick)["tune"] == 52
    assert "lenet_mnist" not in quick and "resnet18_cifar10" not in quick


def test_lint_is_clean(workdir):
    result = snakemake(workdir, "--lint", configfile="config/config.yaml", check=False)
    assert result.returncode == 0, result.stdout
    assert "Congratulations, your workflow is in a good condition!" in result.stdout


# a file the workflow names by a quoted relative path: included rules, scripts, conda envs, captions
NAMED_FILE = re.compile(r'"([^"\s{}]*/[^"\s{}]+\.(?:smk|py|yaml|rst))"')


def test_repository_copy_is_complete(workdir):
    """The copy every workflow test runs in (conftest.copy_workflow) holds each file the workflow
    names, the shipped configs, the profile, and its own library (which its jobs then import, not
    an installed vrdl): a part missing from WORKFLOW_PARTS fails here, not as a puzzling job error."""
    sources = [REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    named = {(source.parent / path).resolve().relative_to(REPO)
             for source in sources for path in NAMED_FILE.findall(source.read_text())}
    assert {Path("scripts/train.py"), Path("envs/vrdl.yaml"), Path("workflow/rules/common.smk")} <= named
    needed = named | {path.relative_to(REPO) for path in (REPO / "config").glob("*.yaml")} | {
        Path("profiles/default/config.yaml"), Path("workflow/schemas/config.schema.yaml"),
        Path("scripts/vrdl_env.py"), Path("src/vrdl/__init__.py")}
    assert sorted(str(path) for path in needed if not (workdir / path).is_file()) == []


def test_paper_hparams_config_runs_only_the_papers_finals(workdir):
    """`selection: paper`: no tune or select jobs; the five LeNet finals use the paper's choice."""
    counts = job_counts(snakemake(workdir, "-n", configfile="config/paper-hparams.yaml").stdout)
    assert counts.get("tune", 0) == 0 and "select" not in counts and "figure_tuning" not in counts
    assert counts["final"] == 5 and counts["figure_final"] == counts["report"] == 1


TOY_MODULE = '''
import torch


class Toy(torch.optim.SGD):
    """SGD whose step size is lr * scale."""

    def __init__(self, params, lr, scale=1.0):
        super().__init__(params, lr=lr * scale)
'''
TOY_ENTRY = '''
register(Optimizer("toy", "SGD with a scaled step", (_lr(), Hparam("scale", float, "step scale", default=1.0,
                                                                     exclusive_minimum=0)), "vrdl.optim.toy:Toy"))
'''


def test_a_new_optimizer_needs_one_registry_entry_and_its_module(workdir, tmp_path, monkeypatch, fashion_mnist_dir):
    """The library with one entry appended to the registry and one module: `vrdl train` trains it
    and the workflow plans its grid (no change to the CLI, the schema or the rules)."""
    import json
    import subprocess
    import sys

    import yaml

    workdir = copy_workflow(tmp_path / "wf")  # the workflow runs its own checkout's src/
    src = workdir / "src"
    (src / "vrdl" / "optim" / "toy.py").write_text(TOY_MODULE)
    with open(src / "vrdl" / "optim" / "registry.py", "a") as registry:
        registry.write(TOY_ENTRY)
    monkeypatch.setenv("PYTHONPATH", str(src))

    out = tmp_path / "toy.csv"
    subprocess.run([sys.executable, "-m", "vrdl.cli", "train", "--dataset", "fashion_mnist", "--model", "lenet",
                    "--optimizer", "toy", "--lr", "0.1", "--scale", "0.5", "--epochs", "1", "--batch-size", "32",
                    "--train-subset", "64", "--eval-subset", "64", "--data-dir", str(fashion_mnist_dir),
                    "--out", str(out)], check=True, capture_output=True)
    assert json.loads(out.with_suffix(".json").read_text())["hparams"]["lr"] == 0.05

    config = yaml.safe_load((REPO / "config" / "paper-hparams.yaml").read_text())
    study = config["studies"].pop("lenet_mnist_paper")
    study.update(selection={"folds": 2}, optimizers={"toy": {"grid": {"lr": [0.1, 0.01]}, "fixed": {"scale": 0.5}}},
                 paper={})
    config["studies"]["toy_study"] = study
    config["name"] = "toy"
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", configfile=path)
    assert job_counts(result.stdout)["tune"] == 2 * 2
    assert "results/toy/toy_study/bn~off/tune/toy/lr~0.01/seed~1/fold~1.csv" in result.stdout
