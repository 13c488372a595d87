"""The docs stay true to themselves and to the code: README.md is a front page (<= 200 lines) that
gives CI's test command, every relative link in the docs reaches an existing file and heading, and
the optimizers table in config/README.md is the one the registry makes (the settings table:
test_settings.py)."""

import re
from pathlib import Path

import pytest

from vrdl import reference

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, ROOT / "config" / "README.md", ROOT / "workflow" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def prose(path: Path) -> str:
    """The text outside fenced code blocks (a shell comment there is no heading, a link no link)."""
    return re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but `-` and `_` dropped, spaces as `-`,
    a repeated heading numbered (`-1`, `-2`, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", prose(path), flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_the_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move the detail into docs/"


def test_the_readme_gives_the_test_command_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    command = ci[-1].strip()
    assert command.startswith(".venv/bin/python -m pytest"), ".ci/run should end with the README's test command"
    assert "bash .ci/run" in README.read_text() and f"`{command}`" in README.read_text()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_its_file_and_heading(doc):
    broken = []
    for target in LINK.findall(prose(doc)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(f"{target}: no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_optimizers_table_is_the_generated_one():
    text = (ROOT / "config" / "README.md").read_text()
    begin, end = "<!-- vrdl optimizers: begin -->\n", "<!-- vrdl optimizers: end -->"
    assert text[text.index(begin) + len(begin):text.index(end)] == reference.optimizers_markdown(), (
        "config/README.md's optimizers table is stale: paste `python -m vrdl.reference` between its markers")
