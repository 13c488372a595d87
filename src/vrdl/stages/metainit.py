"""MetaInit: the same run without (variant off) and with (on) MetaInit, on the test set."""

from __future__ import annotations

from vrdl.optim.registry import format_value as fmt_value
from vrdl.stages.base import SideStage, with_paper_figure

VARIANTS = ("off", "on")


class MetaInit(SideStage):
    key, label = "metainit", "MetaInit"

    def each_run(self) -> list[dict]:
        return [dict(variant=variant) for variant in VARIANTS]

    def check(self, run: dict) -> None:
        pass  # one seed, and the workflow's wildcard constraint allows only the two variants

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
