"""The plan's stages, one module each: the studies' tune -> select -> final (`study`), and the
side studies beside them (`metainit`, `convex`, `ablation`), each a `SideStage` (vrdl.stages.base)
read from its config block. `vrdl.plan.Plan` composes them.

Adding a side study: one schema block, one `SideStage` module listed in SIDE_STAGES, one rule
file (workflow/rules/) and one report template section."""

from vrdl.stages.ablation import Ablation
from vrdl.stages.convex import Convex
from vrdl.stages.metainit import MetaInit

SIDE_STAGES = (MetaInit, Convex, Ablation)
