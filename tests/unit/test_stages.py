"""The plan's stages (vrdl.stages): every side study follows the one protocol, its runs' paths
read back as their identity, and an absent block plans nothing."""

import copy
from pathlib import Path

import pytest

from vrdl import costs
from vrdl.config import load_config
from vrdl.identity import identity_of
from vrdl.paths import side_runs
from vrdl.plan import Plan, PlanError
from vrdl.stages import SIDE_STAGES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick():
    return Plan(load_config(REPO / "config" / "quick.yaml"))


def test_every_side_stage_has_a_path_layout_and_is_in_the_quick_demo(quick):
    assert [stage.key for stage in SIDE_STAGES] == list(side_runs())
    assert all(quick.sides[key] for key in side_runs())
    assert [side.wildcards for side in quick.sides.values()] == [("variant",), ("optimizer", "seed"),
                                                                  ("locking", "seed")]
    assert costs.STAGE_NAMES["metainit"] == "MetaInit" and costs.STAGE_NAMES["convex"] == "convex"
    assert list(quick.studies) == list(quick.config["studies"]) and "lenet_fmnist" in quick.studies


@pytest.mark.parametrize("key", list(side_runs()))
def test_side_runs_read_back_as_their_identity(quick, key):
    side = quick.sides[key]
    runs = side.runs()
    assert runs and len({side.stem.format(**run) for run in runs}) == len(runs)
    for run, row in zip(runs, side.table_runs(), strict=True):
        identity = identity_of(row["csv"])
        assert identity == {"stage": key, "name": "quick", **{k: str(v) for k, v in run.items()}}
        assert set(run) == set(side.wildcards)
        args = side.args(run)
        assert args[args.index("--optimizer") + 1] == row["optimizer"] and args[args.index("--seed") + 1] == str(
            row["seed"])
    assert [job["stem"] + ".csv" for job in side.jobs()] == [row["csv"] for row in side.table_runs()]
    assert side.manifest()["figure"] == side.figures()[0]


def test_an_absent_side_block_plans_nothing():
    config = load_config(REPO / "config" / "quick.yaml")
    for key in side_runs():
        config.pop(key)
    plan = Plan(copy.deepcopy(config))
    assert not any(plan.sides.values())
    assert all(side.runs() == side.files(".csv") == side.figures() == side.jobs() == [] for side in plan.sides.values())
    manifest = plan.report_manifest()
    assert all(manifest[key] is None for key in side_runs())
    assert not any(f"/{key}" in path for key in side_runs() for path in plan.all_results())
    assert not set(side_runs()) & set(plan.report_inputs())
    with pytest.raises(PlanError, match="the config has no convex block: add one"):
        plan.sides["convex"].args(dict(optimizer="sgd", seed="1"))


def test_side_runs_refuse_an_unconfigured_seed_or_optimizer(quick):
    with pytest.raises(PlanError, match=r"seed 7 is not configured \(convex.seeds\)"):
        quick.sides["convex"].args(dict(optimizer="sgd", seed="7"))
    with pytest.raises(PlanError, match="adam is not in convex.optimizers"):
        quick.sides["convex"].args(dict(optimizer="adam", seed="1"))
    with pytest.raises(PlanError, match=r"seed 9 is not configured \(ablation.seeds\)"):
        quick.sides["ablation"].args(dict(locking="on", seed="9"))
