"""What a study costs (`vrdl plan`): the plan's training runs grouped per stage, study, BN setting
and optimizer, with their gradient computations and, given a rate in seconds per per-sample
gradient, device-hours; with a results/ directory, which runs are done, running or pending.

A rate is measured on one shape of work: model, BN, width, input shape, batch size, precision and
device kind (SHAPE_KEYS). It prices only runs of that same shape: a width-1/8 ResNet on 28x28
images says nothing about a full-width one on CIFAR. Rates come from a per-epoch-costs file
(format in docs/cli.md; the GPU check writes one) or from finished runs (wall_s of the last
RUN.csv row / RUN.json's grad_evals). There is no built-in rate and no scaling between shapes.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from vrdl import datasets
from vrdl.config import read_json
from vrdl.stages import SIDE_STAGES
from vrdl.status import STATES, results_dir, run_status, unfinished_lines

STAGE_NAMES = {"tune": "tune", "final": "final"} | {stage.key: stage.label for stage in SIDE_STAGES}
SHAPE_KEYS = ("model", "bn", "width", "input", "batch_size", "precision", "device")
DEVICE_KINDS = ("cpu", "cuda")


def shape(model: str, bn: str, width: float | None, dataset: str, batch_size: int, precision: str,
          device: str) -> dict:
    """The shape of work a rate is measured on or a run needs; `device` a kind (cpu, cuda) or, for
    a plan, `auto`."""
    return dict(model=model, bn=bn, width=float(width or 1.0), input=datasets.get(dataset).input_shape,
                batch_size=batch_size, precision=precision, device=device)


def describe(s: dict) -> str:
    return (f"{s['model']} width {s['width']:g} at {s['input']}, BN {s['bn']}, batch {s['batch_size']}, "
            f"{s['precision']}, {s['device']}")


def job_shape(plan, job: dict) -> dict:
    return shape(job["model"], job["bn"], job["width"], job["dataset"], job["batch_size"],
                 plan.compute["precision"], plan.compute["device"])


def lookup(rates: list[dict], need: dict) -> float | None:
    """The rate of exactly this shape; a plan's device `auto` takes a CUDA rate before a CPU one."""
    kinds = DEVICE_KINDS[::-1] if need["device"] == "auto" else (need["device"],)
    for kind in kinds:
        for rate in rates:
            if all(rate[k] == need[k] for k in SHAPE_KEYS if k != "device") and rate["device"] == kind:
                return rate["seconds_per_sample_gradient"]
    return None


def no_rate(rates: list[dict], need: dict) -> str:
    """'no rate for <shape> (measured: <the same model's shapes>)'."""
    measured = [describe(r) for r in rates if r["model"] == need["model"]]
    return f"no rate for {describe(need)} (measured: {'; '.join(measured) or 'nothing of ' + need['model']})"


