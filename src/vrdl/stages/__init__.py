"""The plan's stages, one module each: the studies' tune -> select -> final (`study`), and the
side studies beside them, each a `SideStage` (vrdl.stages.base) read from its config block.
`vrdl.plan.Plan` composes them.

A side study is found by its module: every module here with a `RUNS` constant (its run path
template, vrdl.paths.side_runs) and its stage class as `STAGE`; its schema block, rule file and
report template sit where `SideStage` says. Adding one adds those four files and edits nothing
(docs/extending.md, "A side study")."""

import importlib

from vrdl.paths import side_runs

SIDE_STAGES = tuple(importlib.import_module(f"{__name__}.{key}").STAGE for key in side_runs())


def figure_functions() -> dict:
    """Every figure rule's drawing function (scripts/figures.py): the studies' and each side study's."""
    from vrdl.stages.study import FIGURES

    return FIGURES | {stage.figure_rule(): stage.draw for stage in SIDE_STAGES}
