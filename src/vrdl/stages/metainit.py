"""MetaInit: the same run without (variant off) and with (on) MetaInit, on the test set."""

from __future__ import annotations

from pathlib import Path

from vrdl.optim import registry
from vrdl.optim.registry import format_value as fmt_value
from vrdl.stages.base import SideStage, with_paper_figure

RUNS = "metainit/metainit~{variant}"  # under results/NAME/ (vrdl.paths.side_runs)
ORDER = 1  # the report's first side study
VARIANTS = ("off", "on")


class MetaInit(SideStage):
    key, label = "metainit", "MetaInit"

    def each_run(self) -> list[dict]:
        return [dict(variant=variant) for variant in VARIANTS]

    def check(self, run: dict) -> None:
        pass  # one seed, and the rule file's wildcard constraint allows only the two variants

    def seed(self, run: dict) -> int:
        return self.spec["seed"]

    def run_args(self, run: dict) -> list[str]:
        args = ["--cache-snapshot-grads"] if self.spec.get("cache_snapshot_grads") else []
        if run["variant"] == "on":
            m = self.spec["metainit"]
            args += [
                "--metainit",
                "--metainit-steps", str(m["steps"]),
                "--metainit-lr", fmt_value(m["lr"]),
                "--metainit-momentum", fmt_value(m["momentum"]),
                "--metainit-eps", fmt_value(m["eps"]),
                "--metainit-data", m["data"],
            ]  # fmt: skip
        return args

    def title(self) -> str:
        title = self.spec.get("title") or f"{self.spec['optimizer']} on {self.spec['model']}"
        return with_paper_figure(title, self.spec.get("paper", {}).get("figure"))

    def manifest(self) -> dict:
        return dict(
            title=self.spec.get("title") or "MetaInit",
            setup=self.setup(extra=("optimizer", "hparams", "metainit")),
            paper=self.spec.get("paper", {}),
            runs={run["variant"]: self.stem.format(**run) + ".csv" for run in self.runs()},
            figure=self.paths.side_figure(self.key),
        )

    @classmethod
    def problems(cls, block: dict, config: dict) -> list[str]:
        entry = registry.get(block["optimizer"])
        problems = entry.problems(block["hparams"], "metainit.hparams")
        if block.get("cache_snapshot_grads") and entry.reference != "snapshot":
            problems.append("metainit.cache_snapshot_grads: only for optimizers with snapshots (svrg, alpha_svrg)")
        return problems

    @staticmethod
    def draw(inputs, params, out) -> None:
        from vrdl import plots

        curves = {label: [path] for label, path in zip(params.labels, inputs.runs, strict=True)}
        plots.test_curves_figure(curves, out, title=params.title)

    @classmethod
    def load_section(cls, section: dict, report_dir: Path) -> dict:
        from vrdl.report_parts import load_image, run_summary, setup_rows

        rows = []
        for variant, csv_path in section["runs"].items():
            s = run_summary(csv_path)
            mi = s["meta"].get("metainit") or {}
            rows.append(dict(run="with MetaInit" if variant == "on" else "without MetaInit",
                             gq_before=mi.get("gq_before"), gq_after=mi.get("gq_after"), epochs=s["epochs"],
                             grad_evals=s["grad_evals"], loss=s["loss"], acc=s["acc"], best_loss=s["best_loss"]))
        return dict(title=section["title"], setup=setup_rows(section["setup"], None), rows=rows,
                    paper_figure=(section.get("paper") or {}).get("figure"),
                    figure=load_image(section["figure"], report_dir, "MetaInit comparison"))

    @classmethod
    def run_csvs(cls, section: dict) -> list[str]:
        return list(section["runs"].values())

    @classmethod
    def claim_runs(cls, section: dict) -> dict:
        return {"with": section["runs"]["on"], "without": section["runs"]["off"]}


STAGE = MetaInit
