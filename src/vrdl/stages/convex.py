"""The convex sanity study: multinomial logistic regression with an L2 term, each optimizer at a
fixed step size (no tuning), the training objective tracked every epoch."""

from __future__ import annotations

from vrdl.optim.registry import format_value as fmt_value
from vrdl.stages.base import PlanError, SideStage, seeds_note


class Convex(SideStage):
    key = "convex"

    def each_run(self) -> list[dict]:
        return [dict(optimizer=o, seed=s) for o in self.spec["optimizers"] for s in self.spec["seeds"]]

    def check(self, run: dict) -> None:
        if run["optimizer"] not in self.spec["optimizers"]:
            raise PlanError(f"{run['optimizer']} is not in convex.optimizers")
        super().check(run)

    def setting(self, run: dict) -> dict:
        # Logistic regression on the raw pixels (no augmentation): convex, and with l2 > 0
        # strongly convex, where SVRG's theory promises linear convergence.
        return dict(self.spec, model="logreg", augment="off")

    def optimizer(self, run: dict) -> str:
        return run["optimizer"]

    def hparams(self, run: dict) -> dict:
        return self.spec["optimizers"][run["optimizer"]]["hparams"]

    def epochs(self, run: dict) -> int:
        return self.spec["optimizers"][run["optimizer"]].get("epochs", self.spec["epochs"])

    def run_args(self, run: dict) -> list[str]:
        return ["--l2", fmt_value(self.spec["l2"]), "--track-objective"]

    def title(self) -> str:
        title = self.spec.get("title") or f"Logistic regression on {self.spec['dataset']}"
        return f"{title} (l2 = {self.spec['l2']:g}; {seeds_note(self.spec['seeds'])})"

    def manifest(self) -> dict:
        return dict(
            title=self.spec.get("title") or "Convex sanity check",
            setup=self.setup(("dataset", "l2", "epochs", "batch_size", "seeds", "train_subset", "eval_subset")),
            runs=[dict(run, hparams=self.hparams(run), csv=self.stem.format(**run) + ".csv") for run in self.runs()],
            figure=self.paths.side_figure(self.key),
        )
