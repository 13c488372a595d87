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
