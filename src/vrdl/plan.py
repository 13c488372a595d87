"""The study plan: from a config dict, the validated plan of every run (wildcards, paths,
`vrdl train` arguments, epochs, gradient computations) and of what each figure and the report
read. `Plan` composes the stages (vrdl.stages): the studies' tune -> select -> final and the side
studies (MetaInit, convex, ablation). The workflow (workflow/rules/common.smk) is glue around a
`Plan`; `vrdl plan` prints its job table and cost. No torch and no Snakemake here: the workflow
imports it in Snakemake's environment, and the unit tests use it directly.
"""

from __future__ import annotations

from pathlib import Path

from vrdl.checks import validated
from vrdl.cluster import TuneGroups, run_key, training_resources
from vrdl.config import ConfigError, bn_name, load_config, load_configs
from vrdl.paths import Paths, config_name
from vrdl.stages import SIDE_STAGES
from vrdl.stages.base import PlanError, SideStage
from vrdl.stages.study import Studies

__all__ = ["SIDE_STAGES", "ConfigError", "Plan", "PlanError", "print_plan"]  # the workflow's glue catches both errors


class Plan:
    """A validated config (defaults filled in, `seed: N` turned into `seeds: [N]`), its paths and
    its stages: `studies` (vrdl.stages.study) and `sides`, one `SideStage` per side study kind
    (false when its config block is absent)."""

    def __init__(self, config: dict, configfiles=()):
        for path in configfiles:  # Snakemake read them keeping a duplicate key's last value: refuse one
            if Path(path).is_file():
                load_config(path)
        config = validated(config)
        try:
            config["name"] = config_name(config, configfiles)
        except ValueError as err:
            raise ConfigError([str(err)]) from None
        self.config = config
        self.paths = Paths(config["name"])
        self.compute = config["compute"]
        self.data_dir = config["data"]["dir"]
        self.studies = Studies(config, self.paths)
        self.sides: dict[str, SideStage] = {
            stage.key: stage(config.get(stage.key), self.paths, self.compute) for stage in SIDE_STAGES
        }
        # the runs of rule `tune`: those no stacked grid trains
        stacked = {run_key(run) for group in self.studies.stacked_groups() for run in group["runs"]}
        self.tune_groups = TuneGroups(config["cluster"]["group_runs"], [
            run for run in self.studies.all_tune_runs() if run_key(run) not in stacked])

    def resources(self, model: str) -> dict:
        """What a training run of `model` asks a cluster for (vrdl.cluster)."""
        return training_resources(model, self.compute, self.config["cluster"])

    def tune_group_files(self) -> list[str]:
        return [self.paths.tune_group.format(**group) for group in self.tune_groups.each()]

    def present_sides(self) -> list[SideStage]:
        return [side for side in self.sides.values() if side]

    # -- the report and the whole result set

    def report_inputs(self) -> dict:
        inputs = self.studies.report_inputs()
        inputs["figures"] = self.studies.figures()
        for side in self.present_sides():
            inputs[side.key] = side.report_files()
            inputs["figures"] += side.figures()
        return inputs

    def report_manifest(self) -> dict:
        """Everything the report shows, with the paths to read it from (relative to the workdir)."""
        claims = [dict(claim, bn=[bn_name(b) for b in claim["bn"]]) if claim.get("bn") else claim
                  for claim in self.config.get("claims") or []]
        sides = {key: side.manifest() if side else None for key, side in self.sides.items()}
        return {"report": self.paths.report, "studies": self.studies.manifest(), **sides, "claims": claims}

    def table_runs(self) -> list[dict]:
        """Every training run for the tidy tables (vrdl.tables): its identity, CSV and what its
        RUN.json must record."""
        return self.studies.table_runs() + [run for side in self.sides.values() for run in side.table_runs()]

    def report_tables(self) -> dict:
        """The report's tables, written beside it as TSV, and the seal of all three (rule `report`)."""
        return {"claims": self.paths.table("claims.tsv"), "time_to_target": self.paths.table("time_to_target.tsv"),
                "seal": self.paths.table("report.sha256")}

    def tables(self) -> dict:
        """The tidy tables' paths (rule `tables`)."""
        return {key: self.paths.table(name) for key, name in
                (("runs", "runs.parquet"), ("runs_csv", "runs.csv"), ("curves", "curves.parquet"),
                 ("seal", "tables.sha256"))}

    def all_results(self) -> list[str]:
        sides = self.present_sides()
        return [*self.studies.results(), *self.tune_group_files(),
                *(path for side in sides for path in side.report_files()),
                *self.studies.figures(), *(path for side in sides for path in side.figures()),
                self.paths.report, *self.report_tables().values(), *self.tables().values()]

    def jobs(self) -> list[dict]:
        """Every training run: stage, study, bn, optimizer, model, epochs, output stem, gradient
        computations and the shape of its work (vrdl.stages.base.cost_job)."""
        return self.studies.jobs() + [job for side in self.sides.values() for job in side.jobs()]


def print_plan(configfiles, *, costs=None, results=None, out=None) -> None:
    """`vrdl plan`: the job table and its cost (vrdl.costs) of the config files, merged as
    Snakemake merges them."""
    from vrdl.costs import report

    configfiles = [configfiles] if isinstance(configfiles, str | Path) else list(configfiles)
    print(report(Plan(load_configs(configfiles), configfiles=configfiles), costs=costs, results=results), file=out)
