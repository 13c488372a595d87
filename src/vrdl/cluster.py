"""What the workflow's training jobs ask a cluster scheduler for, and which tune runs share one
cluster job; the rules' `resources:` and `group:` come from here, so a profile only names
partitions and accounts (profiles/slurm).

- Every training job (tune, stacked grids, final and the side studies): `gpu` (compute.gpus_per_job),
  `cpus_per_task` (compute.threads), and the memory and time of one run of its model on one GPU
  (the model registry's `job_mem_mb`, `job_minutes`; the workflow multiplies the time by the
  attempt, so a run that hits its limit is resubmitted with more and resumes from its checkpoint).
  A job that asks for a GPU goes to `cluster.gpu_partition` ("" = the cluster's default partition),
  never to the profile's CPU partition.
- `cluster.group_runs: {STUDY: N}`: the study's tune runs (those not trained by a stacked grid) go
  N to a cluster job, in the plan's order; each group ends with a check of its runs
  (GROUP.tsv), which also makes the group one connected piece of the DAG, so Snakemake submits it
  as one job. The Snakefile declares `gpu` a local resource: a group job asks for one GPU and runs
  its runs one after the other.

No torch and no Snakemake here.
"""

from __future__ import annotations

from vrdl import models


def resource_names(compute: dict) -> tuple[str, ...]:
    """What every training job of a config asks for (a partition only with a GPU)."""
    return ("gpu", "cpus_per_task", "mem_mb", "runtime") + (("slurm_partition",) if compute["gpus_per_job"] else ())


def training_resources(model: str, compute: dict, cluster: dict) -> dict:
    """One training run's request: gpu, cpus_per_task, mem_mb, runtime (minutes, attempt 1) and,
    when it asks for a GPU, slurm_partition."""
    entry = models.get(model)
    request = dict(gpu=compute["gpus_per_job"], cpus_per_task=compute["threads"], mem_mb=entry.job_mem_mb,
                   runtime=entry.job_minutes, slurm_partition=cluster.get("gpu_partition") or "")
    return {name: request[name] for name in resource_names(compute)}


def group_problems(cfg: dict) -> list[str]:
    """cluster.group_runs naming a study the config does not have."""
    groups = (cfg.get("cluster") or {}).get("group_runs") or {}
    return [f"cluster.group_runs.{study}: no such study (studies: {', '.join(cfg['studies'])})"
            for study in groups if study not in cfg["studies"]]


class TuneGroups:
    """The tune runs of each grouped study, N to a cluster job. `runs` are the plan's tune runs
    (dicts of wildcards) that the `tune` rule trains, in a stable order."""

    def __init__(self, group_runs: dict, runs: list[dict]):
        self.size = {study: n for study, n in group_runs.items() if n > 1}
        self.groups: dict[str, list[list[dict]]] = {}
        for study, n in self.size.items():
            mine = [run for run in runs if run["study"] == study]
            self.groups[study] = [mine[i:i + n] for i in range(0, len(mine), n)]
        self._index = {run_key(run): (study, k) for study, groups in self.groups.items()
                       for k, group in enumerate(groups) for run in group}

    def __bool__(self) -> bool:
        return bool(self._index)

    def group_of(self, run: dict) -> tuple[str, int] | None:
        """(study, group number) of a tune run, or None when it is not grouped."""
        return self._index.get(run_key(run))

    def name(self, run: dict) -> str | None:
        """The Snakemake group of a tune run (its study's), or None."""
        found = self.group_of(run)
        return f"tune_{found[0]}" if found else None

    def runs(self, study: str, group: int) -> list[dict]:
        return self.groups[study][group]

    def each(self) -> list[dict]:
        """Every group as wildcards (study, group)."""
        return [dict(study=study, group=str(k)) for study, groups in self.groups.items() for k in range(len(groups))]


def run_key(run: dict) -> tuple:
    """A tune run's identity (None in the fields a run of another stage lacks)."""
    return tuple(str(run.get(k)) for k in ("study", "bn", "optimizer", "point", "seed", "split"))