def load_rates(path: str | Path) -> tuple[list[dict], str]:
    """(the rates of a per-epoch-costs file, where they come from)."""
    data = read_json(path, "--per-epoch-costs")
    if not isinstance(data, dict):
        raise ValueError(f"--per-epoch-costs {path} must hold a JSON object (format: docs/cli.md)")
    rates = data.get("rates")
    if not isinstance(rates, list) or not rates:
        old = "seconds_per_sample_gradient" in data
        raise ValueError(f"{path}: " + ("a rate per model without its shape (model, width, input, batch size, "
                                         "precision, device) prices nothing honestly; rerun benchmarks/gpu/run.sh"
                                         if old else "no `rates` list") + " (format: docs/cli.md)")
    for i, rate in enumerate(rates):
        missing = [k for k in (*SHAPE_KEYS, "seconds_per_sample_gradient") if k not in rate]
        if missing:
            raise ValueError(f"{path}: rates[{i}] lacks {', '.join(missing)} (format: docs/cli.md)")
        seconds = rate["seconds_per_sample_gradient"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise ValueError(f"{path}: rates[{i}].seconds_per_sample_gradient must be a positive number")
        if rate["device"] not in DEVICE_KINDS:
            raise ValueError(f"{path}: rates[{i}].device must be one of {', '.join(DEVICE_KINDS)}")
        rate["width"] = float(rate["width"])
    device = data.get("device", "an unnamed device")
    by = f"; {data['measured_by']}" if data.get("measured_by") else ""
    return rates, f"measured on {device} ({path}{by})"


def run_shape(meta: dict) -> dict:
    """The shape of a finished run from its RUN.json (its device a name: 'cpu' or a GPU's)."""
    return shape(meta["model"], "on" if meta.get("bn") else "off", meta.get("width"), meta["dataset"],
                 meta["batch_size"], meta.get("precision", "fp32"), "cpu" if meta.get("device") == "cpu" else "cuda")


def collect_rates(results: str | Path) -> tuple[list[dict], str]:
    """Rates from finished runs under results/: per shape, the median over its runs of
    wall_s / grad_evals (a stacked grid's wall time shared by its runs)."""
    samples = defaultdict(list)
    devices = set()
    for meta_path in Path(results).rglob("*.json"):
        csv_path = meta_path.with_suffix(".csv")
        try:
            meta = json.loads(meta_path.read_text())
            with open(csv_path, newline="") as handle:
                wall = float(list(csv.DictReader(handle))[-1]["wall_s"])
            key = tuple(run_shape(meta).items())
        except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
            continue
        if not meta.get("grad_evals") or wall <= 0:
            continue
        share = (meta.get("grid") or {}).get("runs", 1)
        samples[key].append(wall / share / meta["grad_evals"])
        devices.add(meta.get("device", "?"))
    rates = [dict(key, seconds_per_sample_gradient=statistics.median(values)) for key, values in samples.items()]
    n = sum(map(len, samples.values()))
    return rates, (f"collected from {n} finished runs under {results} (device: {', '.join(sorted(devices))})"
                   if n else f"no finished runs under {results} to collect rates from")


def device_hours(plan, rates: list[dict]) -> dict:
    """Device-hours of the plan's training runs at `rates`, per stage and in all (one job at a
    time); runs whose shape has no rate are named in `missing_rates`, never guessed."""
    hours, runs, missing = defaultdict(float), defaultdict(int), set()
    for job in plan.jobs():
        runs[job["stage"]] += 1
        need = job_shape(plan, job)
        rate = lookup(rates, need)
        if rate is None:
            missing.add(describe(need))
        else:
            hours[job["stage"]] += job["grad_evals"] * rate / 3600
    return dict(runs=dict(runs), hours={stage: round(h, 3) for stage, h in hours.items()},
                total_hours=round(sum(hours.values()), 3), missing_rates=sorted(missing))


def _hours(seconds: float | None) -> str:
    return "no rate" if seconds is None else f"{seconds / 3600:.2f}"


def _grouping_lines(plan) -> list[str]:
    """How the grouped studies' tune runs share cluster jobs (cluster.group_runs)."""
    groups = plan.tune_groups
    return [f"On a cluster: {study}'s {sum(map(len, runs))} tune runs in {len(runs)} jobs of up to "
            f"{groups.size[study]} (cluster.group_runs)" for study, runs in groups.groups.items()]


def report(plan, *, costs=None, results=None) -> str:
    jobs = plan.jobs()
    if costs:
        rates, source = load_rates(costs)
    elif results:
        rates, source = collect_rates(results)
    else:
        rates, source = [], "none given: no estimate (pass --per-epoch-costs FILE or --results DIR)"
    status, statuses = {}, {}
    if results:
        root = results_dir(results, plan.paths.name)
        statuses = {job["stem"]: run_status(plan, job, root) for job in jobs}
        status = {stem: state for stem, (state, _) in statuses.items()}

    groups = defaultdict(list)
    for job in jobs:
        groups[(job["stage"], job["study"], job["bn"], job["optimizer"])].append(job)
    header = ["stage", "study", "bn", "optimizer", "runs", "epochs", "gradient computations", "device-hours"]
    if results:
        header += list(STATES)
    rows, missing = [], set()
    total_s = remaining_s = 0.0
    unpriced = False
    for (stage, study, bn, optimizer), members in groups.items():
        need = job_shape(plan, members[0])  # a group is one study and BN setting: one shape
        rate = lookup(rates, need)
        grads = sum(j["grad_evals"] for j in members)
        seconds = None if rate is None else grads * rate
        if rate is None:
            missing.add(no_rate(rates, need))
            unpriced = True
        else:
            total_s += seconds
        epochs = sorted({j["epochs"] for j in members})
        row = [STAGE_NAMES[stage], study, bn, optimizer, str(len(members)), "/".join(map(str, epochs)),
               f"{grads:.3g}", _hours(seconds)]
        if results:
            counts = [sum(status[j["stem"]] == s for j in members) for s in STATES]
            row += [str(c) for c in counts]
            if rate is not None:
                remaining_s += rate * sum(j["grad_evals"] for j in members if status[j["stem"]] != "done")
        rows.append(row)
    total_grads = sum(j["grad_evals"] for j in jobs)
    footer = ["total", "", "", "", str(len(jobs)), "", f"{total_grads:.3g}",
              "incomplete" if unpriced and rates else _hours(total_s if rates else None)]
    if results:
        footer += [str(sum(s == k for s in status.values())) for k in STATES]

    by_stage = defaultdict(int)
    for job in jobs:
        by_stage[job["stage"]] += 1
    lines = ["Training runs: " + ", ".join(f"{n} {STAGE_NAMES[s]}" for s, n in by_stage.items()),
             *_grouping_lines(plan), ""]
    lines += _table(header, rows + [footer])
    lines += ["", f"Per-sample gradient costs: {source}."]
    if rates and missing:
        lines += ["Rows without a rate have no estimate (a rate prices only runs of the shape it was measured on):",
                  *(f"  {text}" for text in sorted(missing))]
    if rates and not unpriced:
        lines.append(f"Estimate: {total_s / 3600:.2f} device-hours in all (one job at a time).")
    if results and rates:
        lines.append(f"Remaining (runs not done, counted whole): {remaining_s / 3600:.2f} device-hours"
                     + (" for the rows with a rate." if unpriced else "."))
    if any(job.get("assumed_point") for job in jobs):
        lines.append("Final runs are counted with their first grid point's settings (the selection is not "
                     "known before tuning).")
    lines.append("Gradient computations count per-sample gradients of training (not evaluation passes).")
    return "\n".join(lines + unfinished_lines(statuses))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {i for i, name in enumerate(header) if i >= 4}

    def fmt(row):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
