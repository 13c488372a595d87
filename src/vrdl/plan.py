"""The study plan: from a config dict, the validated plan of every run (wildcards, paths,
`vrdl train` arguments, epochs, gradient computations) and of what each figure and the report
read, built on the config `vrdl.config` validated. The workflow (workflow/rules/common.smk) is
glue around a `Plan`; `vrdl plan` prints its job table and cost. No torch and no Snakemake
here: the workflow imports it in Snakemake's environment, and the unit tests use it directly.
"""

from __future__ import annotations

import re
from pathlib import Path

from vrdl.config import (  # noqa: F401 (ConfigError: the workflow's glue catches it from here)
    SCHEMA,
    ConfigError,
    bn_name,
    grid_points,
    load_config,
    load_configs,
    optimizer_stacking_problem,
    study_bns,
    study_stacking_problems,
    train_size,
    validated,
)
from vrdl.optim import registry
from vrdl.optim.registry import format_value as fmt_value
from vrdl.paths import Paths, config_name, variance_csv

RUN_KEYS = (
    "dataset", "model", "bn", "width", "epochs", "batch_size", "seeds", "seed",
    "augment", "train_subset", "eval_subset",
)  # fmt: skip


class PlanError(ValueError):
    """A request the plan cannot serve (a seed or grid point that is not configured)."""


# ---------------------------------------------------------------------------------------------
# Grid points and their names in paths


# ---------------------------------------------------------------------------------------------
# The plan


