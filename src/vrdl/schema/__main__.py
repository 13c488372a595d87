"""`python -m vrdl.schema`: writes config.schema.yaml (the generated schema) beside main.schema.yaml."""

from vrdl.schema import SCHEMA, schema_text

SCHEMA.write_text(schema_text())
