"""What the registries share (optimizers: vrdl.optim.registry, data sets: vrdl.datasets, models:
vrdl.models): entries by name, each registered once, and the "module:attribute" names of their
code (optimizer builders and stacked update rules, data set readers, a setting's choices),
imported when used, so that the registries need no torch (the workflow reads them in
Snakemake's environment) and a run's code fingerprint covers only the code it runs
(vrdl.fingerprint)."""

from __future__ import annotations

import importlib


class Registry(dict):
    """Entries by their `name`; `kind` names them in messages ("data set", "model")."""

    def __init__(self, kind: str, word: str | None = None):
        super().__init__()
        self.kind, self.word = kind, word or kind  # word: as a user types it ("unknown dataset")

    def add(self, entry):
        if entry.name in self:
            raise ValueError(f"{self.kind} {entry.name} is registered already")
        self[entry.name] = entry
        return entry

    def entry(self, name: str):
        if name not in self:
            raise ValueError(f"unknown {self.word} {name!r}; choose one of {', '.join(self)}")
        return self[name]


def resolve(reference: str, what: str):
    """The object `reference` names; a name that imports nothing is a ValueError naming `what`
    (an error inside the module it names, like a missing dependency, stays that error)."""
    module, _, attribute = reference.partition(":")
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if not err.name or not (module == err.name or module.startswith(err.name + ".")):
            raise
        raise ValueError(f"{what}: {reference!r} names nothing importable (no module {err.name})") from None
    if not hasattr(imported, attribute):
        raise ValueError(f"{what}: {reference!r} names nothing importable ({module} has no {attribute})")
    return getattr(imported, attribute)