class Plan:
    """A validated config (defaults filled in, `seed: N` turned into `seeds: [N]`) and every run,
    path and argument list the workflow and `vrdl plan` need."""

    def __init__(self, config: dict, schema_path: str | Path = SCHEMA, configfiles=()):
        config = validated(config, schema_path)
        try:
            config["name"] = config_name(config, configfiles)
        except ValueError as err:
            raise ConfigError([str(err)]) from None
        self.config = config
        self.paths = Paths(config["name"])
        self.studies = config["studies"]
        self.metainit = config.get("metainit") or None
        self.convex = config.get("convex") or None
        self.ablation = config.get("ablation") or None
        self.data_dir = config["data"]["dir"]
        self.compute = config["compute"]
        self.points = {
            (study, optimizer): grid_points(spec)
            for study, cfg in self.studies.items()
            if not self.from_paper(study)
            for optimizer, spec in cfg["optimizers"].items()
        }
        # Whether `final` writes RUN.variance.csv: a rule's outputs are the same for all its jobs,
        # so when any study asks for diagnostics, runs without them get a header-only file.
        self.final_variance = any(study.get("variance") for study in self.studies.values())

    # -- studies

    def from_paper(self, study: str) -> bool:
        """`selection: paper`: no tuning; the finals take the paper's selected hyperparameters."""
        return self.studies[study]["selection"] == "paper"

    def study_bns(self, study: str) -> list[str]:
        return study_bns(self.studies[study])

    def splits(self, study: str) -> list[str]:
        selection = self.studies[study]["selection"]
        if "folds" in selection:
            return [f"fold~{i}" for i in range(selection["folds"])]
        return ["holdout"]

    def epochs_for(self, study: str, optimizer: str) -> int:
        return self.studies[study]["optimizers"][optimizer].get("epochs", self.studies[study]["epochs"])

    def final_seeds(self, study: str) -> list[int]:
        return self.studies[study]["seeds"]

    def tune_seeds(self, study: str) -> list[int]:
        if self.from_paper(study):
            return []
        return self.studies[study]["selection"].get("seeds", self.final_seeds(study))

    def study_variance(self, study: str, optimizer: str) -> dict | None:
        """The variance-diagnostics settings of a study's final runs of `optimizer`, or None."""
        variance = self.studies[study].get("variance")
        if variance and optimizer in variance.get("optimizers", self.studies[study]["optimizers"]):
            return variance
        return None

    def paper_setting(self, study: str, bn: str) -> dict:
        return self.studies[study].get("paper", {}).get(f"bn_{bn}", {})

    def paper_hparams(self, study: str, bn: str, optimizer: str) -> dict:
        """A `selection: paper` study's final hyperparameters: fixed values and the paper's."""
        spec = self.studies[study]["optimizers"][optimizer]
        return {**spec.get("fixed", {}), **self.paper_setting(study, bn)["selected"][optimizer]}

    def figure_kinds(self, study: str) -> tuple[str, ...]:
        """The figures of each BN setting: the grid's validation curves (when tuned), the finals and
        their time to target (when the study has a target)."""
        kinds = ("final",) if self.from_paper(study) else ("tuning", "final")
        return kinds + (("target",) if self.time_to_target(study) else ())

    def time_to_target(self, study: str) -> dict | None:
        """The study's target settings (`time_to_target`: a given loss, or a reference optimizer's
        best with slack); None when the reference optimizer is not in the study."""
        spec = self.studies[study].get("time_to_target", {})
        if "loss" in spec:
            return {"loss": spec["loss"]}
        reference = spec.get("reference", "sgd")
        if reference not in self.studies[study]["optimizers"]:
            return None
        return {"reference": reference, "slack": spec.get("slack", 0.0)}

    # -- runs (dicts of wildcards, in a stable order)

    def tune_runs(self, study, bn, optimizers=None, seeds=None) -> list[dict]:
        """Tune runs of one study and BN setting (optimizer, point, seed, split)."""
        if self.from_paper(study):
            return []
        return [
            dict(study=study, bn=bn, optimizer=optimizer, point=point, seed=seed, split=split)
            for optimizer in optimizers or self.studies[study]["optimizers"]
            for point in self.points[(study, optimizer)]
            for seed in seeds or self.tune_seeds(study)
            for split in self.splits(study)
        ]

    def all_tune_runs(self) -> list[dict]:
        return [run for study in self.studies for bn in self.study_bns(study) for run in self.tune_runs(study, bn)]

    def final_runs(self, study=None, bn=None) -> list[dict]:
        return [
            dict(study=s, bn=b, optimizer=optimizer, seed=seed)
            for s in ([study] if study else self.studies)
            for b in ([bn] if bn else self.study_bns(s))
            for optimizer in self.studies[s]["optimizers"]
            for seed in self.final_seeds(s)
        ]

    def study_settings(self, selected_only: bool = False) -> list[dict]:
        """(study, bn) pairs; with selected_only, those that tune and select."""
        return [
            dict(study=study, bn=bn)
            for study in self.studies
            if not (selected_only and self.from_paper(study))
            for bn in self.study_bns(study)
        ]

    def variance_runs(self, study: str) -> list[dict]:
        """Final runs of a study that write variance diagnostics."""
        return [run for run in self.final_runs(study) if self.study_variance(run["study"], run["optimizer"])]

    def variance_studies(self) -> list[str]:
        return [study for study in self.studies if self.variance_runs(study)]

    def stacked_optimizers(self, study: str) -> list[str]:
        """Optimizers whose BN-off tune grids train stacked: all of them with `stacked: true`; with
        `auto`, those train-grid can stack, where stacking pays: compute.device `cuda`, or
        compute.compile (on a CPU an eager grid is slower than separate runs: README, Performance).
        Device `auto` counts as no CUDA: the plan cannot know where jobs will run, and the DAG stays
        the same on every machine."""
        cfg = self.studies[study]
        if cfg["stacked"] != "auto":
            return list(cfg["optimizers"]) if cfg["stacked"] else []
        pays = self.compute["device"] == "cuda" or self.compute["compile"]
        if not pays or study_stacking_problems(self.config, study, cfg):
            return []
        return [o for o, spec in cfg["optimizers"].items() if not optimizer_stacking_problem(o, spec)]

    def stacked_groups(self) -> list[dict]:
        """The tune grids trained in one `vrdl train-grid` job each (`stacked`): per BN-off setting,
        stacked optimizer and seed of a study, all grid points and folds."""
        groups = []
        for study in self.studies:
            if "off" not in self.study_bns(study) or self.from_paper(study):
                continue
            for optimizer in self.stacked_optimizers(study):
                for seed in self.tune_seeds(study):
                    groups.append(dict(
                        name=re.sub(r"\W", "_", f"tune_stacked_{study}_{optimizer}_seed{seed}"),
                        study=study,
                        optimizer=optimizer,
                        stem=f"{self.paths.name}/{study}/bn~off/tune/{optimizer}/seed~{seed}",
                        runs=self.tune_runs(study, "off", [optimizer], [seed]),
                    ))  # fmt: skip
        return groups

    def stacked_params(self, group: dict) -> list[list[str]]:
        """`vrdl train-grid` spec: each run's `vrdl train` arguments, with its own --out."""
        return [self.tune_args(run) + ["--out", self.paths.tune.format(**run) + ".csv"] for run in group["runs"]]

    def convex_runs(self) -> list[dict]:
        if not self.convex:
            return []
        return [dict(optimizer=o, seed=s) for o in self.convex["optimizers"] for s in self.convex["seeds"]]

    def ablation_runs(self) -> list[dict]:
        if not self.ablation:
            return []
        return [dict(locking=locking, seed=seed) for locking in ("on", "off") for seed in self.ablation["seeds"]]

    # -- `vrdl train` arguments (everything that decides a result; the rule script adds --out,
    #    --checkpoint, --data-dir and --threads)

    def speed_args(self) -> list[str]:
        """compute.precision/channels_last/compile; nothing at their defaults (so a config without
        them keeps its params, and its results)."""
        from vrdl import settings

        return settings.train_arguments({name: self.compute[name] for name in settings.SPEED})

    def train_args(self, setting, optimizer, hparams, bn, epochs, seed, split=None) -> list[str]:
        from vrdl import settings

        selection = setting.get("selection")
        if split == "holdout":
            split_values = dict(val_fraction=selection["val_fraction"])
        elif split is not None:
            split_values = dict(folds=selection["folds"], fold=split.split("~")[1])
        else:
            split_values = {}
        values = dict(
            dataset=setting["dataset"], model=setting["model"], bn=bn == "on", width=setting.get("width"),
            optimizer=optimizer, epochs=epochs, batch_size=setting["batch_size"], seed=seed, **split_values,
            train_subset=setting.get("train_subset"), eval_subset=setting.get("eval_subset"),
            augment=setting["augment"], device=self.compute["device"],
        )
        return settings.train_arguments(values | {name: self.compute[name] for name in settings.SPEED}, hparams)

    def optimizer_args(self, study, optimizer) -> list[str]:
        """Per-optimizer switches of a study that are no hyperparameters (same curves, less work)."""
        spec = self.studies[study]["optimizers"][optimizer]
        return ["--cache-snapshot-grads"] if spec.get("cache_snapshot_grads") else []

    @staticmethod
    def variance_args(variance, epochs) -> list[str]:
        """--variance-epochs (those within the run's epochs) and --variance-batches."""
        if not variance:
            return []
        within = sorted(e for e in variance["epochs"] if e <= epochs)
        return ["--variance-epochs", ",".join(map(str, within)), "--variance-batches", str(variance["batches"])]

    def check_seed(self, seed, seeds, where) -> None:
        if int(seed) not in seeds:
            raise PlanError(f"seed {seed} is not configured ({where})")

    def tune_hparams(self, study, optimizer, point) -> dict:
        try:
            return self.points[(study, optimizer)][point]
        except KeyError:
            raise PlanError(
                f"{point} is not a grid point of {optimizer} in study {study} "
                f"(config studies.{study}.optimizers)"
            ) from None

    def tune_args(self, run: dict) -> list[str]:
        """`vrdl train` arguments of one tune run (a dict of wildcards), checked."""
        study = run["study"]
        self.check_seed(run["seed"], self.tune_seeds(study), f"studies.{study}.seeds / selection.seeds")
        hparams = self.tune_hparams(study, run["optimizer"], run["point"])
        return self.train_args(
            self.studies[study], run["optimizer"], hparams, run["bn"], self.epochs_for(study, run["optimizer"]),
            int(run["seed"]), split=run["split"],
        ) + self.optimizer_args(study, run["optimizer"])

    def final_args(self, run: dict, hparams: dict) -> list[str]:
        """`vrdl train` arguments of a final run with its hyperparameters (selected or the paper's)."""
        study, optimizer = run["study"], run["optimizer"]
        self.check_seed(run["seed"], self.final_seeds(study), f"studies.{study}.seeds")
        epochs = self.epochs_for(study, optimizer)
        return (
            self.train_args(self.studies[study], optimizer, hparams, run["bn"], epochs, int(run["seed"]))
            + self.optimizer_args(study, optimizer)
            + self.variance_args(self.study_variance(study, optimizer), epochs)
        )

    def metainit_args(self, variant: str) -> list[str]:
        meta = self.metainit
        args = self.train_args(meta, meta["optimizer"], meta["hparams"], bn_name(meta["bn"]), meta["epochs"],
                               meta["seed"])
        if meta.get("cache_snapshot_grads"):
            args.append("--cache-snapshot-grads")
        if variant == "on":
            m = meta["metainit"]
            args += [
                "--metainit",
                "--metainit-steps", str(m["steps"]),
                "--metainit-lr", fmt_value(m["lr"]),
                "--metainit-momentum", fmt_value(m["momentum"]),
                "--metainit-eps", fmt_value(m["eps"]),
                "--metainit-data", m["data"],
            ]  # fmt: skip
        return args

    def convex_setting(self) -> dict:
        # Logistic regression on the raw pixels (no augmentation): convex, and with l2 > 0
        # strongly convex, where SVRG's theory promises linear convergence.
        return dict(self.convex, model="logreg", augment="off")

    def convex_args(self, optimizer: str, seed) -> list[str]:
        if optimizer not in self.convex["optimizers"]:
            raise PlanError(f"{optimizer} is not in convex.optimizers")
        self.check_seed(seed, self.convex["seeds"], "convex.seeds")
        spec = self.convex["optimizers"][optimizer]
        args = self.train_args(self.convex_setting(), optimizer, spec["hparams"], "off",
                               spec.get("epochs", self.convex["epochs"]), int(seed))
        return args + ["--l2", fmt_value(self.convex["l2"]), "--track-objective"]

    def ablation_args(self, locking: str, seed) -> list[str]:
        a = self.ablation
        self.check_seed(seed, a["seeds"], "ablation.seeds")
        args = self.train_args(a, a["optimizer"], a["hparams"], bn_name(a["bn"]), a["epochs"], int(seed))
        args += self.variance_args(a["variance"], a["epochs"])
        if locking == "off":
            args.append("--no-transform-locking")
        return args

    # -- what rules read

    def select_run_params(self, study, bn) -> list[dict]:
        """What each tune CSV of a select job is: optimizer, grid point, seed, split, hyperparameters."""
        return [
            dict(optimizer=run["optimizer"], point=run["point"], split=run["split"], seed=run["seed"],
                 hparams=self.points[(run["study"], run["optimizer"])][run["point"]])
            for run in self.tune_runs(study, bn)
        ]

    def tune_files(self, study, bn, ext) -> list[str]:
        return [self.paths.tune.format(**run) + ext for run in self.tune_runs(study, bn)]

    def final_files(self, study, bn, ext) -> list[str]:
        return [self.paths.final.format(**run) + ext for run in self.final_runs(study, bn)]

    def variance_files(self, study) -> list[str]:
        return [variance_csv(self.paths.final.format(**run)) for run in self.variance_runs(study)]

    def convex_files(self, ext) -> list[str]:
        return [self.paths.convex_run.format(**run) + ext for run in self.convex_runs()]

    def ablation_files(self, ext) -> list[str]:
        return [self.paths.ablation_run.format(**run) + ext for run in self.ablation_runs()]

    # -- figure titles

    def study_title(self, study) -> str:
        cfg = self.studies[study]
        return cfg.get("title") or f"{cfg['model']} on {cfg['dataset']}"

    def tuning_title(self, study, bn) -> str:
        return f"{self.study_title(study)}, BN {bn}: validation loss of the grid"

    def final_title(self, study, bn) -> str:
        chosen = "the paper's hyperparameters" if self.from_paper(study) else "selected hyperparameters"
        title = (f"{self.study_title(study)}, BN {bn}: {chosen} on the test set "
                 f"({seeds_note(self.final_seeds(study))})")
        return _with_paper_figure(title, self.paper_setting(study, bn).get("figure"))

    def metainit_title(self) -> str:
        title = self.metainit.get("title") or f"{self.metainit['optimizer']} on {self.metainit['model']}"
        return _with_paper_figure(title, self.metainit.get("paper", {}).get("figure"))

    def target_title(self, study, bn) -> str:
        spec = self.time_to_target(study)
        target = (f"test loss {fmt_value(spec['loss'])}" if "loss" in spec else
                  f"best test loss of {spec['reference']}" + (f" +{spec['slack']:.0%}" if spec["slack"] else ""))
        seeds = len(self.final_seeds(study))
        runs = f"median of the {seeds} seeds that reach it" if seeds > 1 else "seed " + str(self.final_seeds(study)[0])
        return f"{self.study_title(study)}, BN {bn}: gradient computations to reach the {target} ({runs})"

    def variance_title(self, study) -> str:
        return (f"{self.study_title(study)}: gradient variance of the final runs "
                f"({seeds_note(self.final_seeds(study))})")

    def convex_title(self) -> str:
        title = self.convex.get("title") or f"Logistic regression on {self.convex['dataset']}"
        return f"{title} (l2 = {self.convex['l2']:g}; {seeds_note(self.convex['seeds'])})"

    def ablation_title(self) -> str:
        a = self.ablation
        title = a.get("title") or f"{a['optimizer']} on {a['model']} with augmentation"
        return f"{title}: transform locking on vs off ({seeds_note(a['seeds'])})"

    # -- the report and the whole result set

    def report_inputs(self) -> dict:
        inputs = {"selected": [], "tables": [], "finals": [], "final_meta": [], "figures": []}
        for setting in self.study_settings():
            kinds = self.figure_kinds(setting["study"])
            if "tuning" in kinds:
                inputs["selected"].append(self.paths.selected.format(**setting))
                inputs["tables"].append(self.paths.tuning_table.format(**setting))
            for kind in kinds:
                inputs["figures"] += [self.paths.figure(**setting, kind=kind, ext=e) for e in ("png", "pdf")]
        for run in self.final_runs():
            inputs["finals"].append(self.paths.final.format(**run) + ".csv")
            inputs["final_meta"].append(self.paths.final.format(**run) + ".json")
        for study in self.variance_studies():
            inputs["variance"] = inputs.get("variance", []) + self.variance_files(study)
            inputs["figures"] += [self.paths.variance_figure(study, e) for e in ("png", "pdf")]
        if self.metainit:
            inputs["metainit"] = [self.paths.metainit_run.format(variant=v) + e
                                  for v in ("off", "on") for e in (".csv", ".json")]
            inputs["figures"] += [self.paths.side_figure("metainit"), self.paths.side_figure("metainit", "pdf")]
        if self.convex:
            inputs["convex"] = self.convex_files(".csv") + self.convex_files(".json")
            inputs["figures"] += [self.paths.side_figure("convex"), self.paths.side_figure("convex", "pdf")]
        if self.ablation:
            inputs["ablation"] = (self.ablation_files(".csv") + self.ablation_files(".json")
                                  + self.ablation_files(".variance.csv"))
            inputs["figures"] += [self.paths.side_figure("ablation"), self.paths.side_figure("ablation", "pdf")]
        return inputs

    def _setting_manifest(self, study, bn) -> dict:
        setting = dict(study=study, bn=bn)
        from_paper = self.from_paper(study)
        out = dict(
            bn=bn,
            paper=self.paper_setting(study, bn),
            selected=None if from_paper else self.paths.selected.format(**setting),
            tuning=None if from_paper else self.paths.tuning_table.format(**setting),
            finals={
                optimizer: [self.paths.final.format(**setting, optimizer=optimizer, seed=seed) + ".csv"
                            for seed in self.final_seeds(study)]
                for optimizer in self.studies[study]["optimizers"]
            },
            figures={kind: self.paths.figure(study, bn, kind) for kind in self.figure_kinds(study)},
            time_to_target=self.time_to_target(study),
        )
        if from_paper:  # the finals' hyperparameters, taken from the paper (not selected)
            out["hparams_from"] = "paper"
            out["hparams"] = {o: self.paper_hparams(study, bn, o) for o in self.studies[study]["optimizers"]}
        return out

    def report_manifest(self) -> dict:
        """Everything the report shows, with the paths to read it from (relative to the workdir)."""
        studies = []
        for study, cfg in self.studies.items():
            variance = None
            if self.variance_runs(study):
                variance = dict(
                    runs=[dict(bn=run["bn"], optimizer=run["optimizer"], seed=run["seed"],
                               csv=variance_csv(self.paths.final.format(**run))) for run in self.variance_runs(study)],
                    settings={key: value for key, value in cfg["variance"].items() if key != "optimizers"},
                    figure=self.paths.variance_figure(study),
                )
            studies.append(dict(
                name=study,
                title=self.study_title(study),
                model=cfg["model"],
                setup={key: cfg.get(key) for key in RUN_KEYS},
                selection=cfg["selection"],
                tune_seeds=self.tune_seeds(study),
                optimizers={
                    optimizer: dict(grid=spec.get("grid", {}), fixed=spec.get("fixed", {}),
                                    epochs=self.epochs_for(study, optimizer),
                                    points=len(self.points.get((study, optimizer), {})))
                    for optimizer, spec in cfg["optimizers"].items()
                },
                settings=[self._setting_manifest(study, bn) for bn in self.study_bns(study)],
                variance=variance,
            ))  # fmt: skip
        metainit = convex = ablation = None
        if self.metainit:
            m = self.metainit
            metainit = dict(
                title=m.get("title") or "MetaInit",
                setup={key: m.get(key) for key in (*RUN_KEYS, "optimizer", "hparams", "metainit")},
                paper=m.get("paper", {}),
                runs={v: self.paths.metainit_run.format(variant=v) + ".csv" for v in ("off", "on")},
                figure=self.paths.side_figure("metainit"),
            )
        if self.convex:
            c = self.convex
            convex = dict(
                title=c.get("title") or "Convex sanity check",
                setup={key: c.get(key) for key in ("dataset", "l2", "epochs", "batch_size", "seeds", "train_subset",
                                                   "eval_subset")},
                runs=[dict(run, hparams=c["optimizers"][run["optimizer"]]["hparams"],
                           csv=self.paths.convex_run.format(**run) + ".csv") for run in self.convex_runs()],
                figure=self.paths.side_figure("convex"),
            )
        if self.ablation:
            a = self.ablation
            ablation = dict(
                title=a.get("title") or "Transform-locking ablation",
                setup={key: a.get(key) for key in (*RUN_KEYS, "optimizer", "hparams", "variance")},
                runs=[dict(run, csv=self.paths.ablation_run.format(**run) + ".csv",
                           variance=variance_csv(self.paths.ablation_run.format(**run)))
                      for run in self.ablation_runs()],
                figure=self.paths.side_figure("ablation"),
            )
        claims = [dict(claim, bn=[bn_name(b) for b in claim["bn"]]) if claim.get("bn") else claim
                  for claim in self.config.get("claims") or []]
        return {"report": self.paths.report, "studies": studies, "metainit": metainit, "convex": convex,
                "ablation": ablation, "claims": claims}

    def table_runs(self) -> list[dict]:
        """Every training run for the tidy tables (vrdl.tables): its identity, CSV and what its
        RUN.json must record."""
        paths, runs = self.paths, []
        for run in self.all_tune_runs():
            hparams = self.points[(run["study"], run["optimizer"])][run["point"]]
            runs.append(dict(run, stage="tune", csv=paths.tune.format(**run) + ".csv",
                             expected=dict(optimizer=run["optimizer"], seed=run["seed"], hparams=hparams)))
        for run in self.final_runs():
            runs.append(dict(run, stage="final", csv=paths.final.format(**run) + ".csv",
                             expected=dict(optimizer=run["optimizer"], seed=run["seed"])))
        if self.metainit:
            m = self.metainit
            runs += [dict(stage="metainit", study="metainit", bn=bn_name(m["bn"]), optimizer=m["optimizer"],
                          seed=m["seed"], variant=variant, csv=paths.metainit_run.format(variant=variant) + ".csv")
                     for variant in ("off", "on")]
        runs += [dict(run, stage="convex", study="convex", bn="off", csv=paths.convex_run.format(**run) + ".csv")
                 for run in self.convex_runs()]
        runs += [dict(run, stage="ablation", study="ablation", bn=bn_name(self.ablation["bn"]),
                      optimizer=self.ablation["optimizer"], csv=paths.ablation_run.format(**run) + ".csv")
                 for run in self.ablation_runs()]
        return runs

    def report_tables(self) -> dict:
        """The report's tables, written beside it as TSV (rule `report`)."""
        return {"claims": self.paths.table("claims.tsv"), "time_to_target": self.paths.table("time_to_target.tsv")}

    def tables(self) -> dict:
        """The tidy tables' paths (rule `tables`)."""
        return {key: self.paths.table(name) for key, name in
                (("runs", "runs.parquet"), ("runs_csv", "runs.csv"), ("curves", "curves.parquet"))}

    def all_results(self) -> list[str]:
        files = []
        for run in self.all_tune_runs():
            files += [self.paths.tune.format(**run) + ext for ext in (".csv", ".json")]
        for setting in self.study_settings(selected_only=True):
            files += [self.paths.selected.format(**setting), self.paths.tuning_table.format(**setting)]
        for run in self.final_runs():
            files += [self.paths.final.format(**run) + ext for ext in (".csv", ".json")]
            if self.final_variance:
                files.append(variance_csv(self.paths.final.format(**run)))
        if self.metainit:
            files += [self.paths.metainit_run.format(variant=v) + e for v in ("off", "on") for e in (".csv", ".json")]
        inputs = self.report_inputs()
        files += inputs.get("convex", []) + inputs.get("ablation", [])
        return [*files, *inputs["figures"], self.paths.report, *self.report_tables().values(),
                *self.tables().values()]

    # -- the training jobs with their gradient computations (`vrdl plan`)

    def jobs(self) -> list[dict]:
        """Every training run: stage, study, bn, optimizer, model, epochs, output stem and
        gradient computations (None for a final run whose hyperparameters are not known yet,
        where they decide the count)."""
        jobs = []
        for run in self.all_tune_runs():
            study = self.studies[run["study"]]
            hparams = self.tune_hparams(run["study"], run["optimizer"], run["point"])
            epochs = self.epochs_for(run["study"], run["optimizer"])
            jobs.append(_job("tune", run, study, run["bn"], run["optimizer"], hparams, epochs,
                             self.paths.tune.format(**run), run["split"]))
        for run in self.final_runs():
            study = self.studies[run["study"]]
            if self.from_paper(run["study"]):
                hparams = self.paper_hparams(run["study"], run["bn"], run["optimizer"])
            else:  # the selected point is not known yet: one whose count is typical (the first)
                hparams = next(iter(self.points[(run["study"], run["optimizer"])].values()))
            epochs = self.epochs_for(run["study"], run["optimizer"])
            jobs.append(_job("final", run, study, run["bn"], run["optimizer"], hparams, epochs,
                             self.paths.final.format(**run)))
            jobs[-1]["assumed_point"] = not self.from_paper(run["study"])
        if self.metainit:
            m = self.metainit
            for variant in ("off", "on"):
                jobs.append(_job("metainit", dict(study="metainit"), m, bn_name(m["bn"]), m["optimizer"], m["hparams"],
                                 m["epochs"], self.paths.metainit_run.format(variant=variant)))
        for run in self.convex_runs():
            spec = self.convex["optimizers"][run["optimizer"]]
            jobs.append(_job("convex", dict(study="convex"), self.convex_setting(), "off", run["optimizer"],
                             spec["hparams"], spec.get("epochs", self.convex["epochs"]),
                             self.paths.convex_run.format(**run)))
        for run in self.ablation_runs():
            a = self.ablation
            jobs.append(_job("ablation", dict(study="ablation"), a, bn_name(a["bn"]), a["optimizer"], a["hparams"],
                             a["epochs"], self.paths.ablation_run.format(**run)))
        return jobs


