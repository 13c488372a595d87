"""The studies (config `studies:`): per study and BN setting, a grid of tune runs (K-fold or
hold-out validation), `select` choosing each optimizer's point, and final runs on the test set
(or, with `selection: paper`, final runs with the paper's hyperparameters and no tuning).

`Study` holds one study's settings and titles; `Studies`, the stage, its runs, their `vrdl train`
arguments and files, and what the tidy tables, the cost plan and the report read."""

from __future__ import annotations

import re

from vrdl.config import study_bns
from vrdl.optim.registry import format_value as fmt_value
from vrdl.paths import Paths, variance_csv
from vrdl.stages.base import (
    RUN_KEYS,
    PlanError,
    check_seed,
    cost_job,
    seeds_note,
    train_args,
    variance_args,
    with_files,
    with_paper_figure,
)  # fmt: skip
from vrdl.stages.grids import grid_points, optimizer_stacking_problem, study_stacking_problems


class Study:
    """One study's settings (its config block, validated) and figure titles."""

    def __init__(self, name: str, cfg: dict):
        self.name, self.cfg = name, cfg
        self.optimizers = cfg["optimizers"]
        self.from_paper = cfg["selection"] == "paper"  # no tuning: the finals take the paper's choice
        self.bns = study_bns(cfg)
        self.points = {} if self.from_paper else {o: grid_points(spec) for o, spec in self.optimizers.items()}
        self.final_seeds = cfg["seeds"]
        self.tune_seeds = [] if self.from_paper else cfg["selection"].get("seeds", self.final_seeds)

    def splits(self) -> list[str]:
        if "folds" in self.cfg["selection"]:
            return [f"fold~{i}" for i in range(self.cfg["selection"]["folds"])]
        return ["holdout"]

    def epochs(self, optimizer: str) -> int:
        return self.optimizers[optimizer].get("epochs", self.cfg["epochs"])

    def variance(self, optimizer: str) -> dict | None:
        """The variance-diagnostics settings of the final runs of `optimizer`, or None."""
        variance = self.cfg.get("variance")
        if variance and optimizer in variance.get("optimizers", self.optimizers):
            return variance
        return None

    def paper_setting(self, bn: str) -> dict:
        return self.cfg.get("paper", {}).get(f"bn_{bn}", {})

    def paper_hparams(self, bn: str, optimizer: str) -> dict:
        """A `selection: paper` study's final hyperparameters: fixed values and the paper's."""
        return {**self.optimizers[optimizer].get("fixed", {}), **self.paper_setting(bn)["selected"][optimizer]}

    def tune_hparams(self, optimizer: str, point: str) -> dict:
        try:
            return self.points[optimizer][point]
        except KeyError:
            raise PlanError(f"{point} is not a grid point of {optimizer} in study {self.name} "
                            f"(config studies.{self.name}.optimizers)") from None

    def time_to_target(self) -> dict | None:
        """The target settings (`time_to_target`: a given loss, or a reference optimizer's best
        with slack); None when the reference optimizer is not in the study."""
        spec = self.cfg.get("time_to_target", {})
        if "loss" in spec:
            return {"loss": spec["loss"]}
        reference = spec.get("reference", "sgd")
        if reference not in self.optimizers:
            return None
        return {"reference": reference, "slack": spec.get("slack", 0.0)}

    def figure_kinds(self) -> tuple[str, ...]:
        """The figures of each BN setting: the grid's validation curves (when tuned), the finals and
        their time to target (when the study has a target)."""
        kinds = ("final",) if self.from_paper else ("tuning", "final")
        return kinds + (("target",) if self.time_to_target() else ())

    def stacked_optimizers(self, config: dict) -> list[str]:
        """Optimizers whose BN-off tune grids train stacked: all of them with `stacked: true`; with
        `auto`, those train-grid can stack, where stacking pays: compute.device `cuda`, or
        compute.compile (on a CPU an eager grid is slower than separate runs: docs/performance.md).
        Device `auto` counts as no CUDA: the plan cannot know where jobs will run, and the DAG stays
        the same on every machine."""
        if self.cfg["stacked"] != "auto":
            return list(self.optimizers) if self.cfg["stacked"] else []
        pays = config["compute"]["device"] == "cuda" or config["compute"]["compile"]
        if not pays or study_stacking_problems(config, self.name, self.cfg):
            return []
        return [o for o, spec in self.optimizers.items() if not optimizer_stacking_problem(o, spec)]

    def setting_manifest(self, bn: str, paths: Paths) -> dict:
        """The report's part of one BN setting: the paper's, and the paths to read the rest from."""
        setting = dict(study=self.name, bn=bn)
        out = dict(
            bn=bn,
            paper=self.paper_setting(bn),
            selected=None if self.from_paper else paths.selected.format(**setting),
            tuning=None if self.from_paper else paths.tuning_table.format(**setting),
            finals={o: [paths.final.format(**setting, optimizer=o, seed=seed) + ".csv" for seed in self.final_seeds]
                    for o in self.optimizers},
            figures={kind: paths.figure(self.name, bn, kind) for kind in self.figure_kinds()},
            time_to_target=self.time_to_target(),
        )
        if self.from_paper:  # the finals' hyperparameters, taken from the paper (not selected)
            out |= dict(hparams_from="paper", hparams={o: self.paper_hparams(bn, o) for o in self.optimizers})
        return out

    # -- figure titles

    @property
    def title(self) -> str:
        return self.cfg.get("title") or f"{self.cfg['model']} on {self.cfg['dataset']}"

    def tuning_title(self, bn) -> str:
        return f"{self.title}, BN {bn}: validation loss of the grid"

    def final_title(self, bn) -> str:
        chosen = "the paper's hyperparameters" if self.from_paper else "selected hyperparameters"
        title = f"{self.title}, BN {bn}: {chosen} on the test set ({seeds_note(self.final_seeds)})"
        return with_paper_figure(title, self.paper_setting(bn).get("figure"))

    def target_title(self, bn) -> str:
        spec = self.time_to_target()
        target = (f"test loss {fmt_value(spec['loss'])}" if "loss" in spec else
                  f"lowest point of the mean test-loss curve of {spec['reference']}"
                  + (f" +{spec['slack']:.0%}" if spec["slack"] else ""))
        seeds = self.final_seeds
        runs = f"median of the {len(seeds)} seeds that reach it" if len(seeds) > 1 else f"seed {seeds[0]}"
        return f"{self.title}, BN {bn}: gradient computations to reach the {target} ({runs})"

    def variance_title(self) -> str:
        return f"{self.title}: gradient variance of the final runs ({seeds_note(self.final_seeds)})"


