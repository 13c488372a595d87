"""vrdl.plots' aggregation over seeds (the bands of the final figures) and the convex study's
suboptimality, on hand-made curves."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from vrdl.identity import run_record, sealed_json
from vrdl.optim.registry import OPTIMIZERS
from vrdl.plots import seed_band, suboptimality


def curve(losses, grad_per_epoch=100, column="eval_loss"):
    return pd.DataFrame({"epoch": range(len(losses)), "grad_evals": [grad_per_epoch * i for i in range(len(losses))],
                         column: losses})


def test_min_max_band_and_mean():
    seeds = [curve([2.0, 1.0, 0.5]), curve([2.0, 1.4, 0.3]), curve([2.0, 1.3, 0.4])]
    band = seed_band(seeds, "eval_loss")
    assert band["epoch"].tolist() == [0, 1, 2]
    assert band["grad_evals"].tolist() == [0, 100, 200]
    assert band["mean"].tolist() == pytest.approx([2.0, 3.7 / 3, 0.4])
    assert band["low"].tolist() == pytest.approx([2.0, 1.0, 0.3])
    assert band["high"].tolist() == pytest.approx([2.0, 1.4, 0.5])
    assert band["runs"].tolist() == [3, 3, 3]


def test_std_band_is_one_sample_std():
    seeds = [curve([1.0, 0.2]), curve([1.0, 0.4]), curve([1.0, 0.9])]
    band = seed_band(seeds, "eval_loss", band="std")
    std = np.std([0.2, 0.4, 0.9], ddof=1)
    assert band["low"].iloc[1] == pytest.approx(0.5 - std)
    assert band["high"].iloc[1] == pytest.approx(0.5 + std)
    assert band["low"].iloc[0] == band["high"].iloc[0] == 1.0


def test_one_seed_has_no_spread():
    band = seed_band([curve([1.0, 0.5])], "eval_loss", band="std")
    assert band["low"].tolist() == band["mean"].tolist() == band["high"].tolist() == [1.0, 0.5]


def test_diverged_or_missing_seed_leaves_a_gap():
    """A NaN/inf loss of one seed, or an epoch it never reached, has no mean: a diverged seed
    must not hide in the average of the others."""
    seeds = [curve([2.0, 1.0, 0.5]), curve([2.0, math.inf]), curve([2.0, 1.2, float("nan")])]
    band = seed_band(seeds, "eval_loss")
    assert band["mean"].iloc[0] == 2.0
    assert band[["mean", "low", "high"]].iloc[1:].isna().all().all()
    assert band["runs"].tolist() == [3, 2, 1]


def test_epoch_axis_for_variance_csvs():
    a = pd.DataFrame({"epoch": [1, 2, 3], "variance_ratio": [0.5, 0.6, 0.9]})
    b = pd.DataFrame({"epoch": [1, 2, 3], "variance_ratio": [0.7, 0.4, 1.1]})
    band = seed_band([a, b], "variance_ratio", x="epoch")
    assert list(band.columns) == ["epoch", "mean", "low", "high", "runs"]
    assert band["mean"].tolist() == pytest.approx([0.6, 0.5, 1.0])
    assert band["low"].tolist() == pytest.approx([0.5, 0.4, 0.9])


def test_unknown_band_is_an_error():
    with pytest.raises(ValueError, match="band must be one of"):
        seed_band([curve([1.0])], "eval_loss", band="iqr")


def test_suboptimality_is_against_the_best_of_all_runs():
    sgd = curve([2.3, 0.9, 0.8, 0.75], column="train_objective")
    svrg = curve([2.3, 0.8, 0.7001, 0.7], column="train_objective")
    (sgd_gap, svrg_gap), best = suboptimality([sgd, svrg])
    assert best == 0.7
    assert svrg_gap["suboptimality"].tolist() == pytest.approx([1.6, 0.1, 1e-4, 0.0])
    assert sgd_gap["suboptimality"].iloc[-1] == pytest.approx(0.05)


# ---------------------------------------------------------------------------- layout of every figure kind

LONG_TITLE = ("ResNet-18 (width 1/8) on Fashion-MNIST (demo of the CIFAR-10 study), BN off: gradient computations "
              "to reach the target test loss (best test loss of sgd (+5%)), mean of 2 seeds (paper: Figure 4.8)")


def _runs(tmp_path, curves, eval_split="test", **extra):
    """Final runs of constructed curves: {optimizer: [losses per seed]}."""
    from tests.workflow.test_select import write_run

    runs = []
    for optimizer, seeds in curves.items():
        for seed, losses in enumerate(seeds, start=1):
            csv = write_run(tmp_path / optimizer / f"seed~{seed}.csv", losses, {"lr": 0.1}, eval_split=eval_split,
                            optimizer=optimizer, seed=seed)
            runs.append(dict(optimizer=optimizer, seed=seed, csv=csv, **extra))
    return runs


def _with_variance(run, epochs=(1, 2, 3)):
    """Give a constructed run a RUN.variance.csv."""
    csv = run["csv"]
    frame = pd.DataFrame({"epoch": list(epochs), "batches": 4, "var_sgd": [1.0, 0.8, 0.6],
                          "var_svrg": [0.5, 0.3, 0.2], "variance_ratio": [0.5, 0.375, 0.33],
                          "storm_sq_error": [math.nan] * 3, "variance_ratio_se": [0.05, 0.04, 0.03]})
    path = csv.with_name(csv.stem + ".variance.csv")
    frame.to_csv(path, index=False, na_rep="nan")
    meta = json.loads(csv.with_suffix(".json").read_text())
    meta |= run_record(csv, csv.read_text(), path.read_text())  # the variance CSV's hash too, as vrdl writes it
    csv.with_suffix(".json").write_text(sealed_json({**meta, "variance_epochs": list(epochs)}))
    return path


# two seeds' curves of every registered optimizer: the figures must lay out all of them
EVERY_OPTIMIZER = {name: [[2.3, 1.2 + i / 10, 0.9 + i / 10, 0.7 + i / 20]] * 2 for i, name in enumerate(OPTIMIZERS)}


def draw(kind, tmp_path):
    from vrdl import plots
    from vrdl.claims import evaluate_claims, load_run

    out = [tmp_path / f"{kind}.png"]
    if kind == "tuning":
        runs = []
        for optimizer in ("sgd", "svrg", "storm", "adam"):
            for point in ("lr~0.1", "lr~0.01", "lr~0.001"):
                for fold in (0, 1):
                    [run] = _runs(tmp_path / "tune" / point / f"fold{fold}", {optimizer: [[2.3, 1.0, 0.8]]},
                                  eval_split="val")
                    runs.append(dict(run, point=point, split=f"fold~{fold}", hparams={"lr": 0.1}))
        return plots.tuning_figure(runs, out, title=LONG_TITLE)
    if kind == "final":
        runs = _runs(tmp_path, EVERY_OPTIMIZER)
        curves = {}
        for run in runs:
            curves.setdefault(run["optimizer"], []).append(run["csv"])
        return plots.test_curves_figure(curves, out, title=LONG_TITLE)
    if kind == "target":
        runs = _runs(tmp_path, dict(EVERY_OPTIMIZER, svrg=[[2.3, 2.2, 2.1, 2.0]] * 2))  # svrg: did not reach
        return plots.time_to_target_figure(runs, {"reference": "sgd", "slack": 0.05}, out, title=LONG_TITLE)
    if kind == "target_at_start":
        runs = _runs(tmp_path, {"sgd": [[2.3, 2.4]], "adam": [[2.3, 2.5]]})
        return plots.time_to_target_figure(runs, {"reference": "sgd"}, out, title=LONG_TITLE)
    if kind == "variance":
        runs = []
        for bn in ("on", "off"):
            for run in _runs(tmp_path / bn, EVERY_OPTIMIZER):
                runs.append(dict(run, bn=bn, csv=_with_variance(run)))
        return plots.variance_figure(runs, out, title=LONG_TITLE)
    if kind == "convex":
        runs = _runs(tmp_path, {name: EVERY_OPTIMIZER[name] for name in ("sgd", "svrg", "storm")})
        for run in runs:
            frame = pd.read_csv(run["csv"])
            frame["train_objective"] = frame["eval_loss"]
            frame.to_csv(run["csv"], index=False)
            meta = json.loads(run["csv"].with_suffix(".json").read_text())
            meta |= run_record(run["csv"], run["csv"].read_text())
            run["csv"].with_suffix(".json").write_text(sealed_json(meta))
        return plots.convex_figure(runs, out, title=LONG_TITLE)
    if kind == "ablation":
        runs = []
        for locking in ("on", "off"):
            for run in _runs(tmp_path / locking, {"svrg": EVERY_OPTIMIZER["svrg"]}):
                runs.append(dict(run, locking=locking, variance=_with_variance(run)))
        return plots.ablation_figure(runs, out, title=LONG_TITLE)
    if kind == "metainit":  # two variants of one optimizer, labelled by the variant
        runs = _runs(tmp_path, {"svrg": EVERY_OPTIMIZER["svrg"][:1], "sgd": EVERY_OPTIMIZER["sgd"][:1]})
        return plots.test_curves_figure({"with MetaInit": [runs[0]["csv"]], "without MetaInit": [runs[1]["csv"]]},
                                        out, title=LONG_TITLE)
    if kind == "dodge":
        values = {name: [0.9 - i / 10, 1.2, math.inf, 0.8 + i / 20][: 2 + i % 3] for i, name in enumerate(OPTIMIZERS)}
        return plots.expected_best_figure(values, out, title=LONG_TITLE)
    if kind in ("claims", "strip"):
        flat = [[2.3, 2.3, 2.3, 2.3]] * 2  # did not learn: long setting labels on the left
        runs = _runs(tmp_path, dict(EVERY_OPTIMIZER, adagrad=flat, sgd=flat, storm=flat))
        finals = {}
        for run in runs:
            finals.setdefault(run["optimizer"], []).append(load_run(run["csv"]))
        claims = evaluate_claims({("lenet_mnist", "off"): finals, ("resnet18_cifar10", "on"): finals},
                                 {"lenet_mnist": "lenet", "resnet18_cifar10": "resnet18"})
        return (plots.claims_figure if kind == "claims" else plots.verdict_strip_figure)(claims, title=LONG_TITLE)
    raise ValueError(kind)


def layout_problems(figure) -> list[str]:
    """What a reader would see wrong: text cut off at the figure's edge, a legend over a title or
    over any panel's data area."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.legend import Legend
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = figure.bbox
    problems = []

    def outside(box) -> bool:
        return box.x0 < page.x0 - 1 or box.x1 > page.x1 + 1 or box.y0 < page.y0 - 1 or box.y1 > page.y1 + 1

    # each panel with everything drawn around it (tick labels, axis labels, title, its legend)
    problems += [f"panel {i} reaches outside the figure" for i, ax in enumerate(figure.axes)
                 if ax.get_visible() and outside(ax.get_tightbbox(renderer))]
    for text in [*figure.texts, figure._suptitle, *figure.findobj(Legend)]:
        if text is not None and text.get_visible() and outside(text.get_window_extent(renderer)):
            label = text.get_text() if isinstance(text, Text) else "legend"
            problems.append(f"{label[:40]!r} reaches outside the figure")
    titles = [ax.title for ax in figure.axes] + [t for t in (figure._suptitle,) if t is not None]
    for legend in figure.findobj(Legend):
        box = legend.get_window_extent(renderer)
        problems += [f"legend over title {t.get_text()[:40]!r}" for t in titles
                     if t.get_text() and box.overlaps(t.get_window_extent(renderer))]
        problems += [f"legend over the data of panel {i}" for i, ax in enumerate(figure.axes)
                     if ax.get_visible() and box.overlaps(ax.bbox)]
    return problems


