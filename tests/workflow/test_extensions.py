"""The extensions beyond the paper on the tiny config's complete run (conftest.completed_run):
gradient-variance diagnostics of the final runs, several seeds, the convex sanity study, the
transform-locking ablation, the claims table of the report, and stacked tune grids."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape  # as the report's templates escape

from vrdl import claims as study_claims
from vrdl.plots import suboptimality
from vrdl.variance import COLUMNS as VARIANCE_COLUMNS

from .conftest import CONVEX_EPOCHS, TINY, copy_workflow, executed_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

LENET_FINALS = "results/tiny/lenet_tiny/bn~off/final"


def read_json(path):
    return json.loads(path.read_text())


def test_variance_diagnostics_of_the_final_runs(completed_run):
    results = completed_run / "results" / "tiny"
    for optimizer in TINY["studies"]["lenet_tiny"]["optimizers"]:
        for seed in (1, 2):
            stem = completed_run / LENET_FINALS / optimizer / f"seed~{seed}"
            variance = pd.read_csv(f"{stem}.variance.csv")
            assert list(variance.columns) == list(VARIANCE_COLUMNS)
            assert variance["epoch"].tolist() == [1] and variance["batches"].tolist() == [4]
            assert (variance["var_sgd"] > 0).all() and (variance["var_svrg"] > 0).all()
            assert variance["variance_ratio"].to_numpy() == pytest.approx(
                (variance["var_svrg"] / variance["var_sgd"]).to_numpy())
            assert read_json(stem.with_suffix(".json"))["variance_epochs"] == [1]
            # the diagnostics change nothing about the run: same columns as every final run
            assert "variance_ratio" not in pd.read_csv(stem.with_suffix(".csv")).columns
    # resnet_tiny asks for none: `final` still declares the file, header only
    empty = results / "resnet_tiny/bn~on/final/adam/seed~1.variance.csv"
    assert empty.read_text().strip() == ",".join(VARIANCE_COLUMNS)
    for ext in ("png", "pdf"):
        assert (results / "figures" / f"lenet_tiny_variance.{ext}").stat().st_size > 1000
    assert not (results / "figures" / "resnet_tiny_variance.png").exists()
    html = (results / "report.html").read_text()
    assert "Gradient variance of the final runs" in html


def test_final_runs_of_two_seeds_differ_and_the_figure_says_so(completed_run):
    runs = [pd.read_csv(completed_run / LENET_FINALS / "sgd" / f"seed~{seed}.csv") for seed in (1, 2)]
    assert runs[0]["grad_evals"].tolist() == runs[1]["grad_evals"].tolist()
    assert not np.allclose(runs[0]["eval_loss"], runs[1]["eval_loss"])
    log = (completed_run / "logs/tiny/figures/lenet_tiny_bn~off_final.log")
    assert log.exists()
    html = (completed_run / "results/tiny/report.html").read_text()
    assert "Final curves: mean of 2 seeds, the band spans their minimum to maximum." in html
    assert "Final runs on the test set (mean ± std over seeds)" in html


def test_convex_study_svrg_converges_far_below_sgd(completed_run):
    base = completed_run / "results" / "tiny" / "convex"
    names = list(TINY["convex"]["optimizers"])
    curves = {name: pd.read_csv(base / name / "seed~1.csv") for name in names}
    for name, curve in curves.items():
        meta = read_json(base / name / "seed~1.json")
        assert meta["model"] == "logreg" and meta["l2"] == 0.1 and meta["track_objective"]
        assert meta["hparams"]["lr" if name != "storm" else "k"] == TINY["convex"]["optimizers"][name]["hparams"][
            "lr" if name != "storm" else "k"]
        assert curve["train_objective"].notna().all()
    # about the same gradient budget for every optimizer (the config's per-optimizer epochs)
    budgets = {name: curve["grad_evals"].iloc[-1] for name, curve in curves.items()}
    assert budgets["svrg"] == budgets["sgd"] == 3 * CONVEX_EPOCHS * 1024
    gaps, best = suboptimality([curves[name] for name in names])
    gap = {name: g.set_index("epoch")["suboptimality"] for name, g in zip(names, gaps, strict=True)}
    sgd_floor = float(gap["sgd"][gap["sgd"] > 0].min())
    # SGD with a constant step stalls at its noise floor; SVRG goes on down, steadily (no noise)
    svrg = gap["svrg"]
    assert svrg[3 * CONVEX_EPOCHS // 4] < 0.1 * sgd_floor, (svrg.to_dict(), sgd_floor)
    assert (svrg.diff().iloc[1:] < 0).all(), svrg.to_dict()
    assert float(curves["svrg"]["train_objective"].iloc[-1]) < float(curves["sgd"]["train_objective"].min())
    for ext in ("png", "pdf"):
        assert (completed_run / "results" / "tiny" / "figures" / f"convex.{ext}").stat().st_size > 1000


def test_transform_locking_ablation_runs_differ(completed_run):
    base = completed_run / "results" / "tiny" / "ablation"
    on, off = (pd.read_csv(base / f"locking~{v}" / "seed~1.csv") for v in ("on", "off"))
    meta_on, meta_off = (read_json(base / f"locking~{v}" / "seed~1.json") for v in ("on", "off"))
    assert meta_on["transform_locking"] is True and meta_off["transform_locking"] is False
    assert meta_on["augment"] == meta_off["augment"] == "on" and meta_on["bn"] is True
    # same data, initialisation, minibatch order and gradient budget; only locking differs
    assert on["grad_evals"].tolist() == off["grad_evals"].tolist()
    assert on.loc[0, "eval_loss"] == off.loc[0, "eval_loss"]
    assert not np.allclose(on["train_loss"].iloc[1:], off["train_loss"].iloc[1:])
    for v in ("on", "off"):
        variance = pd.read_csv(base / f"locking~{v}" / "seed~1.variance.csv")
        assert variance["epoch"].tolist() == [1, 2] and (variance["var_sgd"] > 0).all()
    for ext in ("png", "pdf"):
        assert (completed_run / "results" / "tiny" / "figures" / f"ablation.{ext}").stat().st_size > 1000


def test_claims_table_in_the_report(completed_run):
    """The report's table is vrdl.claims evaluated on the final runs (all seeds) and MetaInit;
    the runs that did not learn are listed beside it and the page says it is a demo (the tiny
    config trains on subsets) and that the study's claims are inconclusive: its runs are far
    shorter than the study's."""
    results = completed_run / "results" / "tiny"
    finals = {}
    for study, bns in (("lenet_tiny", ["off"]), ("resnet_tiny", ["on", "off"])):
        seeds = TINY["studies"][study].get("seeds", [1])
        for bn in bns:
            base = results / study / f"bn~{bn}"
            finals[(study, bn)] = {
                optimizer: [study_claims.load_run(base / "final" / optimizer / f"seed~{s}.csv") for s in seeds]
                for optimizer in TINY["studies"][study]["optimizers"]
            }
    models = {"lenet_tiny": "lenet", "resnet_tiny": "resnet18"}
    metainit = {"with": [study_claims.load_run(results / "metainit/metainit~on.csv")],
                "without": [study_claims.load_run(results / "metainit/metainit~off.csv")]}
    expected = study_claims.evaluate_claims(finals, models, metainit)
    assert len(expected) == 7  # the last two (alpha-SVRG, MARS) are not run here
    # lenet_tiny has two seeds: its claim uses their standard error; resnet_tiny one seed: the
    # bootstrap over test examples. All are a few epochs against the study's 100-200
    assert "seeds' standard error (2 seeds)" in expected[0].noise
    assert "bootstrap over test examples" in expected[3].noise
    for claim in expected:
        assert claim.verdict in (study_claims.SHORT, study_claims.MISSING), claim
    assert "Inconclusive: runs shorter than the claim's protocol." in html_head(results)
    html = (results / "report.html").read_text()
    assert "This is a demo, not the study." in html[:html.index('<h2 id="claims">')]
    assert "Claims, checked against these results" in html
    assert "Seeds per final run: lenet_tiny: 2; resnet_tiny: 1; MetaInit comparison: 1." in html
    assert "<th>gap ± noise (test loss)</th>" in html and "<th>judged at</th>" in html
    assert "<th>ours vs paper</th>" in html
    for claim in expected:
        if claim.verdict == study_claims.MISSING:  # one line under the table
            assert escape(claim.claim) in html[html.index("Not run by this config"):]
            continue
        row = f"<td>{escape(claim.claim)}</td>"
        assert row in html, claim
        assert f">{escape(claim.verdict)}</span>" in html[html.index(row):html.index(row) + len(row) + 200]
        assert f"<summary>{escape(claim.claim)}: " in html  # its evidence, one click away
    failures = study_claims.did_not_learn(finals, metainit)
    assert ("Runs that did not learn" in html) == bool(failures)
    for failure in failures:
        assert f"<li>{escape(failure)}</li>" in html


