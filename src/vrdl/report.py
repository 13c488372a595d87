"""The study's one-page HTML report: what was run, the selected hyperparameters beside the
paper's, final test loss/accuracy per optimizer, and all figures (PNGs embedded, so the page is
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

from vrdl.select import read_tsv

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; } .muted { color: #777; font-size: .9em; }
.same { color: #1a7f37; } .differs { color: #b35900; } details { margin: .5em 0 1.5em; }
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
    csv_path = Path(csv_path)
    curve = pd.read_csv(csv_path)
    meta = json.loads(csv_path.with_suffix(".json").read_text())
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


def _setup_rows(setup: Mapping, selection: Mapping | None) -> list[list[str]]:
    rows = []
    if selection:
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
        rows.append([escape(key), escape(str(value))])
    return rows


def _study_section(study: Mapping, report_dir: Path) -> str:
    parts = [f'<h2 id="{escape(study["name"])}">{escape(study["title"])}</h2>']
    parts.append(_table(["setting", "value"], _setup_rows(study["setup"], study["selection"])))
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
            ["optimizer", "selected (ours)", f"paper{table_ref}", "", "mean val. loss", "std",
             "runs", "diverged runs / points"],
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

        final_rows = []
        for optimizer, csv_path in setting["finals"].items():
            s = run_summary(csv_path)
            # The selected hyperparameters as the run recorded them (its JSON also lists the
            # optimizer's other, default settings).
            recorded = s["meta"].get("hparams") or {}
            as_run = {key: recorded.get(key, "missing") for key in chosen.get(optimizer, recorded)}
            final_rows.append([
                escape(optimizer), escape(fmt_hparams(as_run)), str(s["epochs"]),
                fmt_number(s["grad_evals"]), fmt_number(s["loss"]), fmt_number(s["acc"]),
                fmt_number(s["best_loss"]), "yes" if s["meta"].get("diverged") else "no",
            ])  # fmt: skip
        parts.append("<h4>Final runs on the test set</h4>")
        parts.append(_table(
            ["optimizer", "hyperparameters (as run)", "epochs", "gradient computations",
             "final test loss", "final test acc.", "best test loss", "diverged"],
            final_rows, numeric={2, 3, 4, 5, 6},
        ))  # fmt: skip
        figure_ref = f" (paper: Figure {paper['figure']})" if paper.get("figure") else ""
        parts.append(f"<h4>Figures{escape(figure_ref)}</h4>")
        for kind, png in setting["figures"].items():
            parts.append(_image(png, report_dir, f"{study['name']} BN {setting['bn']} {kind}"))
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


def _provenance(manifest: Mapping) -> str:
    for study in manifest["studies"]:
        for setting in study["settings"]:
            for csv_path in setting["finals"].values():
                meta = json.loads(Path(csv_path).with_suffix(".json").read_text())
                versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
                return f"Runs on {escape(str(meta.get('device')))}; {escape(versions)}."
    return ""


def render_report(manifest: Mapping, report_dir: Path) -> str:
    studies = manifest["studies"]
    toc = "".join(f'<li><a href="#{escape(s["name"])}">{escape(s["title"])}</a></li>' for s in studies)
    if manifest.get("metainit"):
        toc += f'<li><a href="#metainit">{escape(manifest["metainit"]["title"])}</a></li>'
    body = [
        "<h1>Variance-reduced optimizers on deep networks: the study</h1>",
        "<p>Each optimizer's hyperparameters are the grid point with the lowest mean validation "
        "loss at the final epoch (mean over folds; a point with a diverged run is never "
        "selected). Final runs train on the full training set with them and are evaluated on "
        "the test set every epoch. Curves are plotted against per-sample gradient computations. "
        "The paper's selections (Apostolov 2021) are shown beside ours.</p>",
        f'<p class="muted">{_provenance(manifest)}</p>',
        f"<ul>{toc}</ul>",
    ]
    body += [_study_section(study, report_dir) for study in studies]
    if manifest.get("metainit"):
        body.append(_metainit_section(manifest["metainit"], report_dir))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Variance-reduction study: report</title>"
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(manifest: Mapping, out: str | Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(manifest, out.parent)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
