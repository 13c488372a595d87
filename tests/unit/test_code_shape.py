"""Size limits that keep the code readable (issue 19): functions under 80 lines, classes under
200, rule files under 500. A piece that grows past one is split, not exempted."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(REPO / "src" / "vrdl").rglob("*.py"), *(REPO / "scripts").glob("*.py")])


def too_long(limits: dict) -> list[str]:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            limit = next((n for kind, n in limits.items() if isinstance(node, kind)), None)
            if limit and node.end_lineno - node.lineno + 1 > limit:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: "
                             f"{node.end_lineno - node.lineno + 1} lines (limit {limit})")
    return found


def test_sources_are_found():
    assert len(SOURCES) > 30 and any(p.name == "plan.py" for p in SOURCES)


def test_functions_and_classes_stay_short():
    assert too_long({ast.FunctionDef: 80, ast.AsyncFunctionDef: 80, ast.ClassDef: 200}) == []


def test_rule_files_stay_short():
    rule_files = [REPO / "workflow" / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")]
    assert len(rule_files) > 10
    assert [f"{p.name}: {n} lines" for p in rule_files if (n := len(p.read_text().splitlines())) > 500] == []


def test_no_branch_on_a_side_study_or_figure_rule_outside_its_module():
    """A side study is a plugin (vrdl.stages): code elsewhere loops over the stages and never
    compares a name with one of theirs (issue 28: figures.py's if/elif on the rule name)."""
    from vrdl.stages import SIDE_STAGES, figure_functions

    names = {stage.key for stage in SIDE_STAGES} | set(figure_functions())
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                compared = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)} & names
                if compared - {path.stem}:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} {ast.unparse(node)}")
    assert found == []