def test_stacked_tune_grid_writes_the_same_runs(completed_run, data_dir, tmp_path):
    """`stacked: true`: each (optimizer, seed) grid of lenet_tiny's BN-off tuning is one
    `vrdl train-grid` job writing the tune jobs' files, with the same curves (float tolerance:
    vmap may sum in another order) and the same selection."""
    config = tiny_config(data_dir)
    config["studies"] = {"lenet_tiny": dict(config["studies"]["lenet_tiny"], stacked=True)}
    config["metainit"] = config["convex"] = config["ablation"] = None
    workdir = copy_workflow(tmp_path / "wf")
    path = write_config(workdir / "config" / "stacked.yaml", config)
    target = "results/tiny/lenet_tiny/bn~off/selected.tsv"
    result = snakemake(workdir, target, "--configfile", str(path))  # targets before --configfile
    rules = [rule for rule, _ in executed_jobs(result.stdout)]
    assert "tune" not in rules
    assert sorted(r for r in rules if r.startswith("tune_stacked")) == [
        f"tune_stacked_lenet_tiny_{optimizer}_seed1" for optimizer in ("sgd", "storm", "svrg")]
    runs = sorted((workdir / "results/tiny/lenet_tiny/bn~off/tune").rglob("*.csv"))
    assert len(runs) == 12
    for csv in runs:
        stacked, separate = pd.read_csv(csv), pd.read_csv(completed_run / csv.relative_to(workdir))
        pd.testing.assert_frame_equal(stacked.drop(columns="wall_s"), separate.drop(columns="wall_s"),
                                      rtol=1e-4, atol=1e-5)
        meta = read_json(csv.with_suffix(".json"))
        assert meta["grid"]["runs"] == 4 and meta["eval_split"] == "val"
    selected = pd.read_csv(workdir / target, sep="\t")
    expected = pd.read_csv(completed_run / target, sep="\t")
    assert selected["point"].tolist() == expected["point"].tolist()
    assert not list((workdir / "checkpoints").rglob("*.ckpt"))


