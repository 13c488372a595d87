"""The transform-locking ablation: the same SVRG (or STORM) run on augmented data with both
gradients of a step on the same augmentation (locking on) or on a fresh one (off), with
gradient-variance diagnostics."""

from __future__ import annotations

from vrdl.paths import variance_csv
from vrdl.stages.base import SideStage, seeds_note, variance_args


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
