"""After a complete run, a change reruns exactly what it affects (each test on its own copy)."""

from __future__ import annotations

import pytest
import yaml

from .conftest import executed_jobs, snakemake

pytestmark = pytest.mark.slow

NOTHING_TO_DO = "Nothing to be done"
FIGURES = {"figure_tuning", "figure_final", "figure_target", "figure_metainit", "figure_variance", "figure_convex",
           "figure_ablation"}
# What a change to a study's tuning may rerun (the variance figure follows the final runs).
# The tidy tables (rule `tables`) follow every run.
STUDY_RULES = {"tune", "select", "final", "figure_tuning", "figure_final", "figure_target", "figure_variance", "report",
               "tables", "all"}


def config_path(workdir):
    return workdir / "config" / "tiny.yaml"


def run(workdir):
    return executed_jobs(snakemake(workdir, configfile=config_path(workdir)).stdout)


def selected_points(tsv_text):
    rows = [line.split("\t") for line in tsv_text.splitlines()[1:]]
    return {row[0]: row[1] for row in rows}


def assert_up_to_date(workdir):
    result = snakemake(workdir, "-n", configfile=config_path(workdir))
    assert NOTHING_TO_DO in result.stdout, result.stdout[-3000:]


def test_second_dry_run_has_nothing_to_do(run_copy):
    assert_up_to_date(run_copy)


def test_new_grid_value_runs_only_what_it_affects(run_copy):
    config = yaml.safe_load(config_path(run_copy).read_text())
    config["studies"]["lenet_tiny"]["optimizers"]["sgd"]["grid"]["lr"].append(0.05)
    config_path(run_copy).write_text(yaml.safe_dump(config, sort_keys=False))
    selected = run_copy / "results/tiny/lenet_tiny/bn~off/selected.tsv"
    before = selected.read_text()

    jobs = run(run_copy)

    tune = sorted(w for rule, w in jobs if rule == "tune")
    assert tune == [
        f"study=lenet_tiny, bn=off, optimizer=sgd, point=lr~0.05, seed=1, split=fold~{fold}" for fold in (0, 1)
    ]
    assert [w for rule, w in jobs if rule == "select"] == ["study=lenet_tiny, bn=off"]
    finals = sorted(w for rule, w in jobs if rule == "final")
    old_points, new_points = selected_points(before), selected_points(selected.read_text())
    changed = {optimizer for optimizer in new_points if new_points[optimizer] != old_points[optimizer]}
    # Only an optimizer whose selection changed is retrained (here at most sgd), every seed of it.
    assert finals == [f"study=lenet_tiny, bn=off, optimizer={o}, seed={seed}"
                      for o in sorted(changed & {"sgd"}) for seed in (1, 2)]
    if finals:
        assert {"figure_final", "figure_variance"} <= {rule for rule, _ in jobs}
    assert [w for rule, w in jobs if rule == "figure_tuning"] == ["study=lenet_tiny, bn=off"]
    assert {rule for rule, _ in jobs} <= STUDY_RULES
    assert "report" in [rule for rule, _ in jobs]
    assert_up_to_date(run_copy)


def test_selection_change_retrains_only_that_optimizer(run_copy):
    """Drop the selected SGD point from the grid: the SGD final must rerun with the other one."""
    selected = run_copy / "results/tiny/lenet_tiny/bn~off/selected.tsv"
    row = next(line for line in selected.read_text().splitlines() if line.startswith("sgd\t"))
    chosen = yaml.safe_load(row.split("\t")[2])["lr"]
    config = yaml.safe_load(config_path(run_copy).read_text())
    grid = config["studies"]["lenet_tiny"]["optimizers"]["sgd"]["grid"]["lr"]
    grid.remove(chosen)
    config_path(run_copy).write_text(yaml.safe_dump(config, sort_keys=False))

    jobs = run(run_copy)

    assert [rule for rule, _ in jobs if rule == "tune"] == []
    assert sorted(w for rule, w in jobs if rule == "final") == [
        f"study=lenet_tiny, bn=off, optimizer=sgd, seed={seed}" for seed in (1, 2)
    ]
    for seed in (1, 2):
        meta = yaml.safe_load((run_copy / f"results/tiny/lenet_tiny/bn~off/final/sgd/seed~{seed}.json").read_text())
        assert meta["hparams"]["lr"] == grid[0]
    assert_up_to_date(run_copy)


def test_editing_the_figure_script_reruns_only_figures_and_report(run_copy):
    script = run_copy / "scripts" / "figures.py"
    script.write_text(script.read_text() + "\n# a comment: no code changed\n")
    assert_up_to_date(run_copy)  # content, not the script's new mtime, decides
    script.write_text(script.read_text() + "\nEDITED = True\n")

    jobs = run(run_copy)

    rules = {rule for rule, _ in jobs}
    assert rules <= FIGURES | {"report", "all"}
    assert [rule for rule, _ in jobs].count("figure_tuning") == 3
    assert "report" in rules
    assert_up_to_date(run_copy)


def test_editing_the_plot_library_reruns_only_figures_and_report(run_copy):
    library = run_copy / "src" / "vrdl" / "plots.py"
    library.write_text(library.read_text() + "\n# a comment: no code changed\n")
    assert_up_to_date(run_copy)
    library.write_text(library.read_text() + "\nEDITED = True\n")

    rules = {rule for rule, _ in run(run_copy)}

    assert rules <= FIGURES | {"report", "all"}
    assert FIGURES | {"report"} <= rules


def test_deleting_one_tune_csv_reruns_it_and_downstream_only(run_copy):
    csv = run_copy / "results/tiny/resnet_tiny/bn~on/tune/adam/lr~0.01/seed~1/holdout.csv"
    selected = run_copy / "results/tiny/resnet_tiny/bn~on/selected.tsv"
    before = selected.read_text()
    csv.unlink()

    jobs = run(run_copy)

    assert [w for rule, w in jobs if rule == "tune"] == [
        "study=resnet_tiny, bn=on, optimizer=adam, point=lr~0.01, seed=1, split=holdout"
    ]
    assert [w for rule, w in jobs if rule == "select"] == ["study=resnet_tiny, bn=on"]
    assert [w for rule, w in jobs if rule == "figure_tuning"] == ["study=resnet_tiny, bn=on"]
    assert {rule for rule, _ in jobs} <= STUDY_RULES
    # Deterministic on CPU: the same selection again, so no final run is retrained.
    assert selected.read_text() == before
    assert [rule for rule, _ in jobs if rule in ("final", "figure_final")] == []
    assert_up_to_date(run_copy)
