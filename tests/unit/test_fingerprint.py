"""Code fingerprints (vrdl.fingerprint): an edit changes exactly the fingerprints of the jobs that
execute the edited code; comments, docstrings and formatting change none."""

import shutil
from pathlib import Path

import pytest

from vrdl import fingerprint
from vrdl.optim.registry import OPTIMIZERS

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
ANALYSIS = ("select.py", "figures.py", "report.py", "tables.py")


@pytest.fixture
def src(tmp_path) -> Path:
    shutil.copytree(REPO / "src" / "vrdl", tmp_path / "vrdl", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def runs(root: Path) -> dict[str, str]:
    """Fingerprints of each optimizer's `vrdl train` run and (NAME+grid) stacked `vrdl train-grid` run."""
    return {**{name: fingerprint.run_fingerprint(name, False, root) for name in OPTIMIZERS},
            **{f"{name}+grid": fingerprint.run_fingerprint(name, True, root) for name in OPTIMIZERS}}


def analysis(root: Path) -> dict[str, str]:
    return {script: fingerprint.script_fingerprint(SCRIPTS / script, root) for script in ANALYSIS}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def changed(before: dict, after: dict) -> set[str]:
    return {key for key in before if before[key] != after[key]}


def test_the_shipped_code_has_a_fingerprint_per_job_kind():
    every = {**runs(fingerprint.source_root()), **analysis(fingerprint.source_root())}
    assert all(len(value) == 16 for value in every.values())
    assert len(set(every.values())) == len(every)  # each optimizer, grid and script its own


def test_comments_docstrings_and_formatting_change_nothing(src):
    before_runs, before_analysis = runs(src), analysis(src)
    svrg = src / "vrdl" / "optim" / "svrg.py"
    svrg.write_text("# a new comment\n" + svrg.read_text().replace('"""', '"""Edited docstring. ', 1))
    train = src / "vrdl" / "train.py"
    train.write_text(train.read_text().replace("\n\n\ndef ", "\n\n\n# spacing and a comment\n\n\ndef ", 1))
    plots = src / "vrdl" / "plots.py"
    plots.write_text(plots.read_text() + "\n# trailing comment\n")
    assert runs(src) == before_runs and analysis(src) == before_analysis


def test_an_svrg_edit_changes_svrg_and_alpha_svrg_runs_only(src):
    before = runs(src)
    edit(src / "vrdl" / "optim" / "svrg.py", "import torch\n", "import torch\n\nEDITED = True\n")
    assert changed(before, runs(src)) == {"svrg", "alpha_svrg", "svrg+grid", "alpha_svrg+grid"}


def test_a_builder_edit_changes_that_optimizer_only(src):
    before = runs(src)
    edit(src / "vrdl" / "optim" / "builtin.py", "    from vrdl.optim.mars import MARS\n",
         "    from vrdl.optim.mars import MARS\n    hparams = dict(hparams)\n")
    assert changed(before, runs(src)) == {"mars", "mars+grid"}


def test_a_new_registry_entry_changes_no_other_run(src):
    before = runs(src)
    registry = src / "vrdl" / "optim" / "registry.py"
    lion = '\nregister(Optimizer("lion", "Lion", (_lr(),), "vrdl.optim.lion:Lion"))\n'
    registry.write_text(registry.read_text() + lion)
    assert changed(before, runs(src)) == set()
    edit(registry, 'default=100.0, exclusive_minimum=0,\n            flag="--storm-c"',
         'default=10.0, exclusive_minimum=0,\n            flag="--storm-c"')  # STORM's default c
    assert changed(before, runs(src)) == {"storm", "storm+grid"}


def test_a_loop_edit_changes_every_run_and_no_analysis(src):
    before_runs, before_analysis = runs(src), analysis(src)
    edit(src / "vrdl" / "train.py", "import torch\n", "import torch\n\nEDITED = True\n")
    assert changed(before_runs, runs(src)) == set(before_runs)
    assert analysis(src) == before_analysis


def test_a_grid_edit_changes_stacked_runs_only(src):
    before = runs(src)
    edit(src / "vrdl" / "grid.py", "import torch\n", "import torch\n\nEDITED = True\n")
    assert changed(before, runs(src)) == {f"{name}+grid" for name in OPTIMIZERS}


def test_a_stacked_rule_edit_changes_that_optimizers_stacked_runs_only(src):
    """A stacked run's fingerprint holds its optimizer's update rule (vrdl.optim.stacked), no other's."""
    stacked = src / "vrdl" / "optim" / "stacked.py"
    before = runs(src)
    edit(stacked, '+ opt.state["mu"][n]))', '+ opt.state["mu"][n]) * 1.0)')  # inside SVRG's rule
    assert changed(before, runs(src)) == {"svrg+grid"}
    before = runs(src)
    edit(stacked, "params[n].sub_(opt.lr.like(params[n]) * grads[n])",
         "params[n].sub_(grads[n] * opt.lr.like(params[n]))")  # SGD's
    assert changed(before, runs(src)) == {"sgd+grid"}
    before = runs(src)
    edit(stacked, "return values.view(-1,", "return values.reshape(-1,")  # a helper only STORM's rule calls
    assert changed(before, runs(src)) == {"storm+grid"}


def test_analysis_code_follows_the_imports_of_each_script(src):
    before_runs, before = runs(src), analysis(src)
    edit(src / "vrdl" / "plots.py", "import numpy as np\n", "import numpy as np\n\nEDITED = True\n")
    assert changed(before, analysis(src)) == {"figures.py", "report.py"}  # report.py imports plots
    before = analysis(src)
    edit(src / "vrdl" / "select.py", "import pandas as pd\n", "import pandas as pd\n\nEDITED = True\n")
    assert changed(before, analysis(src)) == {"select.py", "figures.py", "report.py"}
    before = analysis(src)
    edit(src / "vrdl" / "runs.py", "import pandas as pd\n", "import pandas as pd\n\nEDITED = True\n")
    assert changed(before, analysis(src)) == set(ANALYSIS)
    assert runs(src) == before_runs


def test_a_template_edit_changes_the_report_only(src):
    before_runs, before = runs(src), analysis(src)
    css = src / "vrdl" / "templates" / "report.css"
    css.write_text(css.read_text() + "\nbody { margin: 0 }\n")
    assert changed(before, analysis(src)) == {"report.py"}
    assert runs(src) == before_runs