def test_speed_options_reach_the_runs(data_dir, tmp_path):
    """compute.precision/channels_last and optimizers.svrg.cache_snapshot_grads become `vrdl
    train` flags, recorded in the run's JSON (compute.compile takes the same path)."""
    config = tiny_config(data_dir)
    study = dict(config["studies"]["lenet_tiny"], seeds=[1], selection={"folds": 2},
                 optimizers={"svrg": {"grid": {"lr": [0.05]}, "cache_snapshot_grads": True}})
    study.pop("variance")
    config["studies"] = {"lenet_tiny": study}
    config["compute"].update(precision="bf16", channels_last=True)
    config["metainit"] = config["convex"] = config["ablation"] = None
    workdir = copy_workflow(tmp_path / "wf")
    path = write_config(workdir / "config" / "speed.yaml", config)
    run = "results/tiny/lenet_tiny/bn~off/tune/svrg/lr~0.05/seed~1/fold~0"
    snakemake(workdir, f"{run}.csv", "--configfile", str(path))
    meta = read_json(workdir / f"{run}.json")
    assert meta["precision"] == "bf16" and meta["channels_last"] is True and meta["cache_snapshot_grads"] is True
    assert meta["compile"] is False
    log = (workdir / f"logs/{run.removeprefix('results/')}.log").read_text()
    assert "--precision bf16 --channels-last" in log and "--cache-snapshot-grads" in log


def html_head(results):
    """The report's first screen: everything before its contents list."""
    html = (results / "report.html").read_text()
    return html[:html.index('<h2 id="contents">')]