FIGURE_KINDS = ("tuning", "final", "target", "target_at_start", "variance", "convex", "ablation", "metainit", "claims",
                "strip", "dodge")


@pytest.mark.parametrize("kind", FIGURE_KINDS)
def test_every_figure_kind_keeps_text_inside_and_legends_clear(kind, tmp_path):
    figure = draw(kind, tmp_path)
    assert layout_problems(figure) == []
    title = figure._suptitle
    assert title.get_text().replace("\n", " ") == LONG_TITLE  # wrapped, not cut


def test_each_optimizer_has_one_colour_and_marker_everywhere(tmp_path):
    from matplotlib.colors import to_hex

    from vrdl.optim import registry
    from vrdl.plots import style

    styles = {name: (style(name)["color"], style(name)["marker"]) for name in registry.OPTIMIZERS}
    assert len(set(styles.values())) == len(styles)  # no two optimizers look alike
    assert style("lion") == style("lion")  # a new optimizer: a fixed spare style
    for kind in ("final", "variance", "convex"):
        for ax in draw(kind, tmp_path / kind).axes:
            for line in ax.get_lines():
                name = line.get_label().split(" ")[0].rstrip(",")
                if name in styles:
                    assert to_hex(line.get_color()) == styles[name][0], (kind, name)
                    if "BN off" not in line.get_label():  # a second variant: the colour, another marker
                        assert line.get_marker() == styles[name][1], (kind, name)


