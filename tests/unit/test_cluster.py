"""vrdl.cluster: what training jobs ask a scheduler for, and the groups of tune runs."""

import copy

import pytest

from tests.workflow.conftest import TINY
from vrdl.cluster import TuneGroups, training_resources
from vrdl.config import ConfigError
from vrdl.plan import Plan


def runs(study, n):
    return [dict(study=study, bn="off", optimizer="sgd", point=f"lr~{i}", seed=1, split="fold~0") for i in range(n)]


def test_groups_are_consecutive_runs_of_one_study_n_at_a_time():
    groups = TuneGroups({"a": 3, "b": 1}, runs("a", 7) + runs("b", 2))
    assert [len(groups.runs("a", k)) for k in range(3)] == [3, 3, 1]
    assert sum((groups.runs("a", k) for k in range(3)), []) == runs("a", 7)  # disjoint, all, in order
    assert groups.each() == [dict(study="a", group=str(k)) for k in range(3)]
    assert groups.group_of(runs("a", 7)[4]) == ("a", 1)
    assert groups.name(runs("a", 7)[6]) == "tune_a"
    assert groups.name(runs("b", 2)[0]) is None  # group_runs 1: a job per run
    assert groups.name(dict(study="a", bn="off", optimizer="sgd", seed=1)) is None  # a final run


def test_a_gpu_job_goes_to_the_gpu_partition_a_cpu_job_to_the_profiles():
    gpu = training_resources("resnet101", {"gpus_per_job": 1, "threads": 4}, {"gpu_partition": "a100"})
    assert gpu == dict(gpu=1, cpus_per_task=4, mem_mb=16000, runtime=1440, slurm_partition="a100")
    assert training_resources("lenet", {"gpus_per_job": 1, "threads": 1}, {})["slurm_partition"] == ""
    assert "slurm_partition" not in training_resources("lenet", {"gpus_per_job": 0, "threads": 1}, {})


def test_plan_groups_only_the_runs_of_the_tune_rule():
    config = copy.deepcopy(TINY)
    config["data"]["dir"] = "data"
    config["cluster"] = {"group_runs": {"lenet_tiny": 4}}
    config["studies"]["lenet_tiny"]["stacked"] = True  # BN off: every run in a stacked grid job
    assert not Plan(copy.deepcopy(config)).tune_groups
    config["studies"]["lenet_tiny"]["stacked"] = False
    plan = Plan(config)
    tune = plan.studies.tune_runs("lenet_tiny", "off")
    assert len(plan.tune_groups.each()) == -(-len(tune) // 4)
    assert plan.tune_group_files()[0] == "results/tiny/lenet_tiny/tune_groups/group~0.tsv"
    assert set(plan.tune_group_files()) <= set(plan.all_results())


def test_grouping_an_unknown_study_is_refused():
    config = dict(copy.deepcopy(TINY), cluster={"group_runs": {"lenet": 4}})
    config["data"]["dir"] = "data"
    with pytest.raises(ConfigError, match=r"cluster.group_runs.lenet: no such study"):
        Plan(config)


def test_vrdl_plan_says_how_runs_share_cluster_jobs():
    from vrdl.costs import report

    config = dict(copy.deepcopy(TINY), cluster={"group_runs": {"lenet_tiny": 4}})
    config["data"]["dir"] = "data"
    plan = Plan(config)
    n = len(plan.studies.tune_runs("lenet_tiny", "off"))
    line = f"On a cluster: lenet_tiny's {n} tune runs in {-(-n // 4)} jobs of up to 4 (cluster.group_runs)"
    assert line in report(plan)
