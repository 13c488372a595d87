"""The plan's stages, one module each: the studies' tune -> select -> final (`study`), and the
side studies beside them (`metainit`, `convex`, `ablation`), each a `SideStage` (vrdl.stages.base)
read from its config block. `vrdl.plan.Plan` composes them.

Adding a side study: docs/extending.md, "A side study", lists every place it touches."""

from vrdl.stages.ablation import Ablation
from vrdl.stages.convex import Convex
from vrdl.stages.metainit import MetaInit

SIDE_STAGES = (MetaInit, Convex, Ablation)
