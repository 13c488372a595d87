"""The config schema is one artefact: src/vrdl/schema/config.schema.yaml (package data, and
workflow/schemas/config.schema.yaml links to it) is what vrdl.schema.build_schema makes from its
parts, and what the checks validate against; no part of it is left for run time to fill in."""

from pathlib import Path

import yaml

from vrdl.schema import SCHEMA, build_schema, schema_text
from vrdl.stages import SIDE_STAGES

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_schema_is_the_built_one():
    assert SCHEMA.read_text() == schema_text(), "config.schema.yaml is stale: run `python -m vrdl.schema`"
    assert yaml.safe_load(SCHEMA.read_text()) == build_schema()


def test_the_workflow_reads_the_same_file():
    linked = REPO / "workflow" / "schemas" / "config.schema.yaml"
    assert linked.resolve() == SCHEMA


def test_nothing_is_left_to_fill_in():
    text = SCHEMA.read_text()
    assert "$setting" not in text and "enum: []" not in text


def test_each_side_study_brings_its_block():
    schema = build_schema()
    for stage in SIDE_STAGES:
        assert schema["$defs"][stage.key]["type"] == "object"
        assert {"type": "null"} in schema["properties"][stage.key]["anyOf"]
