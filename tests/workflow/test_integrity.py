"""The run-file reader shared by select, the figures and the report (vrdl.runs): a truncated,
edited or mixed-up tune CSV fails naming the file instead of being selected on whatever it
holds; the tuning figure marks the selected point."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.workflow.conftest import copy_workflow, executed_jobs, snakemake
from tests.workflow.test_select import make_runs, write_run
from vrdl import plots
from vrdl.identity import sealed_json
from vrdl.report import write_report
from vrdl.runs import RunFileError, check_same_data, listed_files_data, read_run
from vrdl.select import SelectionError, load_tune_runs, run_selection

SPEC = {
    ("sgd", "lr~0.1"): ({"lr": 0.1}, [(0.3, False), (0.7, False)]),
    ("sgd", "lr~0.01"): ({"lr": 0.01}, [(0.4, False), (0.5, False)]),
}


def one_run(tmp_path, losses=(2.3, 1.0, 0.5)):
    csv = write_run(tmp_path / "run.csv", list(losses), {"lr": 0.1})
    return [dict(optimizer="sgd", point="lr~0.1", split="fold~0", seed=1, hparams={"lr": 0.1}, csv=csv)]


def test_a_tune_csv_missing_its_last_row_is_refused(tmp_path):
    runs = one_run(tmp_path)
    csv = runs[0]["csv"]
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:-1]))  # the last epoch lost
    with pytest.raises(SelectionError, match=f"{csv}: the last epoch is 1 in the CSV but 2 in run.json"):
        load_tune_runs(runs)


def test_a_csv_with_only_its_first_row_is_refused(tmp_path):
    """The case from the issue: selected on the epoch-0 loss, silently."""
    runs = one_run(tmp_path)
    csv = runs[0]["csv"]
    csv.write_text("".join(csv.read_text().splitlines(keepends=True)[:2]))
    with pytest.raises(SelectionError, match="the last epoch is 0 in the CSV"):
        load_tune_runs(runs)


@pytest.mark.parametrize("cell", ["oops", ""])
def test_a_non_numeric_cell_is_refused_naming_line_and_column(tmp_path, cell):
    runs = one_run(tmp_path)
    csv = runs[0]["csv"]
    frame = pd.read_csv(csv, dtype=str)
    frame.loc[1, "eval_loss"] = cell
    frame.to_csv(csv, index=False)
    with pytest.raises(SelectionError, match=f"{csv}, line 3, column eval_loss: '{cell}' is not a number"):
        load_tune_runs(runs)


@pytest.mark.parametrize("edit,message", [
    (dict(diverged=True), "diverged is False in the CSV but True"),
    (dict(grad_evals=7), "the gradient count is 200 in the CSV but 7"),
    (dict(epochs=5), "ran 2 of 5 epochs without diverging"),
    (dict(final_eval_loss=0.25), "the final eval loss is 0.5 in the CSV but 0.25"),
    (dict(seed=2), "seed 2, expected 1"),
    (dict(hparams={"lr": 0.2}), "lr configured as 0.1 but the run recorded 0.2"),
])
def test_a_json_that_disagrees_with_its_csv_or_config_is_refused(tmp_path, edit, message):
    runs = one_run(tmp_path)
    json_path = runs[0]["csv"].with_suffix(".json")
    json_path.write_text(sealed_json({**json.loads(json_path.read_text()), **edit}))
    with pytest.raises(SelectionError, match=message):
        load_tune_runs(runs)


def test_a_hand_edited_json_is_refused_by_its_seal(tmp_path):
    """RUN.json proves itself as RUN.csv does: any field edited (here the hyperparameters, to
    what the config asks) breaks its json_sha256; one without a seal cannot be checked."""
    runs = one_run(tmp_path)
    json_path = runs[0]["csv"].with_suffix(".json")
    meta = json.loads(json_path.read_text())
    json_path.write_text(json.dumps({**meta, "hparams": {"lr": 0.2}}, indent=2))
    with pytest.raises(SelectionError, match="run.json is not the file the run wrote .*an edited file"):
        load_tune_runs(runs)
    runs = one_run(tmp_path / "old")
    json_path = runs[0]["csv"].with_suffix(".json")
    json_path.write_text(json.dumps({k: v for k, v in meta.items() if k != "json_sha256"}))
    with pytest.raises(SelectionError, match="records no json_sha256"):
        load_tune_runs(runs)


def test_non_standard_json_is_refused(tmp_path):
    runs = one_run(tmp_path)
    json_path = runs[0]["csv"].with_suffix(".json")
    json_path.write_text(json_path.read_text().replace('"final_eval_loss": 0.5', '"final_eval_loss": NaN'))
    with pytest.raises(SelectionError, match="run.json is not valid JSON"):
        load_tune_runs(runs)


def test_runs_trained_on_different_data_are_not_compared(tmp_path):
    runs = make_runs(tmp_path, SPEC)
    json_path = runs[-1]["csv"].with_suffix(".json")
    json_path.write_text(sealed_json({**json.loads(json_path.read_text()), "data_sha256": "e" * 64}))
    with pytest.raises(SelectionError, match=f"runs trained on different fashion_mnist data: .* and {runs[-1]['csv']}"):
        load_tune_runs(runs)


def test_the_report_refuses_final_runs_on_other_data_than_the_selection(tmp_path):
    runs = make_runs(tmp_path / "tune", SPEC)
    run_selection(runs, tmp_path / "selected.tsv", tmp_path / "tuning.tsv")
    final = write_run(tmp_path / "final" / "sgd.csv", [2.3, 0.4], {"lr": 0.01})
    setting = {"selected": str(tmp_path / "selected.tsv"), "finals": {"sgd": [str(final)]}}
    manifest = {"studies": [{"settings": [setting]}]}
    check_same_data(listed_files_data(manifest))  # same data: fine
    meta = json.loads(final.with_suffix(".json").read_text())
    final.with_suffix(".json").write_text(sealed_json({**meta, "data_sha256": "e" * 64}))
    with pytest.raises(RunFileError, match=f"different fashion_mnist data: .*selected.tsv .* and {final}"):
        write_report(manifest, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_every_figure_uses_the_checked_reader(tmp_path):
    runs = one_run(tmp_path)
    csv = runs[0]["csv"]
    damaged = "".join(csv.read_text().splitlines(keepends=True)[:-1])
    json_text = csv.with_suffix(".json").read_text()
    for read in (lambda: plots.tuning_figure(runs, [tmp_path / "t.png"]),
                 lambda: plots.test_curves_figure({"sgd": [csv]}, [tmp_path / "f.png"]),
                 lambda: read_run(csv)):
        csv.write_text(damaged)
        csv.with_suffix(".json").write_text(json_text)
        with pytest.raises(RunFileError, match="the last epoch is 1 in the CSV.*moved aside as run.csv.rejected"):
            read()
        assert not csv.exists() and (tmp_path / "run.csv.rejected").read_text() == damaged
        assert (tmp_path / "run.json.rejected").read_text() == json_text


def test_the_tuning_figure_marks_the_selected_point_and_explains_thin_lines(tmp_path):
    runs = make_runs(tmp_path, SPEC)
    figure = plots.tuning_figure(runs, [tmp_path / "t.png"])
    legend = figure.axes[0].get_legend()
    labels = [text.get_text() for text in legend.get_texts()]
    assert labels == ["lr=0.1", "lr=0.01 - selected"]  # fold means 0.5 vs 0.45
    assert "thin: each run" in legend.get_title().get_text()
    assert (tmp_path / "t.png").stat().st_size > 0


def test_jobs_do_not_print_an_empty_shell_command(tmp_path):
    """Every rule runs a script: with printshellcmds each job printed `Shell command: None`."""
    workdir = copy_workflow(tmp_path / "wf")
    out = snakemake(workdir, "-n", "--workflow-profile", "profiles/default", configfile="config/quick.yaml").stdout
    assert "rule tune:" in out and "Shell command" not in out


# ---------------------------------------------------------------------------- selected.tsv


@pytest.mark.parametrize("edit,message", [
    (lambda text: text.replace("lr~0.01", "lr~0.1").replace('{"lr": 0.01}', '{"lr": 0.1}'),
     "sgd lr~0.1 is not the point .*tuning.tsv selects"),
    (lambda text: text.replace("\t", ",", 3), "selected.tsv lacks column"),
    (lambda text: "", "selected.tsv is not a readable table"),
])
def test_an_edited_selection_is_refused_and_set_aside(tmp_path, edit, message):
    from vrdl.select import read_selection

    runs = make_runs(tmp_path / "tune", SPEC)
    selected = tmp_path / "selected.tsv"
    run_selection(runs, selected, tmp_path / "tuning.tsv")
    read_selection(selected)  # as written: accepted
    selected.write_text(edit(selected.read_text()))
    with pytest.raises(SelectionError, match=f"{message}.*moved aside as selected.tsv.rejected"):
        read_selection(selected)
    assert not selected.exists() and (tmp_path / "selected.tsv.rejected").exists()


def test_a_selection_from_another_tuning_table_is_refused(tmp_path):
    from vrdl.select import read_selection

    run_selection(make_runs(tmp_path / "tune", SPEC), tmp_path / "selected.tsv", tmp_path / "tuning.tsv")
    table = tmp_path / "tuning.tsv"
    table.write_text(table.read_text().replace("0.45", "0.46"))  # the selection is still the same point
    with pytest.raises(SelectionError, match="selected.tsv was not selected from .*tuning.tsv"):
        read_selection(tmp_path / "selected.tsv")


# ---------------------------------------------------------------------------- refusals heal (real Snakemake runs)

SMALL = {
    "studies": {
        "lenet_s": {
            "dataset": "fashion_mnist", "model": "lenet", "bn": ["off"], "selection": {"folds": 2, "seeds": [1]},
            "epochs": 1, "batch_size": 32, "seeds": [1], "train_subset": 128, "eval_subset": 128,
            "optimizers": {"sgd": {"grid": {"lr": [0.05, 0.1]}}},
        },
    },
}  # fmt: skip
STEM = "results/small/lenet_s/bn~off"
FINAL_CSV = f"{STEM}/final/sgd/seed~1.csv"
# every result file up to the final run is a target, as in the workflow's `all` (figures left out)
TARGETS = [f"{STEM}/tune/sgd/{point}/seed~1/fold~{fold}.csv" for point in ("lr~0.05", "lr~0.1") for fold in (0, 1)]
TARGETS += [f"{STEM}/selected.tsv", f"{STEM}/tuning.tsv", FINAL_CSV]


@pytest.fixture
def small_run(tmp_path, data_dir):
    from tests.workflow.conftest import tiny_config, write_config

    workdir = copy_workflow(tmp_path / "wf")
    config = dict(SMALL, data=tiny_config(data_dir)["data"], compute=tiny_config(data_dir)["compute"])
    configfile = write_config(workdir / "config" / "small.yaml", config)
    small(workdir)
    return workdir, configfile


def small(workdir, *args, check=True):
    """Snakemake on the SMALL config's TARGETS."""
    return snakemake(workdir, *TARGETS, *args, "--configfile", "config/small.yaml", check=check)