class Studies:
    """The stage: every study's tune, select and final runs (dicts of wildcards, in a stable
    order), their arguments and files."""

    def __init__(self, config: dict, paths: Paths):
        self.config, self.paths, self.compute = config, paths, config["compute"]
        self.studies = {name: Study(name, cfg) for name, cfg in config["studies"].items()}
        # Whether `final` writes RUN.variance.csv: a rule's outputs are the same for all its jobs,
        # so when any study asks for diagnostics, runs without them get a header-only file.
        self.final_variance = any(cfg.get("variance") for cfg in config["studies"].values())

    def __getitem__(self, study: str) -> Study:
        return self.studies[study]

    def __iter__(self):
        """The studies' names, in the config's order."""
        return iter(self.studies)

    def __contains__(self, study: str) -> bool:
        return study in self.studies

    # -- runs

    def tune_runs(self, study, bn, optimizers=None, seeds=None) -> list[dict]:
        """Tune runs of one study and BN setting (optimizer, point, seed, split)."""
        s = self.studies[study]
        return [
            dict(study=study, bn=bn, optimizer=optimizer, point=point, seed=seed, split=split)
            for optimizer in optimizers or s.points
            for point in s.points[optimizer]
            for seed in seeds or s.tune_seeds
            for split in s.splits()
        ]

    def all_tune_runs(self) -> list[dict]:
        return [run for s in self.studies.values() for bn in s.bns for run in self.tune_runs(s.name, bn)]

    def final_runs(self, study=None, bn=None) -> list[dict]:
        return [
            dict(study=s.name, bn=b, optimizer=optimizer, seed=seed)
            for s in ([self.studies[study]] if study else self.studies.values())
            for b in ([bn] if bn else s.bns)
            for optimizer in s.optimizers
            for seed in s.final_seeds
        ]

    def settings(self, selected_only: bool = False) -> list[dict]:
        """(study, bn) pairs; with selected_only, those that tune and select."""
        return [dict(study=s.name, bn=bn) for s in self.studies.values()
                if not (selected_only and s.from_paper) for bn in s.bns]

    def variance_runs(self, study: str) -> list[dict]:
        """Final runs of a study that write variance diagnostics."""
        return [run for run in self.final_runs(study) if self.studies[study].variance(run["optimizer"])]

    def variance_studies(self) -> list[str]:
        return [study for study in self.studies if self.variance_runs(study)]

    def stacked_groups(self) -> list[dict]:
        """The tune grids trained in one `vrdl train-grid` job each (`stacked`): per BN-off setting,
        stacked optimizer and seed of a study, all grid points and folds."""
        return [
            dict(name=re.sub(r"\W", "_", f"tune_stacked_{s.name}_{optimizer}_seed{seed}"), study=s.name,
                 optimizer=optimizer, stem=f"{self.paths.name}/{s.name}/bn~off/tune/{optimizer}/seed~{seed}",
                 runs=self.tune_runs(s.name, "off", [optimizer], [seed]))
            for s in self.studies.values() if "off" in s.bns and not s.from_paper
            for optimizer in s.stacked_optimizers(self.config)
            for seed in s.tune_seeds
        ]

    # -- `vrdl train` arguments

    def train_args(self, run: dict, hparams: dict, split=None) -> list[str]:
        """A run's arguments: the study's setting, these hyperparameters, the optimizer's switches
        that are no hyperparameters (same curves, less work)."""
        s, optimizer = self.studies[run["study"]], run["optimizer"]
        args = train_args(self.compute, s.cfg, optimizer, hparams, run["bn"], s.epochs(optimizer),
                          int(run["seed"]), split=split)
        return args + (["--cache-snapshot-grads"] if s.optimizers[optimizer].get("cache_snapshot_grads") else [])

    def tune_args(self, run: dict) -> list[str]:
        """`vrdl train` arguments of one tune run (a dict of wildcards), checked."""
        s = self.studies[run["study"]]
        check_seed(run["seed"], s.tune_seeds, f"studies.{s.name}.seeds / selection.seeds")
        return self.train_args(run, s.tune_hparams(run["optimizer"], run["point"]), split=run["split"])

    def final_args(self, run: dict, hparams: dict) -> list[str]:
        """`vrdl train` arguments of a final run with its hyperparameters (selected or the paper's)."""
        s, optimizer = self.studies[run["study"]], run["optimizer"]
        check_seed(run["seed"], s.final_seeds, f"studies.{s.name}.seeds")
        return self.train_args(run, hparams) + variance_args(s.variance(optimizer), s.epochs(optimizer))

    def stacked_params(self, group: dict) -> list[list[str]]:
        """`vrdl train-grid` spec: each run's `vrdl train` arguments, with its own --out."""
        return [self.tune_args(run) + ["--out", self.paths.tune.format(**run) + ".csv"] for run in group["runs"]]

    # -- files

    def select_run_params(self, study, bn) -> list[dict]:
        """What each tune CSV of a select job is: optimizer, grid point, seed, split, hyperparameters."""
        points = self.studies[study].points
        return [dict(optimizer=run["optimizer"], point=run["point"], split=run["split"], seed=run["seed"],
                     hparams=points[run["optimizer"]][run["point"]]) for run in self.tune_runs(study, bn)]

    def tune_files(self, study, bn, ext) -> list[str]:
        return [self.paths.tune.format(**run) + ext for run in self.tune_runs(study, bn)]

    def final_files(self, study, bn, ext) -> list[str]:
        return [self.paths.final.format(**run) + ext for run in self.final_runs(study, bn)]

    def variance_files(self, study) -> list[str]:
        return [variance_csv(self.paths.final.format(**run)) for run in self.variance_runs(study)]

    # -- what the report, the tidy tables and the cost plan read

    def figures(self) -> list[str]:
        """Each setting's figures, then each variance study's (PNG for the report, PDF for papers)."""
        figures = [self.paths.figure(**setting, kind=kind, ext=ext) for setting in self.settings()
                   for kind in self.studies[setting["study"]].figure_kinds() for ext in ("png", "pdf")]
        return figures + [self.paths.variance_figure(study, ext) for study in self.variance_studies()
                          for ext in ("png", "pdf")]

    def report_inputs(self) -> dict:
        tuned = self.settings(selected_only=True)
        finals = [self.paths.final.format(**run) for run in self.final_runs()]
        inputs = dict(selected=[self.paths.selected.format(**setting) for setting in tuned],
                      tables=[self.paths.tuning_table.format(**setting) for setting in tuned],
                      finals=[stem + ".csv" for stem in finals], final_meta=[stem + ".json" for stem in finals])
        variance = [path for study in self.variance_studies() for path in self.variance_files(study)]
        return inputs | ({"variance": variance} if variance else {})

    def results(self) -> list[str]:
        """Every file the runs and selections write."""
        files = [self.paths.tune.format(**run) + ext for run in self.all_tune_runs() for ext in (".csv", ".json")]
        for setting in self.settings(selected_only=True):
            files += [self.paths.selected.format(**setting), self.paths.tuning_table.format(**setting)]
        for run in self.final_runs():
            stem = self.paths.final.format(**run)
            files += [stem + ".csv", stem + ".json"] + ([variance_csv(stem)] if self.final_variance else [])
        return files

    def manifest(self) -> list[dict]:
        """The report's study sections: settings, and the paths to read each BN setting from."""
        return [dict(
            name=s.name,
            title=s.title,
            model=s.cfg["model"],
            setup={key: s.cfg.get(key) for key in RUN_KEYS},
            selection=s.cfg["selection"],
            tune_seeds=s.tune_seeds,
            optimizers={o: dict(grid=spec.get("grid", {}), fixed=spec.get("fixed", {}), epochs=s.epochs(o),
                                points=len(s.points.get(o, {}))) for o, spec in s.optimizers.items()},
            settings=[s.setting_manifest(bn, self.paths) for bn in s.bns],
            variance=self.variance_manifest(s),
        ) for s in self.studies.values()]  # fmt: skip

    def variance_manifest(self, s: Study) -> dict | None:
        runs = self.variance_runs(s.name)
        if not runs:
            return None
        return dict(
            runs=[dict(bn=run["bn"], optimizer=run["optimizer"], seed=run["seed"],
                       csv=variance_csv(self.paths.final.format(**run))) for run in runs],
            settings={key: value for key, value in s.cfg["variance"].items() if key != "optimizers"},
            figure=self.paths.variance_figure(s.name),
        )

    def table_runs(self) -> list[dict]:
        """Every run for the tidy tables (vrdl.tables): identity, CSV, what its RUN.json records."""
        tune = [dict(run, stage="tune", csv=self.paths.tune.format(**run) + ".csv",
                     expected=dict(optimizer=run["optimizer"], seed=run["seed"],
                                   hparams=self.studies[run["study"]].points[run["optimizer"]][run["point"]]))
                for run in self.all_tune_runs()]
        return tune + [dict(run, stage="final", csv=self.paths.final.format(**run) + ".csv",
                            expected=dict(optimizer=run["optimizer"], seed=run["seed"]))
                       for run in self.final_runs()]

    def jobs(self) -> list[dict]:
        """Every tune and final run with its gradient computations; a final run whose point is not
        selected yet counts with the grid's first point (`assumed_point`)."""
        jobs = []
        for run in self.all_tune_runs():
            s = self.studies[run["study"]]
            jobs.append(cost_job("tune", s.name, s.cfg, run["bn"], run["optimizer"],
                                 s.tune_hparams(run["optimizer"], run["point"]), s.epochs(run["optimizer"]),
                                 self.paths.tune.format(**run), run["split"]))
        for run in self.final_runs():
            s = self.studies[run["study"]]
            # a selected point is not known yet: take one whose count is typical (the first)
            hparams = (s.paper_hparams(run["bn"], run["optimizer"]) if s.from_paper
                       else next(iter(s.points[run["optimizer"]].values())))
            jobs.append(cost_job("final", s.name, s.cfg, run["bn"], run["optimizer"], hparams,
                                 s.epochs(run["optimizer"]), self.paths.final.format(**run)))
            jobs[-1]["assumed_point"] = not s.from_paper
        return jobs


# ---------------------------------------------------------------------------------------------
# The studies' figures (scripts/figures.py calls them by rule; matplotlib only when one runs)


def draw_tuning(inputs, params, out) -> None:
    from vrdl import plots

    plots.tuning_figure(with_files(params.runs, inputs.runs), out, title=params.title)


def draw_final(inputs, params, out) -> None:
    from vrdl import plots

    curves: dict[str, list] = {}
    for run in with_files(params.runs, inputs.runs):
        curves.setdefault(run["optimizer"], []).append(run["csv"])
    plots.test_curves_figure(curves, out, title=params.title, band=params.band)


def draw_target(inputs, params, out) -> None:
    from vrdl import plots

    plots.time_to_target_figure(with_files(params.runs, inputs.runs), params.target, out, title=params.title)


def draw_variance(inputs, params, out) -> None:
    from vrdl import plots

    plots.variance_figure(with_files(params.runs, inputs.runs), out, title=params.title, band=params.band)


FIGURES = {"figure_tuning": draw_tuning, "figure_final": draw_final, "figure_target": draw_target,
           "figure_variance": draw_variance}
