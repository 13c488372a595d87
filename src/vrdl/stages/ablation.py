"""The transform-locking ablation: the same SVRG (or STORM) run on augmented data with both
gradients of a step on the same augmentation (locking on) or on a fresh one (off), with
gradient-variance diagnostics."""

from __future__ import annotations

import math
from pathlib import Path

from vrdl import models
from vrdl.optim import registry
from vrdl.paths import variance_csv
from vrdl.stages.base import SideStage, seeds_note, variance_args, with_files

RUNS = "ablation/locking~{locking}/seed~{seed}"  # under results/NAME/ (vrdl.paths.side_runs)
ORDER = 3


class Ablation(SideStage):
    key = "ablation"
    extensions = (".csv", ".json", ".variance.csv")

    def each_run(self) -> list[dict]:
        return [dict(locking=locking, seed=seed) for locking in ("on", "off") for seed in self.spec["seeds"]]

    def run_args(self, run: dict) -> list[str]:
        args = variance_args(self.spec["variance"], self.spec["epochs"])
        return args + (["--no-transform-locking"] if run["locking"] == "off" else [])

    def title(self) -> str:
        a = self.spec
        title = a.get("title") or f"{a['optimizer']} on {a['model']} with augmentation"
        return f"{title}: transform locking on vs off ({seeds_note(a['seeds'])})"

    def manifest(self) -> dict:
        return dict(
            title=self.spec.get("title") or "Transform-locking ablation",
            setup=self.setup(extra=("optimizer", "hparams", "variance")),
            runs=[dict(run, csv=self.stem.format(**run) + ".csv", variance=variance_csv(self.stem.format(**run)))
                  for run in self.runs()],
            figure=self.paths.side_figure(self.key),
        )

    @classmethod
    def problems(cls, block: dict, config: dict) -> list[str]:
        entry = registry.get(block.get("optimizer", "svrg"))
        problems = entry.problems(block["hparams"], "ablation.hparams")
        if not problems and entry.reference_kind(block["hparams"]) == "none":  # MARS-approx
            problems.append(f"ablation.hparams: {entry.name} takes no second gradient with these settings, "
                            "so there is no augmentation to lock (mars: exact: true)")
        if max(block["variance"]["epochs"]) > block["epochs"]:
            problems.append(f"ablation.variance.epochs: beyond the run's {block['epochs']} epochs")
        if models.get(block["model"]).no_bn:
            problems.append(f"ablation.model: {block['model']} takes no batch norm (ablation.bn)")
        return problems

    @classmethod
    def optimizers_used(cls, block: dict) -> list[tuple[str, str]]:
        return [("ablation.optimizer", block.get("optimizer", "svrg"))]

    @staticmethod
    def draw(inputs, params, out) -> None:
        from vrdl import plots

        runs = with_files(params.runs, inputs.runs, variance=list(inputs.variance))
        plots.ablation_figure(runs, out, title=params.title, band=params.band)

    @classmethod
    def load_section(cls, section: dict, report_dir: Path) -> dict:
        import pandas as pd

        from vrdl.report_parts import fmt_spread, load_image, seeds_summary, setup_rows
        from vrdl.runs import read_variance

        groups: dict[str, list] = {}
        for run in section["runs"]:
            groups.setdefault(run["locking"], []).append(run)
        rows = []
        for locking, members in groups.items():
            summary = seeds_summary([m["csv"] for m in members])
            ratios = pd.concat([read_variance(m["variance"])[0] for m in members])["variance_ratio"]
            rows.append(dict(locking=locking, seeds=summary["seeds"], loss=fmt_spread(summary["loss"]),
                             acc=fmt_spread(summary["acc"]),
                             ratio=float(ratios.mean()) if len(ratios) else math.nan))
        return dict(title=section["title"], setup=setup_rows(section["setup"], None), rows=rows,
                    figure=load_image(section["figure"], report_dir, "transform-locking ablation"))


STAGE = Ablation
