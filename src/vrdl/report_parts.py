"""The pieces every report section is made of (the study's in vrdl.report, a side study's in
its stage module): number formats, one run's and one setting's summaries, the setup table's
rows, embedded figures."""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from vrdl.runs import read_run

MAX_PNG_WIDTH = 1300  # px; the page is about 1150 px wide


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


def fmt_spread(stat: tuple[float, float]) -> str:
    mean, std = stat
    return fmt_number(mean) + (f" ± {std:.2g}" if math.isfinite(std) else "")


def paths_of(paths) -> list:
    return [paths] if isinstance(paths, str | Path) else list(paths)


# ---------------------------------------------------------------------------- images


@dataclass(frozen=True)
class Image:
    alt: str
    src: str  # a data: URI
    pdf: str | None = None  # link relative to the report


def png_uri(data: bytes) -> str:
    """A PNG as a data URI, palette-compressed and at most MAX_PNG_WIDTH wide (whatever dpi the
    figure was saved at: the page shows it at most this wide)."""
    from PIL import Image as PILImage

    image = PILImage.open(io.BytesIO(data))
    if image.width > MAX_PNG_WIDTH or image.mode != "P":
        image = image.convert("RGB")
        if image.width > MAX_PNG_WIDTH:
            height = round(image.height * MAX_PNG_WIDTH / image.width)
            image = image.resize((MAX_PNG_WIDTH, height), PILImage.Resampling.LANCZOS)
        out = io.BytesIO()
        image.quantize(256).save(out, format="png", optimize=True)
        data = out.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def load_image(png: str | Path, report_dir: Path, alt: str) -> Image:
    png = Path(png)
    pdf = png.with_suffix(".pdf")
    return Image(alt, png_uri(png.read_bytes()), os.path.relpath(pdf, report_dir) if pdf.exists() else None)


# ---------------------------------------------------------------------------- runs


def run_summary(csv_path: str | Path) -> dict:
    """Final-epoch and best test numbers of one run, with its JSON."""
    run = read_run(csv_path)
    curve, meta = run.curve, run.meta
    last = curve.iloc[-1]
    finite = curve[curve["eval_loss"].map(math.isfinite)]
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
    runs = [run_summary(path) for path in paths_of(csv_paths)]

    def stats(key):
        values = pd.Series([r[key] for r in runs], dtype=float)
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan

    return dict(runs=runs, seeds=len(runs), loss=stats("loss"), acc=stats("acc"), best_loss=stats("best_loss"),
                diverged=sum(bool(r["meta"].get("diverged")) for r in runs))


def setup_rows(setup: Mapping, selection) -> list[tuple[str, str]]:
    rows = []
    if selection == "paper":
        rows.append(("selection", "none: the final runs use the paper's selected hyperparameters"))
    elif selection:
        if "folds" in selection:
            rows.append(("selection", f"{selection['folds']}-fold cross-validation"))
        else:
            rows.append(("selection", f"hold-out of {selection['val_fraction']:g} of the training set"))
    for key, value in setup.items():
        if value is None:
            continue
        if key == "bn":
            values = value if isinstance(value, list) else [value]
            value = ", ".join("on" if v in (True, "on") else "off" for v in values)
        elif isinstance(value, Mapping):
            value = fmt_hparams(value) if key == "hparams" else ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        rows.append((key, str(value)))
    return rows
