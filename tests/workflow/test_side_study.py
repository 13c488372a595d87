"""A side study of a user's own, from its four files alone (tests/side_study: a stage module, its
schema block, its rule file, its report template), put where vrdl.stages.base.SideStage says: the
config takes its block, the workflow trains its runs, draws its figure and gives it a report
section, and nothing else in the workflow or the library changes."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import FASHION_MNIST, REPO, copy_workflow, executed_jobs, snakemake, write_config

pytestmark = pytest.mark.slow
TOY = REPO / "tests" / "side_study"
PLACES = {"toy.py": "src/vrdl/stages", "toy.schema.yaml": "src/vrdl/stages", "toy.smk": "workflow/rules",
          "toy.html.j2": "src/vrdl/templates"}
CONFIG = {
    "name": "toy",
    "compute": {"device": "cpu", "threads": 1, "gpus_per_job": 0},
    "studies": {"lenet_toy": {  # the finals only, with the paper's point: the smallest study there is
        "dataset": "fashion_mnist", "model": "lenet", "bn": ["off"], "selection": "paper", "epochs": 1,
        "batch_size": 32, "train_subset": 128, "eval_subset": 128, "optimizers": {"sgd": {}},
        "paper": {"bn_off": {"selected": {"sgd": {"lr": 0.05}}}},
    }},
    "toy": {"dataset": "fashion_mnist", "model": "lenet", "lr": {"low": 0.01, "high": 0.1}, "epochs": 1,
            "batch_size": 32, "train_subset": 128, "eval_subset": 128},
}


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory, data_dir):
    if not FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    workdir = copy_workflow(tmp_path_factory.mktemp("side_study") / "wf")
    for name, place in PLACES.items():
        shutil.copy(TOY / name, workdir / place / name)
    config = dict(CONFIG, data={"dir": str(data_dir), "sources": {"fashion_mnist": str(FASHION_MNIST)}})
    result = snakemake(workdir, configfile=write_config(workdir / "config" / "toy.yaml", config))
    return workdir, result.stdout


def test_its_runs_figure_and_report_section(toy_run):
    workdir, log = toy_run
    jobs = [rule for rule, _ in executed_jobs(log)]
    assert jobs.count("toy") == 2 and jobs.count("figure_toy") == 1 and "report" in jobs and "tables" in jobs
    results = workdir / "results" / "toy"
    for arm, lr in (("low", 0.01), ("high", 0.1)):
        meta = json.loads((results / "toy" / f"arm~{arm}.json").read_text())
        assert meta["hparams"]["lr"] == lr and meta["identity"] == {"stage": "toy", "name": "toy", "arm": arm}
    assert (results / "figures" / "toy.png").stat().st_size > 0
    html = (results / "report.html").read_text()
    assert '<a href="#toy">Toy: two step sizes</a>' in html and '<h2 id="toy">Toy: two step sizes</h2>' in html
    assert 'alt="toy study"' in html
    assert "Nothing to be done" in snakemake(workdir, "-n", configfile="config/toy.yaml").stdout


def test_its_block_is_checked_by_its_schema_and_its_stage(toy_run):
    workdir, _ = toy_run
    config = json.loads(json.dumps(CONFIG))
    config["toy"]["lr"] = {"low": 0.1, "high": 0.01, "mid": 1}
    result = snakemake(workdir, "-n", configfile=write_config(workdir / "config" / "bad.yaml", config), check=False)
    assert result.returncode != 0 and "toy.lr.mid: unknown key" in result.stdout
    del config["toy"]["lr"]["mid"]
    result = snakemake(workdir, "-n", configfile=write_config(workdir / "config" / "bad.yaml", config), check=False)
    assert result.returncode != 0 and "toy.lr: low must be below high" in result.stdout
