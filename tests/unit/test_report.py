"""The report on constructed runs: the claims table with a declared claim, its figure and evidence,
the TSV tables beside the page, the commits the runs came from, the demo notice, and the page
rendered from templates (autoescaped)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.workflow.test_select import make_runs, write_run
from vrdl import plots
from vrdl.identity import sealed_json
from vrdl.report import TABLE_COLUMNS, demo_subsets, load_report, provenance, render_report, write_report
from vrdl.select import run_selection

FINAL_LOSSES = {"sgd": ([2.3, 1.0, 0.60], [2.3, 1.0, 0.62]), "svrg": ([2.3, 0.55, 0.40], [2.3, 0.55, 0.41])}


def study_manifest(tmp_path, name="lenet_tiny", commits=("abc123", "abc123"), losses=FINAL_LOSSES) -> dict:
    """One study (BN off) with tune runs, a selection, finals of two seeds and its figures."""
    base = tmp_path / name
    tune = make_runs(base / "tune", {
        ("sgd", "lr~0.1"): ({"lr": 0.1}, [(0.6, False), (0.7, False)]),
        ("svrg", "lr~0.01"): ({"lr": 0.01}, [(0.4, False), (0.45, False)]),
    })
    run_selection(tune, base / "selected.tsv", base / "tuning.tsv")
    finals, runs = {}, []
    for optimizer, seeds in losses.items():
        lr = 0.1 if optimizer == "sgd" else 0.01
        for seed, curve in enumerate(seeds, start=1):
            csv = write_run(base / "final" / optimizer / f"seed~{seed}.csv", curve, {"lr": lr}, eval_split="test",
                            optimizer=optimizer, seed=seed)
            meta = json.loads(csv.with_suffix(".json").read_text())
            meta.update(git_commit=commits[seed - 1], git_dirty=False, device="cpu", versions={"torch": "2"})
            csv.with_suffix(".json").write_text(sealed_json(meta))
            finals.setdefault(optimizer, []).append(str(csv))
            runs.append(dict(optimizer=optimizer, seed=seed, csv=csv))
    figures = tmp_path / "figures"
    plots.tuning_figure(tune, [figures / f"{name}_tuning.png"], title="tuning")
    plots.test_curves_figure(finals, [figures / f"{name}_final.png", figures / f"{name}_final.pdf"], title="final")
    plots.time_to_target_figure(runs, {"reference": "sgd"}, [figures / f"{name}_target.png"], title="target")
    setting = dict(
        bn="off", paper={"table": "4.2", "figure": "4.4", "selected": {"sgd": {"lr": 0.1}}},
        selected=str(base / "selected.tsv"), tuning=str(base / "tuning.tsv"), finals=finals,
        figures={kind: str(figures / f"{name}_{kind}.png") for kind in ("tuning", "final", "target")},
        time_to_target={"reference": "sgd"},
    )
    study = dict(name=name, title="LeNet <tiny>", model="lenet",
                 setup={"dataset": "fashion_mnist", "bn": ["off"], "train_subset": 256, "eval_subset": None},
                 selection={"folds": 2}, tune_seeds=[1],
                 optimizers={o: dict(grid={"lr": [0.1]}, fixed={}, epochs=2, points=1) for o in losses},
                 settings=[setting], variance=None)
    return {"report": str(tmp_path / "report.html"), "studies": [study], "metainit": None, "convex": None,
            "ablation": None, "claims": [{"name": "SVRG beats SGD", "better": "svrg", "than": ["sgd"]},
                                         {"name": "Lion beats Adam", "better": "lion", "than": ["adam"]}]}


def test_the_report_page_and_its_tables(tmp_path):
    manifest = study_manifest(tmp_path)
    tables = {name: tmp_path / f"{name}.tsv" for name in TABLE_COLUMNS}
    write_report(manifest, tmp_path / "report.html", tables)
    html = (tmp_path / "report.html").read_text()
    # the verdicts come first: the claims table before any study section
    assert html.index('id="claims"') < html.index('id="lenet_tiny"')
    claims = pd.read_csv(tables["claims"], sep="\t")
    assert list(claims.columns) == TABLE_COLUMNS["claims"]
    declared = claims.set_index("claim").loc["SVRG beats SGD"]
    # seeds 0.40/0.41 vs 0.60/0.62: a gap of 0.205 with a noise of about 0.009
    assert declared.origin == "config" and declared.verdict == "holds"
    assert declared.gap == pytest.approx(0.205) and declared.grad_evals == 200
    assert declared.compared == "SVRG vs SGD, LeNet <tiny>, BN off"  # in words, the study's title
    assert declared.judged_at == "common gradient budget"
    assert declared.noise_source == "seeds' standard error (2 seeds)"
    assert "Lion beats Adam" not in set(claims["claim"])  # not run here: one line below the table
    assert "Lion beats Adam" in html[html.index("Not run by this config"):]
    assert '<span class="verdict holds">holds</span>' in html
    assert html.count("<details") >= 2  # evidence per claim, the grid points
    assert "LeNet &lt;tiny&gt;" in html  # autoescaped
    assert "<td>svrg</td><td>lr ∈ {0.1}</td>" in html
    # claims strip and figure, performance profile, tuning budget, the setting's three
    assert html.count("data:image/png;base64,") == 7
    assert "may be under-tuned" not in html  # one-point grids have no edge
    # the profile's target: the slower optimizer's best (sgd 0.61 mean), which both reach
    profile = claims_section(tmp_path)["profile"]
    assert profile["targets"][0]["loss"] == pytest.approx(0.61) and "sgd's" in profile["targets"][0]["source"]
    assert 'href="figures/lenet_tiny_final.pdf"' in html
    target = pd.read_csv(tables["time_to_target"], sep="\t")
    assert list(target["optimizer"]) == ["sgd", "svrg"] and list(target["grad_evals"]) == [200, 100]
    assert "commit <code>abc123</code> (4 of 4 runs)" in html and "Mixed code versions" not in html
    assert "This is a demo, not the study." in html


def claims_section(tmp_path):
    from vrdl.report import load_claims

    return load_claims(study_manifest(tmp_path / "again"))[0]


def test_runs_from_several_commits_or_a_dirty_tree_are_flagged(tmp_path):
    report = load_report(study_manifest(tmp_path, commits=("abc123", "def456")), tmp_path)
    assert report.page["provenance"]["warning"] == "the runs come from 2 different commits"
    assert "Mixed code versions:" in render_report(report.page)
    mixed = provenance([{"git_commit": "abc", "git_dirty": True, "git_dirty_files": ["src/vrdl/plots.py"]}, {}])
    assert mixed["warning"] == "1 of 2 runs ran from a tree with uncommitted code changes (src/vrdl/plots.py)"
    assert mixed["unrecorded"] == 1  # older runs without the field
    older = provenance([{"git_commit": "abc", "git_dirty": True}])
    assert older["warning"].endswith("uncommitted code changes (changed files not recorded)")


def test_only_code_changes_make_a_tree_dirty(tmp_path):
    """A symlinked .venv (which `.venv/` in .gitignore does not match), notes and tests are not
    code that ran; a changed or new file under src/, workflow/, scripts/ or config/ is, named."""
    import subprocess

    from vrdl.provenance import git_state

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    (tmp_path / "src" / "vrdl").mkdir(parents=True)
    (tmp_path / "src" / "vrdl" / "a.py").write_text("A = 1\n")
    (tmp_path / ".gitignore").write_text(".venv/\n")
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    (tmp_path / "venv-elsewhere").mkdir()
    (tmp_path / ".venv").symlink_to(tmp_path / "venv-elsewhere")
    (tmp_path / "notes.txt").write_text("todo\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("\n")
    commit, dirty, files = git_state(tmp_path / "src")
    assert commit and dirty is False and files == []
    (tmp_path / "src" / "vrdl" / "a.py").write_text("A = 2\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "mine.yaml").write_text("name: mine\n")
    commit, dirty, files = git_state(tmp_path / "src")
    assert dirty is True and sorted(files) == ["config/mine.yaml", "src/vrdl/a.py"]


def test_a_target_met_before_any_update_is_a_note(tmp_path):
    flat = {"sgd": ([2.3, 2.4, 2.5], [2.3, 2.4, 2.5]), "svrg": ([2.3, 2.4, 2.2], [2.3, 2.4, 2.2])}
    report = load_report(study_manifest(tmp_path, losses=flat), tmp_path)
    setting = report.page["studies"][0]["settings"][0]
    assert "before any update" in setting["target"]["note"]
    assert [img.alt for img in setting["figures"]] == ["lenet_tiny BN off tuning", "lenet_tiny BN off final"]
    assert len(setting["not_learned"]) == 4  # every final run: caveat beside the tables


def test_a_report_on_data_subsets_says_it_is_a_demo():
    study = {"name": "lenet_fmnist", "setup": {"train_subset": 1024, "eval_subset": None}}
    assert demo_subsets({"studies": [study], "metainit": None}) == ["lenet_fmnist: 1024 training / all test images"]
    study["setup"]["train_subset"] = None
    assert demo_subsets({"studies": [study], "metainit": None}) == []


def test_a_variance_ratio_is_shown_with_its_jackknife_interval():
    from vrdl.report import ratio_interval

    one = pd.DataFrame({"variance_ratio": [0.97], "variance_ratio_se": [0.1]})
    assert ratio_interval(one) == "0.97 ± 0.1 (not told from 1)"
    seeds = pd.DataFrame({"variance_ratio": [0.5, 0.6], "variance_ratio_se": [0.03, 0.04]})
    assert ratio_interval(seeds) == "0.55 ± 0.025 (below 1)"  # sqrt(0.03² + 0.04²) / 2
    assert ratio_interval(pd.DataFrame({"variance_ratio": [1.23]})) == "1.23"  # older runs: no interval
