"""Objects the registries name as "module:attribute" (optimizer builders and stacked update rules,
data set readers, the choices of a setting): imported when used, so that the registries need no
torch (the workflow reads them in Snakemake's environment) and a run's code fingerprint covers
only the code it runs (vrdl.fingerprint)."""

from __future__ import annotations

import importlib


def resolve(reference: str, what: str):
    """The object `reference` names; a name that imports nothing is a ValueError naming `what`."""
    module, _, attribute = reference.partition(":")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{what}: {reference!r} names nothing importable ({err})") from None
