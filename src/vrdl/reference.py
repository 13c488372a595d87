"""Reference tables the docs carry, made from the registries (a unit test keeps each copy equal).
Kept out of the registries' modules: those are part of every training run's code fingerprint, and
a docs helper there would rerun every run."""

from __future__ import annotations

from vrdl.optim import registry


def optimizers_markdown() -> str:
    """The optimizers' hyperparameters, as config/README.md shows them between its markers."""
    lines = ["| optimizer | hyperparameter | flag | type | what it is (range; default) |",
             "| --- | --- | --- | --- | --- |"]
    for entry in registry.OPTIMIZERS.values():
        for hparam in entry.hparams:
            cells = [f"`{entry.name}`", f"`{hparam.name}`", f"`{hparam.cli_flag}`", hparam.type.__name__,
                     hparam.describe().replace("|", "\\|")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(optimizers_markdown(), end="")