def _job(stage, run, setting, bn, optimizer, hparams, epochs, stem, split=None) -> dict:
    n = train_size(setting, split)
    grad_evals = registry.get(optimizer).grad_evals(hparams, n=n, batch_size=setting["batch_size"], epochs=epochs)
    return dict(stage=stage, study=run["study"], bn=bn, optimizer=optimizer, model=setting["model"], epochs=epochs,
                stem=stem, grad_evals=grad_evals,  # and the shape of its work, which a cost rate must match
                dataset=setting["dataset"], width=setting.get("width"), batch_size=setting["batch_size"])



def seeds_note(seeds) -> str:
    n = len(seeds)
    return f"mean of {n} seeds, band: min-max" if n > 1 else f"seed {seeds[0]}"


def _with_paper_figure(title, figure) -> str:
    return f"{title}\n(the paper's Figure {figure})" if figure else title


def print_plan(configfiles, *, costs=None, results=None, out=None) -> None:
    """`vrdl plan`: the job table and its cost (vrdl.costs) of the config files, merged as
    Snakemake merges them."""
    from vrdl.costs import report

    configfiles = [configfiles] if isinstance(configfiles, str | Path) else list(configfiles)
    print(report(Plan(load_configs(configfiles), configfiles=configfiles), costs=costs, results=results), file=out)