def test_a_damaged_tune_run_is_refused_set_aside_and_rerun(small_run):
    workdir, configfile = small_run
    run = workdir / STEM / "tune/sgd/lr~0.1/seed~1/fold~1.csv"
    lines = run.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",0.", ",0.9", 1)  # epoch 0's row edited; the last row is intact
    run.write_text("".join(lines))
    healed = small(workdir)  # refused when the call starts, set aside, rerun and selected again
    assert f"{run.relative_to(workdir)} is not the file the run wrote" in healed.stdout
    assert "moved aside" in healed.stdout and "it reruns now" in healed.stdout
    assert run.with_name("fold~1.csv.rejected").exists()
    assert executed_jobs(healed.stdout) == [
        ("tune", "study=lenet_s, bn=off, optimizer=sgd, point=lr~0.1, seed=1, split=fold~1"),
        ("select", "study=lenet_s, bn=off"),
    ]  # the final run keeps its (same) selection
    assert run.exists()
    assert "Nothing to be done" in small(workdir, "-n").stdout  # and it stays fine


def test_a_malformed_selection_names_the_file_and_heals(small_run):
    workdir, configfile = small_run
    selected = workdir / STEM / "selected.tsv"
    malformed = selected.read_text().replace("\t", " ")
    selected.write_text(malformed)
    refused = small(workdir, "-n", check=False)
    assert refused.returncode != 0
    assert f"{STEM}/selected.tsv lacks column" in refused.stdout
    assert "KeyError" not in refused.stdout and "JSONDecodeError" not in refused.stdout  # (as before)
    assert selected.read_text() == malformed and "moved aside" not in refused.stdout  # -n moves nothing
    refused = small(workdir, check=False)  # a real run sets it aside (Snakemake knew it when it started)
    assert refused.returncode != 0 and "moved aside" in refused.stdout
    healed = small(workdir)  # and the next one selects again
    assert ("select", "study=lenet_s, bn=off") in executed_jobs(healed.stdout)
    assert selected.read_text() != malformed and selected.with_name("selected.tsv.rejected").exists()


# ---------------------------------------------------------------------------- no data lost


# An old prepared file offline (cp -p) is kept byte for byte and used as it is, with no
# prepare_data job at all: tests/workflow/test_prepared_data.py.
