"""alpha-SVRG and MARS through the whole workflow: a tiny ResNet study on real Fashion-MNIST with
both beside SGD, Adam and SVRG. The report shows both in the final runs and curves, the
time-to-target table and the two claims about them."""

from __future__ import annotations

import re
from html import escape

import pandas as pd
import pytest

from vrdl import claims as study_claims
from vrdl.targets import study_target, time_to_target

from .conftest import FASHION_MNIST, copy_workflow, executed_jobs, snakemake, write_config

pytestmark = pytest.mark.slow

OPTIMIZERS = {
    "sgd": {"grid": {"lr": [0.05]}},
    "adam": {"grid": {"lr": [1.0e-3]}},
    "svrg": {"grid": {"lr": [0.05]}},
    "alpha_svrg": {"grid": {"lr": [1.0e-3]}, "fixed": {"alpha0": 0.75}, "cache_snapshot_grads": True},
    "mars": {"grid": {"lr": [3.0e-3]}, "fixed": {"mars_on_every_tensor": True}},
}


@pytest.fixture(scope="module")
def modern_run(tmp_path_factory, data_dir):
    if not FASHION_MNIST.is_dir():
        pytest.skip(f"Fashion-MNIST raw files not found at {FASHION_MNIST}")
    workdir = copy_workflow(tmp_path_factory.mktemp("modern") / "wf")
    config = {
        "data": {"dir": str(data_dir), "sources": {"fashion_mnist": str(FASHION_MNIST)}},
        "compute": {"device": "cpu", "threads": 1, "gpus_per_job": 0},
        "studies": {"resnet_modern": {
            "dataset": "fashion_mnist", "model": "resnet18", "width": 0.0625, "bn": ["on"],
            "selection": {"val_fraction": 0.1, "seeds": [1]}, "epochs": 2, "batch_size": 32,
            "seeds": [1, 2],  # tune with one seed, the finals with two (a noise estimate for the claims)
            "train_subset": 128, "eval_subset": 128, "optimizers": OPTIMIZERS,
            "time_to_target": {"reference": "sgd", "slack": 0.05},
        }},
    }
    result = snakemake(workdir, configfile=write_config(workdir / "config" / "modern.yaml", config))
    return workdir, result.stdout


def test_both_run_with_their_settings_and_appear_in_the_curves(modern_run):
    workdir, log = modern_run
    jobs = [rule for rule, _ in executed_jobs(log)]
    assert jobs.count("tune") == 5 and jobs.count("final") == 10 and jobs.count("figure_target") == 1
    # the final figure was drawn from both optimizers' runs (its job's inputs)
    block = log[log.index("rule figure_final:"):]
    inputs = block[:block.index("\n\n")]
    for optimizer in ("alpha_svrg", "mars"):
        for seed in (1, 2):
            assert f"results/modern/resnet_modern/bn~on/final/{optimizer}/seed~{seed}.csv" in inputs
    html = (workdir / "results" / "modern" / "report.html").read_text()
    for optimizer in ("alpha_svrg", "mars"):
        assert f"<td>{optimizer}</td>" in html
    assert "alpha0=0.75" in html and "mars_on_every_tensor=True" in html
    for kind in ("final", "target"):
        assert (workdir / "results" / "modern" / "figures" / f"resnet_modern_bn~on_{kind}.png").stat().st_size > 1000


def test_time_to_target_table_in_the_report(modern_run):
    workdir, _ = modern_run
    base = workdir / "results" / "modern" / "resnet_modern" / "bn~on" / "final"
    curves = {o: [pd.read_csv(base / o / f"seed~{s}.csv") for s in (1, 2)] for o in OPTIMIZERS}
    target = study_target({"reference": "sgd", "slack": 0.05}, curves)
    html = (workdir / "results" / "modern" / "report.html").read_text()
    section = html[html.index("<h4>Time to target"):]
    if all(curve["eval_loss"].iloc[0] <= target.loss for runs in curves.values() for curve in runs):
        # every run starts at the target: one line says so instead of a table of zeros
        note = section[:section.index("<h4>Figures")]
        source = "lowest point of the mean test-loss curve of sgd (+5%)"
        assert f"at or below the target test loss {target.loss:.4g} ({source})" in note
        assert "<table>" not in note
        return
    section = section[:section.index("</table>")]
    assert f"test loss {target.loss:.4g} (lowest point of the mean test-loss curve of sgd (+5%))" in section
    rows = re.findall(r"<tr><td>(\w+)</td><td>([^<]+)</td>", section)
    assert [name for name, _ in rows] == list(OPTIMIZERS)
    for row, (name, reached) in zip(time_to_target(curves, target), rows, strict=True):
        assert reached == ("did not reach" if not row.reached else f"{row.reached} / {row.runs}"), name
    assert dict(rows)["sgd"] != "did not reach"  # the reference reaches its own best (+5%)


def test_the_two_new_claims_in_the_report(modern_run):
    workdir, _ = modern_run
    html = (workdir / "results" / "modern" / "report.html").read_text()
    claims = html[html.index('<h2 id="claims">'):]
    for text in ("alpha-SVRG beats SVRG on the ResNets", "MARS beats Adam"):
        at = claims.index(escape(text))
        row = claims[at:claims.index("</tr>", at)]
        # decided on this study's runs (its default title: model on data set), not "not run"
        assert "resnet18 on fashion_mnist, BN on" in row
        verdict = re.search(r'<span class="verdict [a-z]+">([^<]+)</span>', row).group(1)
        assert verdict in (study_claims.HOLDS, study_claims.FAILS, study_claims.WITHIN_NOISE,
                           study_claims.NOT_LEARNED), verdict
