"""The convex sanity study: multinomial logistic regression with an L2 term, each optimizer at a
fixed step size (no tuning), the training objective tracked every epoch."""

from __future__ import annotations

from pathlib import Path

from vrdl.optim import registry
from vrdl.optim.registry import format_value as fmt_value
from vrdl.stages.base import PlanError, SideStage, seeds_note, with_files

RUNS = "convex/{optimizer}/seed~{seed}"  # under results/NAME/ (vrdl.paths.side_runs)
ORDER = 2


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

    @classmethod
    def setting_of(cls, block: dict) -> dict:
        """The block as the size checks read it (vrdl.checks.size_problems): its model."""
        return dict(block, model="logreg")

    @classmethod
    def problems(cls, block: dict, config: dict) -> list[str]:
        return [p for optimizer, spec in block["optimizers"].items()
                for p in registry.get(optimizer).problems(spec["hparams"], f"convex.optimizers.{optimizer}.hparams")]

    @classmethod
    def optimizers_used(cls, block: dict) -> list[tuple[str, str]]:
        return [(f"convex.optimizers.{o}", o) for o in block["optimizers"]]

    @staticmethod
    def draw(inputs, params, out) -> None:
        from vrdl import plots

        plots.convex_figure(with_files(params.runs, inputs.runs), out, title=params.title, band=params.band)

    @classmethod
    def load_section(cls, section: dict, report_dir: Path) -> dict:
        import pandas as pd

        from vrdl.plots import suboptimality
        from vrdl.report_parts import fmt_hparams, load_image, setup_rows
        from vrdl.runs import read_run

        runs = section["runs"]
        curves, best = suboptimality([read_run(run["csv"]).curve for run in runs])
        groups: dict[str, list] = {}
        for run, curve in zip(runs, curves, strict=True):
            groups.setdefault(run["optimizer"], []).append((run, curve))
        rows = []
        for optimizer, members in groups.items():
            gaps = pd.Series([float(c["suboptimality"].iloc[-1]) for _, c in members])
            lowest = pd.Series([float(c["suboptimality"][c["suboptimality"] > 0].min()) for _, c in members])
            rows.append(dict(
                optimizer=optimizer, hparams=fmt_hparams(members[0][0]["hparams"]), seeds=len(members),
                epochs=int(members[0][1]["epoch"].iloc[-1]), grad_evals=int(members[0][1]["grad_evals"].iloc[-1]),
                gap=float(gaps.mean()), lowest=float(lowest.min()),
                acc=float(pd.Series([c["eval_acc"].iloc[-1] for _, c in members]).mean()),
            ))  # fmt: skip
        return dict(title=section["title"], setup=setup_rows(section["setup"], None), rows=rows, best=best,
                    figure=load_image(section["figure"], report_dir, "convex sanity study"))


STAGE = Convex
