"""The study's one-page HTML report: a demo notice when any part ran on data subsets, what was
run, the selected hyperparameters beside the paper's, final test loss/accuracy per optimizer (over
seeds), the study's claims checked against the results (vrdl.claims; with each verdict's noise
estimate and the runs that did not learn), the extensions (gradient variance, the convex sanity
study, the transform-locking ablation), and all figures (PNGs embedded, so the page is
self-contained; PDFs linked relative to it).

`write_report` takes the manifest the workflow's `report` rule builds: which files hold what.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Mapping
from html import escape
from pathlib import Path

import pandas as pd

from vrdl import claims as study_claims
from vrdl import targets
from vrdl.runs import check_same_data, listed_files_data, read_run
from vrdl.select import check_selections, read_tsv

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; } .muted { color: #777; font-size: .9em; }
.same { color: #1a7f37; } .differs { color: #b35900; } details { margin: .5em 0 1.5em; }
.holds { color: #1a7f37; font-weight: 600; } .fails { color: #b3261e; font-weight: 600; }
.inconclusive { color: #8a6d00; font-weight: 600; } .notrun { color: #777; }
.demo { background: #fff4e0; border: 1px solid #e0a040; padding: .6em 1em; }
"""


def fmt_number(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


def fmt_hparams(hparams: Mapping | None) -> str:
    if not hparams:
        return "–"
    return ", ".join(f"{key}={_fmt_value(value)}" for key, value in sorted(hparams.items()))


def _fmt_value(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:g}"


def _same_hparams(ours: Mapping, paper: Mapping) -> bool:
    return all(key in ours and ours[key] == value for key, value in paper.items())


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(png: str | Path, report_dir: Path, alt: str) -> str:
    png = Path(png)
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    pdf = png.with_suffix(".pdf")
    link = ""
    if pdf.exists():
        link = f'<div class="muted"><a href="{escape(os.path.relpath(pdf, report_dir))}">PDF</a></div>'
    return f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{data}">{link}</figure>'


def run_summary(csv_path: str | Path) -> dict:
    """Final-epoch and best test numbers of one run, with its JSON."""
    run = read_run(csv_path)  # the checked reader select and the figures use (vrdl.runs)
    curve, meta = run.curve, run.meta
    last = curve.iloc[-1]
    finite = curve[curve["eval_loss"].map(lambda x: math.isfinite(x))]
    return dict(
        meta=meta,
        epochs=int(last["epoch"]),
        grad_evals=int(last["grad_evals"]),
        loss=float(last["eval_loss"]),
        acc=float(last["eval_acc"]),
        best_loss=float(finite["eval_loss"].min()) if len(finite) else math.nan,
        wall_s=float(last["wall_s"]),
    )


def seeds_summary(csv_paths) -> dict:
    """Final-epoch test numbers of the runs of one setting (one per seed): mean, std (ddof 1)
    and the runs' summaries."""
    runs = [run_summary(path) for path in ([csv_paths] if isinstance(csv_paths, str | Path) else csv_paths)]

    def stats(key):
        values = pd.Series([r[key] for r in runs], dtype=float)
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan

    return dict(runs=runs, seeds=len(runs), loss=stats("loss"), acc=stats("acc"), best_loss=stats("best_loss"),
                diverged=sum(bool(r["meta"].get("diverged")) for r in runs))


def fmt_spread(stat: tuple[float, float]) -> str:
    mean, std = stat
    return fmt_number(mean) + (f" ± {std:.2g}" if math.isfinite(std) else "")


def _setup_rows(setup: Mapping, selection: Mapping | None) -> list[list[str]]:
    rows = []
    if selection == "paper":
        rows.append(["selection", "none: the final runs use the paper's selected hyperparameters"])
    elif selection:
        if "folds" in selection:
            rows.append(["selection", f"{selection['folds']}-fold cross-validation"])
        else:
            rows.append(["selection", f"hold-out of {selection['val_fraction']:g} of the training set"])
    for key, value in setup.items():
        if value is None:
            continue
        if key == "bn":
            value = ", ".join("on" if v in (True, "on") else "off" for v in value) if isinstance(value, list) else (
                "on" if value in (True, "on") else "off"
            )
        elif isinstance(value, Mapping):
            value = fmt_hparams(value) if key == "hparams" else ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        rows.append([escape(key), escape(str(value))])
    return rows


def _study_section(study: Mapping, report_dir: Path) -> str:
    parts = [f'<h2 id="{escape(study["name"])}">{escape(study["title"])}</h2>']
    rows = _setup_rows(study["setup"], study["selection"])
    if study.get("tune_seeds"):
        rows.append(["seeds of the tune runs", escape(", ".join(str(s) for s in study["tune_seeds"]))])
    parts.append(_table(["setting", "value"], rows))
    grid_rows = [
        [
            escape(name),
            escape("; ".join(f"{k} ∈ {{{', '.join(f'{v:g}' for v in vals)}}}" for k, vals in spec["grid"].items())),
            escape(fmt_hparams(spec["fixed"])),
            str(spec["points"]),
            str(spec["epochs"]),
        ]
        for name, spec in study["optimizers"].items()
    ]
    parts.append(_table(["optimizer", "grid", "fixed", "points", "epochs"], grid_rows))

    for setting in study["settings"]:
        paper = setting.get("paper") or {}
        paper_selected = paper.get("selected", {})
        table_ref = f" (Table {paper['table']})" if paper.get("table") else ""
        parts.append(f"<h3>BN {escape(setting['bn'])}</h3>")

        if setting.get("hparams_from") == "paper":  # `selection: paper`: nothing tuned or selected
            chosen = setting["hparams"]
            parts.append(f"<h4>Hyperparameters taken from the paper{escape(table_ref)}, not selected</h4>")
            parts.append(_table(["optimizer", "hyperparameters (the paper's)"],
                                [[escape(o), escape(fmt_hparams(h))] for o, h in chosen.items()]))
        else:
            chosen = _selection_tables(parts, setting, paper_selected, table_ref)
        final_rows = []
        n_seeds = 1
        for optimizer, csv_paths in setting["finals"].items():
            summary = seeds_summary(csv_paths)
            n_seeds = summary["seeds"]
            s = summary["runs"][0]
            # The selected hyperparameters as the run recorded them (its JSON also lists the
            # optimizer's other, default settings).
            recorded = s["meta"].get("hparams") or {}
            as_run = {key: recorded.get(key, "missing") for key in chosen.get(optimizer, recorded)}
            final_rows.append([
                escape(optimizer), escape(fmt_hparams(as_run)), str(s["epochs"]),
                fmt_number(s["grad_evals"]), str(summary["seeds"]), fmt_spread(summary["loss"]),
                fmt_spread(summary["acc"]), fmt_spread(summary["best_loss"]),
                f"{summary['diverged']} / {summary['seeds']}",
            ])  # fmt: skip
        spread = " (mean ± std over seeds)" if n_seeds > 1 else ""
        parts.append(f"<h4>Final runs on the test set{spread}</h4>")
        parts.append(_table(
            ["optimizer", "hyperparameters (as run)", "epochs", "gradient computations", "seeds",
             "final test loss", "final test acc.", "best test loss", "diverged runs"],
            final_rows, numeric={2, 3, 4, 5, 6, 7},
        ))  # fmt: skip
        if setting.get("time_to_target"):
            parts.append(_target_table(setting))
        figure_ref = f" (paper: Figure {paper['figure']})" if paper.get("figure") else ""
        parts.append(f"<h4>Figures{escape(figure_ref)}</h4>")
        for kind, png in setting["figures"].items():
            parts.append(_image(png, report_dir, f"{study['name']} BN {setting['bn']} {kind}"))
        if n_seeds > 1:
            parts.append(f'<p class="muted">Final curves: mean of {n_seeds} seeds, the band spans their '
                         "minimum to maximum.</p>")
    if study.get("variance"):
        parts.append(_variance_section(study, report_dir))
    return "\n".join(parts)


def _target_table(setting: Mapping) -> str:
    """Gradient computations and wall time each optimizer's final runs need to first reach the
    setting's target test loss (vrdl.targets); "did not reach" is a result."""
    runs = {name: [read_run(p).curve for p in ([paths] if isinstance(paths, str) else paths)]
            for name, paths in setting["finals"].items()}
    try:
        target = targets.study_target(setting["time_to_target"], runs)
    except ValueError as err:  # e.g. every reference run diverged: no target to reach
        return f'<h4>Time to target</h4><p class="muted">No target: {escape(str(err))}.</p>'
    rows, at_start = [], []
    for row in targets.time_to_target(runs, target):
        reached = "did not reach" if not row.reached else f"{row.reached} / {row.runs}"
        rows.append([escape(row.optimizer), reached, fmt_number(row.grad_evals), fmt_number(row.wall_s, 3)])
        if row.grad_evals == 0:
            at_start.append(row.optimizer)
    note = ""
    if at_start:  # the reference learned nothing, or the target was set above the starting loss
        note = (f'<p class="inconclusive">{escape(", ".join(at_start))} reached the target before any update: '
                "it is not below their starting test loss, so this table says nothing about them.</p>")
    return (f"<h4>Time to target: test loss {fmt_number(target.loss)} ({escape(target.source)})</h4>"
            '<p class="muted">The first epoch at which a final run\'s test loss is at or below the target; '
            "median over the seeds that reach it. Wall time is the run's own training time (it depends on "
            "the machine and on how many jobs shared it).</p>"
            + _table(["optimizer", "seeds that reach it", "gradient computations", "wall time (s)"], rows,
                     numeric={2, 3}) + note)


def _selection_tables(parts: list, setting: Mapping, paper_selected: Mapping, table_ref: str) -> dict:
    """The selected hyperparameters beside the paper's, and every grid point; returns the choice."""
    selected = read_tsv(setting["selected"])
    chosen = {row.optimizer: json.loads(row.hparams) for row in selected.itertuples(index=False)}
    rows = []
    for row in selected.itertuples(index=False):
        ours = json.loads(row.hparams)
        theirs = paper_selected.get(row.optimizer)
        if theirs is None:
            verdict = ""
        elif _same_hparams(ours, theirs):
            verdict = '<span class="same">same</span>'
        else:
            verdict = '<span class="differs">differs</span>'
        rows.append([
            escape(row.optimizer), escape(fmt_hparams(ours)), escape(fmt_hparams(theirs)), verdict,
            fmt_number(row.mean_val_loss), fmt_number(row.std_val_loss), str(row.folds),
            f"{row.diverged} / {row.points}",
        ])  # fmt: skip
    parts.append(f"<h4>Selected hyperparameters{escape(table_ref)}</h4>")
    parts.append(_table(
        ["optimizer", "selected (ours)", f"paper{table_ref}", "ours vs paper", "mean val. loss", "std",
         "runs (folds × seeds)", "diverged runs / points"],
        rows, numeric={4, 5, 6},
    ))  # fmt: skip

    tuning = read_tsv(setting["tuning"])
    detail_rows = [
        [escape(r.optimizer), escape(fmt_hparams(json.loads(r.hparams))), fmt_number(r.mean_val_loss),
         fmt_number(r.std_val_loss), str(r.folds), str(r.diverged)]
        for r in tuning.itertuples(index=False)
    ]  # fmt: skip
    parts.append(
        "<details><summary>All grid points</summary>"
        + _table(["optimizer", "hyperparameters", "mean val. loss", "std", "runs", "diverged"],
                 detail_rows, numeric={2, 3, 4, 5})
        + "</details>"
    )  # fmt: skip
    return chosen


def _variance_section(study: Mapping, report_dir: Path) -> str:
    variance = study["variance"]
    settings = variance.get("settings", {})
    parts = [f'<h3 id="{escape(study["name"])}-variance">Gradient variance of the final runs</h3>',
             "<p>After epochs " + escape(", ".join(str(e) for e in settings.get("epochs", [])))
             + f" of each final run, over {escape(str(settings.get('batches', '')))} minibatches at the "
             "current iterate: the variance of the plain minibatch gradient (Var[SGD]) and of the SVRG "
             "estimator g_B(w) - g_B(w~) + mu (Var[SVRG]; snapshot w~: SVRG's own, for other optimizers "
             "the iterate at the start of the epoch), and their ratio (below 1: the variance is reduced; "
             "after Defazio &amp; Bottou 2019).</p>"]
    groups: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for run in variance["runs"]:
        groups.setdefault((run["optimizer"], run["bn"]), []).append(pd.read_csv(run["csv"]))
    rows = []
    for (optimizer, bn), frames in groups.items():
        frames = [f for f in frames if len(f)]
        if not frames:
            continue
        first = pd.concat([f.iloc[[0]] for f in frames])
        last = pd.concat([f.iloc[[-1]] for f in frames])
        rows.append([
            escape(optimizer), escape(bn), str(len(frames)),
            f"{int(first['epoch'].iloc[0])} / {int(last['epoch'].iloc[0])}",
            fmt_number(float(first["variance_ratio"].mean())), fmt_number(float(last["variance_ratio"].mean())),
            fmt_number(float(last["var_sgd"].mean())), fmt_number(float(last["var_svrg"].mean())),
        ])  # fmt: skip
    parts.append(_table(
        ["optimizer", "BN", "seeds", "epochs (first / last)", "ratio, first", "ratio, last",
         "Var[SGD], last", "Var[SVRG], last"],
        rows, numeric={2, 4, 5, 6, 7},
    ))  # fmt: skip
    parts.append(_image(variance["figure"], report_dir, f"{study['name']} gradient variance"))
    return "\n".join(parts)


def _metainit_section(meta: Mapping, report_dir: Path) -> str:
    parts = [f'<h2 id="metainit">{escape(meta["title"])}</h2>']
    parts.append(_table(["setting", "value"], _setup_rows(meta["setup"], None)))
    rows = []
    for variant, csv_path in meta["runs"].items():
        s = run_summary(csv_path)
        mi = s["meta"].get("metainit") or {}
        rows.append([
            "with MetaInit" if variant == "on" else "without MetaInit",
            fmt_number(mi.get("gq_before")), fmt_number(mi.get("gq_after")), str(s["epochs"]),
            fmt_number(s["grad_evals"]), fmt_number(s["loss"]), fmt_number(s["acc"]),
            fmt_number(s["best_loss"]),
        ])  # fmt: skip
    parts.append(_table(
        ["run", "GQ before", "GQ after", "epochs", "gradient computations", "final test loss",
         "final test acc.", "best test loss"],
        rows, numeric={1, 2, 3, 4, 5, 6, 7},
    ))  # fmt: skip
    figure = meta.get("paper", {}).get("figure")
    if figure:
        parts.append(f"<h4>Figure (paper: Figure {escape(figure)})</h4>")
    parts.append(_image(meta["figure"], report_dir, "MetaInit comparison"))
    return "\n".join(parts)


def _verdict(verdict: str) -> str:
    if verdict.startswith(study_claims.INCONCLUSIVE):
        css = "inconclusive"
    else:
        css = {study_claims.HOLDS: "holds", study_claims.FAILS: "fails"}.get(verdict, "notrun")
    return f'<span class="{css}">{escape(verdict)}</span>'


def _runs(paths) -> list:
    return [study_claims.load_run(path) for path in ([paths] if isinstance(paths, str) else paths)]


def load_claims_inputs(manifest: Mapping):
    """vrdl.claims.evaluate_claims's inputs from the manifest: the final runs per (study, BN) and
    optimizer (one per seed), the studies' models, the MetaInit runs, the selected points'
    tune-run spreads (selected.tsv) per (study, BN) and optimizer, and the seeds per study."""
    finals, models, seeds, spreads = {}, {}, {}, {}
    for study in manifest["studies"]:
        models[study["name"]] = study.get("model", "")
        for setting in study["settings"]:
            key = (study["name"], setting["bn"])
            finals[key] = {optimizer: _runs(paths) for optimizer, paths in setting["finals"].items()}
            seeds[study["name"]] = max((len(v) for v in finals[key].values()), default=0)
            spreads[key] = {
                row.optimizer: study_claims.TuneSpread(float(row.std_val_loss), int(row.folds), int(row.seeds))
                for row in read_tsv(setting["selected"]).itertuples(index=False)
            }
    metainit = None
    if manifest.get("metainit"):
        runs = manifest["metainit"]["runs"]
        metainit = {"with": _runs(runs["on"]), "without": _runs(runs["off"])}
    return finals, models, metainit, spreads, seeds


def _claims_section(manifest: Mapping) -> str:
    finals, models, metainit, spreads, seeds = load_claims_inputs(manifest)
    claims = study_claims.evaluate_claims(finals, models, metainit, spreads)
    rows = [[escape(c.claim), escape(c.evidence), escape(c.noise), _verdict(c.verdict)] for c in claims]
    seed_text = "; ".join(f"{escape(name)}: {n}" for name, n in seeds.items())
    if metainit:
        seed_text += "; MetaInit comparison: 1"
    parts = [
        '<h2 id="claims">Claims of the study, checked against these results</h2>',
        "<p>Each claim of the study's conclusion (Apostolov 2021), and two of the papers since that say "
        "variance reduction does help when done differently (alpha-SVRG, MARS; \"not run\" unless the config "
        "has them), evaluated by <code>vrdl.claims</code> on the final runs: test losses compared at the "
        "largest gradient budget all runs of a setting "
        "reached, shown as value ± noise (the standard error of the compared value). The noise comes "
        "from the spread over seeds (std / √seeds of the mean) when the finals have several seeds, "
        "else from the spread of the selected point's final validation loss over its tune runs "
        "(folds; std of one run, as each final is one run), else there is none. A comparison holds "
        f"when its gap (positive: the claimed way) exceeds {study_claims.DECISIVE:g} × its noise, "
        "does not hold when the opposite gap does, and is inconclusive in between or without a "
        "noise estimate (the gap is shown either way). A claim resting on runs that did not learn is "
        "inconclusive before any of that.</p>",
        f'<p class="muted">Seeds per final run: {seed_text}.</p>',
        _table(["claim", "evidence (test loss)", "noise estimate", "verdict"], rows),
    ]
    failures = study_claims.did_not_learn(finals, metainit)
    if failures:
        parts.append(
            f'<p class="inconclusive">Runs that did not learn ({len(failures)}): their final test '
            "accuracy is within a margin of chance, or their test loss never fell "
            f"{study_claims.LOSS_DROP:.0%} below its start. Claims resting on them are inconclusive.</p>"
            "<ul>" + "".join(f"<li>{escape(f)}</li>" for f in failures) + "</ul>"
        )
    return "\n".join(parts)


def _convex_section(convex: Mapping, report_dir: Path) -> str:
    from vrdl.plots import suboptimality

    parts = [f'<h2 id="convex">{escape(convex["title"])}</h2>',
             "<p>Multinomial logistic regression with an L2 term (strongly convex), each optimizer at a "
             "fixed step size (no tuning), the full training objective tracked every epoch. Theory "
             "(Johnson &amp; Zhang 2013) promises SVRG linear convergence here: a straight line on the "
             "log axis, where SGD with a constant step stalls at a noise floor.</p>",
             _table(["setting", "value"], _setup_rows(convex["setup"], None))]
    runs = convex["runs"]
    curves, best = suboptimality([read_run(run["csv"]).curve for run in runs])
    groups: dict[str, list] = {}
    for run, curve in zip(runs, curves, strict=True):
        groups.setdefault(run["optimizer"], []).append((run, curve))
    rows = []
    for optimizer, members in groups.items():
        gaps = pd.Series([float(c["suboptimality"].iloc[-1]) for _, c in members])
        lowest = pd.Series([float(c["suboptimality"][c["suboptimality"] > 0].min()) for _, c in members])
        rows.append([
            escape(optimizer), escape(fmt_hparams(members[0][0]["hparams"])), str(len(members)),
            str(int(members[0][1]["epoch"].iloc[-1])), fmt_number(int(members[0][1]["grad_evals"].iloc[-1])),
            fmt_number(float(gaps.mean())), fmt_number(float(lowest.min())),
            fmt_number(float(pd.Series([c["eval_acc"].iloc[-1] for _, c in members]).mean())),
        ])  # fmt: skip
    parts.append(_table(
        ["optimizer", "hyperparameters (fixed)", "seeds", "epochs", "gradient computations",
         "final objective - best", "lowest nonzero objective - best", "final test acc."],
        rows, numeric={2, 3, 4, 5, 6, 7},
    ))  # fmt: skip
    parts.append(f'<p class="muted">best objective reached by any run: {best:.8g}</p>')
    parts.append(_image(convex["figure"], report_dir, "convex sanity study"))
    return "\n".join(parts)


def _ablation_section(ablation: Mapping, report_dir: Path) -> str:
    parts = [f'<h2 id="ablation">{escape(ablation["title"])}</h2>',
             "<p>The same run on augmented data with transform locking on (both gradients of a "
             "step see the same augmentation, as Defazio &amp; Bottou 2019 do) and off (the "
             "reference gradient sees a fresh augmentation of the same samples, as the study's "
             "original code did).</p>",
             _table(["setting", "value"], _setup_rows(ablation["setup"], None))]
    groups: dict[str, list] = {}
    for run in ablation["runs"]:
        groups.setdefault(run["locking"], []).append(run)
    rows = []
    for locking, members in groups.items():
        summary = seeds_summary([m["csv"] for m in members])
        ratios = [pd.read_csv(m["variance"]) for m in members]
        mean_ratio = pd.concat(ratios)["variance_ratio"].mean() if ratios else math.nan
        rows.append([
            escape(locking), str(summary["seeds"]), fmt_spread(summary["loss"]), fmt_spread(summary["acc"]),
            fmt_number(float(mean_ratio)),
        ])  # fmt: skip
    parts.append(_table(
        ["transform locking", "seeds", "final test loss", "final test acc.",
         "variance ratio (mean over measured epochs; each run's own estimator)"],
        rows, numeric={1, 2, 3, 4},
    ))  # fmt: skip
    parts.append(_image(ablation["figure"], report_dir, "transform-locking ablation"))
    return "\n".join(parts)


def _provenance(manifest: Mapping) -> str:
    for study in manifest["studies"]:
        for setting in study["settings"]:
            for csv_paths in setting["finals"].values():
                csv_path = csv_paths if isinstance(csv_paths, str) else csv_paths[0]
                meta = json.loads(Path(csv_path).with_suffix(".json").read_text())
                versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
                return f"Runs on {escape(str(meta.get('device')))}; {escape(versions)}."
    return ""


def _subsets(manifest: Mapping) -> list[str]:
    """"NAME: N training / M test images" of every part of the study run on data subsets."""
    parts = [(study["name"], study["setup"]) for study in manifest["studies"]]
    parts += [(key, manifest[key]["setup"]) for key in ("metainit", "convex", "ablation") if manifest.get(key)]
    out = []
    for name, setup in parts:
        train, test = setup.get("train_subset"), setup.get("eval_subset")
        if train or test:
            out.append(f"{name}: {train or 'all'} training / {test or 'all'} test images")
    return out


def _demo_notice(manifest: Mapping) -> str:
    subsets = _subsets(manifest)
    if not subsets:
        return ""
    return ('<p class="demo"><strong>This is a demo, not the study.</strong> It was trained and evaluated on '
            f"subsets of the data ({escape('; '.join(subsets))}), so its numbers show that the pipeline works; "
            "they are not evidence for or against the study's conclusions (config/config.yaml runs "
            "the study).</p>")


def render_report(manifest: Mapping, report_dir: Path) -> str:
    studies = manifest["studies"]
    toc = '<li><a href="#claims">Claims of the study</a></li>'
    toc += "".join(f'<li><a href="#{escape(s["name"])}">{escape(s["title"])}</a></li>' for s in studies)
    for key in ("metainit", "convex", "ablation"):
        if manifest.get(key):
            toc += f'<li><a href="#{key}">{escape(manifest[key]["title"])}</a></li>'
    body = [
        "<h1>Variance-reduced optimizers on deep networks: the study</h1>",
        _demo_notice(manifest),
        "<p>Each optimizer's hyperparameters are the grid point with the lowest mean validation "
        "loss at the final epoch (mean over folds and seeds; a point with a diverged run is never "
        "selected). Final runs train on the full training set with them, once per seed, and are "
        "evaluated on the test set every epoch. Curves are plotted against per-sample gradient "
        "computations. The paper's selections (Apostolov 2021) are shown beside ours.</p>",
        f'<p class="muted">{_provenance(manifest)}</p>',
        f"<ul>{toc}</ul>",
        _claims_section(manifest),
    ]
    body += [_study_section(study, report_dir) for study in studies]
    if manifest.get("metainit"):
        body.append(_metainit_section(manifest["metainit"], report_dir))
    if manifest.get("convex"):
        body.append(_convex_section(manifest["convex"], report_dir))
    if manifest.get("ablation"):
        body.append(_ablation_section(manifest["ablation"], report_dir))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Variance-reduction study: report</title>"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(manifest: Mapping, out: str | Path) -> None:
    check_same_data(listed_files_data(manifest))  # one data file per data set, or no report
    check_selections(manifest)  # each selected.tsv agrees with its tuning.tsv
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(manifest, out.parent)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