@pytest.mark.parametrize("kind", FIGURE_KINDS)
def test_no_two_series_of_a_figure_share_colour_and_marker(kind, tmp_path):
    """Within every panel, each labelled series (a curve with a legend entry) has its own colour
    and marker: "with MetaInit" and "without", "locking on" and "off", SVRG with BN on and off
    never look alike; grid points of a tuning panel never take an optimizer's colour."""
    from matplotlib.colors import to_hex

    from vrdl.plots import STYLES

    for ax in draw(kind, tmp_path).axes:
        series = [(line.get_label(), to_hex(line.get_color()), line.get_marker()) for line in ax.get_lines()
                  if not line.get_label().startswith("_") and len(line.get_xdata()) > 1]
        looks = [(color, marker) for _, color, marker in series]
        assert len(set(looks)) == len(looks), (kind, series)
        if kind == "tuning":
            assert not {color for _, color, _ in series} & {c for c, _ in STYLES.values()}, series


def test_an_accuracy_axis_of_runs_at_chance_is_not_a_zoom_into_noise(tmp_path):
    """Constant accuracy (0.5 in every row here, as at chance): the axis spans 0-1, not 0.49-0.51."""
    from vrdl import plots

    runs = _runs(tmp_path, {"sgd": [[2.3, 2.29, 2.28]], "svrg": [[2.3, 2.3, 2.29]]})
    figure = plots.test_curves_figure({r["optimizer"]: [r["csv"]] for r in runs}, [tmp_path / "f.png"])
    assert figure.axes[1].get_ylim() == (0.0, 1.0)
