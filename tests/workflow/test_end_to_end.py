"""The tiny config on real Fashion-MNIST, run once to completion (conftest.completed_run):
every output exists and is sane, selected.tsv is the argmin of the tune CSVs, the final runs
used the selection. The extensions' outputs are checked in test_extensions.py."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from .conftest import TINY, TINY_FINAL_JOBS, TINY_TUNE_JOBS, executed_jobs, snakemake

pytestmark = pytest.mark.slow

CSV_COLUMNS = ["epoch", "grad_evals", "wall_s", "lr", "train_loss", "train_acc", "eval_loss", "eval_acc"]
STUDY_BNS = {"lenet_tiny": ["off"], "resnet_tiny": ["on", "off"]}
FINAL_SEEDS = {"lenet_tiny": [1, 2], "resnet_tiny": [1]}


def bn_settings():
    return [(study, bn) for study, bns in STUDY_BNS.items() for bn in bns]


def tune_csvs(workdir, study, bn):
    return sorted((workdir / "results" / "tiny" / study / f"bn~{bn}" / "tune").rglob("*.csv"))


def test_every_job_ran_once(completed_run):
    jobs = executed_jobs((completed_run / "first-run.log").read_text())
    rules = [rule for rule, _ in jobs]
    assert rules.count("prepare_data") == 1
    assert rules.count("tune") == TINY_TUNE_JOBS
    assert rules.count("select") == 3
    assert rules.count("final") == TINY_FINAL_JOBS
    assert rules.count("metainit") == 2
    assert rules.count("convex") == 3 and rules.count("ablation") == 2
    assert rules.count("figure_tuning") == rules.count("figure_final") == 3
    assert rules.count("figure_metainit") == rules.count("report") == rules.count("tables") == 1
    assert rules.count("figure_variance") == rules.count("figure_convex") == rules.count("figure_ablation") == 1


def test_every_output_exists(completed_run, data_dir):
    results = completed_run / "results" / "tiny"  # the config's name: results/tiny/
    assert (data_dir / "fashion_mnist.pt").stat().st_size > 0
    expected_tune = {"lenet_tiny": 12, "resnet_tiny": 3}
    for study, bn in bn_settings():
        base = results / study / f"bn~{bn}"
        assert len(tune_csvs(completed_run, study, bn)) == expected_tune[study]
        assert (base / "selected.tsv").exists() and (base / "tuning.tsv").exists()
        for optimizer in TINY["studies"][study]["optimizers"]:
            for seed in FINAL_SEEDS[study]:
                for ext in (".csv", ".json", ".variance.csv"):
                    assert (base / "final" / optimizer / f"seed~{seed}{ext}").exists()
        for kind in ("tuning", "final"):
            for ext in ("png", "pdf"):
                assert (results / "figures" / f"{study}_bn~{bn}_{kind}.{ext}").stat().st_size > 1000
    for variant in ("on", "off"):
        assert (results / "metainit" / f"metainit~{variant}.csv").exists()
        assert (results / "metainit" / f"metainit~{variant}.json").exists()
    for ext in ("png", "pdf"):
        assert (results / "figures" / f"metainit.{ext}").stat().st_size > 1000
    assert (results / "report.html").stat().st_size > 10_000
    # Every job logged; checkpoints were deleted after success (only dirs may remain).
    assert (completed_run / "logs" / "tiny" / "report.log").exists()
    assert (results / "runs.parquet").exists() and (results / "curves.parquet").exists()
    assert len(list((completed_run / "logs").rglob("*.log"))) >= TINY_TUNE_JOBS + TINY_FINAL_JOBS + 2
    assert not list((completed_run / "checkpoints").rglob("*.ckpt"))


def test_run_files_are_sane(completed_run):
    for csv in (completed_run / "results").rglob("*.csv"):
        if csv.name.endswith(".variance.csv") or csv.name == "runs.csv":  # runs.csv: the tidy table
            continue
        curve = pd.read_csv(csv)
        convex = "convex" in csv.parts
        assert list(curve.columns) == CSV_COLUMNS + (["train_objective"] if convex else []), csv
        assert curve["epoch"].tolist() == list(range(len(curve)))
        assert curve["grad_evals"].iloc[0] == 0 and curve["grad_evals"].is_monotonic_increasing
        meta = json.loads(csv.with_suffix(".json").read_text())
        assert meta["epochs"] == len(curve) - 1 or meta["diverged"]
    svrg = completed_run / "results/tiny/resnet_tiny/bn~on/tune/svrg/lr~0.01/seed~1/holdout.json"
    meta = json.loads(svrg.read_text())
    assert meta["epochs"] == 2  # the per-optimizer epochs override
    assert meta["bn"] is True and meta["width"] == 0.0625 and meta["val_fraction"] == 0.1
    storm = completed_run / "results/tiny/lenet_tiny/bn~off/tune/storm/c~100_k~0.1/seed~1/fold~1.json"
    meta = json.loads(storm.read_text())
    assert meta["hparams"] == {"c": 100.0, "k": 0.1, "w": 0.1}
    assert (meta["folds"], meta["fold"], meta["eval_split"], meta["seed"]) == (2, 1, "val", 1)
    for seed in (1, 2):
        meta = json.loads((completed_run / f"results/tiny/lenet_tiny/bn~off/final/sgd/seed~{seed}.json").read_text())
        assert meta["seed"] == seed and meta["variance_epochs"] == [1]
    on = json.loads((completed_run / "results/tiny/metainit/metainit~on.json").read_text())
    off = json.loads((completed_run / "results/tiny/metainit/metainit~off.json").read_text())
    assert off["metainit"] is None
    assert on["metainit"]["steps"] == 3 and math.isfinite(on["metainit"]["gq_after"])
    assert on["eval_split"] == off["eval_split"] == "test"


@pytest.mark.parametrize("study,bn", bn_settings())
def test_selection_is_the_argmin_of_the_tune_runs(completed_run, study, bn):
    """Recomputed here from the files, independently of vrdl.select."""
    runs = []
    for csv in tune_csvs(completed_run, study, bn):
        optimizer, point = csv.parts[-4], csv.parts[-3]
        meta = json.loads(csv.with_suffix(".json").read_text())
        loss = pd.read_csv(csv)["eval_loss"].iloc[-1]
        runs.append(dict(optimizer=optimizer, point=point, loss=loss,
                         bad=meta["diverged"] or not math.isfinite(loss)))
    runs = pd.DataFrame(runs)
    selected = pd.read_csv(completed_run / "results" / "tiny" / study / f"bn~{bn}" / "selected.tsv", sep="\t",
                           quoting=3).set_index("optimizer")
    assert set(selected.index) == set(TINY["studies"][study]["optimizers"])
    for optimizer, group in runs.groupby("optimizer"):
        points = group.groupby("point").agg(mean=("loss", "mean"), bad=("bad", "any"), n=("loss", "size"))
        eligible = points[~points["bad"]]
        best = eligible["mean"].idxmin()
        assert selected.loc[optimizer, "point"] == best
        assert selected.loc[optimizer, "mean_val_loss"] == pytest.approx(eligible.loc[best, "mean"], rel=1e-12)
        assert selected.loc[optimizer, "folds"] == eligible.loc[best, "n"]
        assert selected.loc[optimizer, "diverged"] == group["bad"].sum()


@pytest.mark.parametrize("study,bn", bn_settings())
def test_final_runs_used_the_selection(completed_run, study, bn):
    base = completed_run / "results" / "tiny" / study / f"bn~{bn}"
    selected = pd.read_csv(base / "selected.tsv", sep="\t", quoting=3).set_index("optimizer")
    for optimizer in TINY["studies"][study]["optimizers"]:
        for seed in FINAL_SEEDS[study]:
            meta = json.loads((base / "final" / optimizer / f"seed~{seed}.json").read_text())
            chosen = json.loads(selected.loc[optimizer, "hparams"])
            assert {key: meta["hparams"][key] for key in chosen} == pytest.approx(chosen, rel=0, abs=0)
            assert meta["eval_split"] == "test" and meta["seed"] == seed
            assert meta["folds"] is None and meta["val_fraction"] is None


def test_report_page(completed_run):
    html = (completed_run / "results" / "tiny" / "report.html").read_text()
    for name in ("lenet_tiny", "resnet_tiny", "metainit", "convex", "ablation", "claims"):
        assert f'id="{name}"' in html
    # the claims figure and strip + 3 tuning + 3 tuning budgets + 3 final + LeNet time to target
    # (resnet_tiny has no sgd to set a target) + MetaInit + LeNet variance + convex + ablation (no
    # performance profile: no workload has optimizers that learned)
    assert html.count("data:image/png;base64,") == 16
    assert (completed_run / "results" / "tiny" / "claims.tsv").exists()
    assert (completed_run / "results" / "tiny" / "time_to_target.tsv").exists()
    assert 'href="figures/lenet_tiny_bn~off_final.pdf"' in html
    assert "paper (Table 4.2)" in html
    assert "Final runs on the test set" in html


def test_snakemake_report(run_copy):
    config = run_copy / "config" / "tiny.yaml"
    snakemake(run_copy, "--report", "snakemake-report.zip", configfile=config)
    assert (run_copy / "snakemake-report.zip").stat().st_size > 10_000


def test_failed_job_keeps_its_checkpoint_outside_outputs(completed_run):
    """Checkpoints live under checkpoints/, never among declared outputs."""
    log = (completed_run / "logs/tiny/lenet_tiny/bn~off/final/sgd/seed~1.log").read_text()
    assert "--checkpoint checkpoints/tiny/lenet_tiny/bn~off/final/sgd/seed~1.ckpt" in log.replace("'", "")
