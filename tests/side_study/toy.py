"""A user's own side study, from its files alone (tests/workflow/test_side_study.py puts this module
in vrdl/stages/, toy.schema.yaml beside it, toy.smk in workflow/rules/ and toy.html.j2 in
vrdl/templates/): the same SGD run at a low and a high step size, one figure, one report section."""

from __future__ import annotations

from pathlib import Path

from vrdl.stages.base import PlanError, SideStage

RUNS = "toy/arm~{arm}"  # under results/NAME/ (vrdl.paths.side_runs)
ORDER = 50  # after the built-in side studies
ARMS = ("low", "high")


class Toy(SideStage):
    key = "toy"

    def each_run(self) -> list[dict]:
        return [dict(arm=arm) for arm in ARMS]

    def check(self, run: dict) -> None:
        if run["arm"] not in ARMS:
            raise PlanError(f"toy: no arm {run['arm']}")

    def optimizer(self, run: dict) -> str:
        return "sgd"

    def hparams(self, run: dict) -> dict:
        return {"lr": self.spec["lr"][run["arm"]]}

    def seed(self, run: dict) -> int:
        return 1

    def title(self) -> str:
        return f"SGD at two step sizes on {self.spec['dataset']}"

    def manifest(self) -> dict:
        return dict(title="Toy: two step sizes", setup=self.setup(("dataset", "model", "epochs", "train_subset")),
                    runs=[dict(run, csv=self.stem.format(**run) + ".csv") for run in self.runs()],
                    figure=self.paths.side_figure(self.key))

    @classmethod
    def problems(cls, block: dict, config: dict) -> list[str]:
        return [] if block["lr"]["low"] < block["lr"]["high"] else ["toy.lr: low must be below high"]

    @classmethod
    def optimizers_used(cls, block: dict) -> list[tuple[str, str]]:
        return [("toy", "sgd")]

    @staticmethod
    def draw(inputs, params, out) -> None:
        from vrdl import plots

        curves = {run["arm"]: [path] for run, path in zip(params.runs, inputs.runs, strict=True)}
        plots.test_curves_figure(curves, out, title=params.title)

    @classmethod
    def load_section(cls, section: dict, report_dir: Path) -> dict:
        from vrdl.report_parts import load_image, run_summary, setup_rows

        rows = [dict(arm=run["arm"], **run_summary(run["csv"])) for run in section["runs"]]
        return dict(title=section["title"], setup=setup_rows(section["setup"], None), rows=rows,
                    figure=load_image(section["figure"], report_dir, "toy study"))


STAGE = Toy
