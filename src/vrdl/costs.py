"""What a study costs (`vrdl plan`): the plan's training runs grouped per stage, study, BN setting
and optimizer, with their gradient computations and, given a rate in seconds per per-sample
gradient, device-hours; with a results/ directory, which runs are done, running or pending.

Rates come from a per-epoch-costs file (format in config/README.md; the GPU benchmark writes
one) or from finished runs (wall_s of the last RUN.csv row / RUN.json's grad_evals). There is no
built-in rate: without one the table shows gradient computations only and says so.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from vrdl.runs import RunFileError, read_run

STAGE_NAMES = {"tune": "tune", "final": "final", "metainit": "MetaInit", "convex": "convex", "ablation": "ablation"}


def rate_key(model: str, bn: str) -> str:
    return f"{model}/bn~{bn}"


def load_rates(path: str | Path) -> tuple[dict, str]:
    """(seconds per sample gradient by 'MODEL/bn~on|off' or 'MODEL', where they come from)."""
    try:
        with open(path) as handle:
            data = json.load(handle)
    except OSError as err:
        raise ValueError(f"cannot read --per-epoch-costs {path}: {err.strerror}") from None
    except ValueError as err:
        raise ValueError(f"--per-epoch-costs {path} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--per-epoch-costs {path} must hold a JSON object (format: config/README.md)")
    rates = data.get("seconds_per_sample_gradient")
    if not isinstance(rates, dict) or not all(isinstance(v, int | float) and v > 0 for v in rates.values()):
        raise ValueError(f"{path}: seconds_per_sample_gradient must map models to positive numbers")
    device = data.get("device", "an unnamed device")
    by = f"; {data['measured_by']}" if data.get("measured_by") else ""
    return rates, f"measured on {device} ({path}{by})"


def collect_rates(results: str | Path) -> tuple[dict, str]:
    """Rates from finished runs under results/: the median over runs of each model and BN setting
    of wall_s / grad_evals (a stacked grid's wall time shared by its runs)."""
    samples = defaultdict(list)
    devices = set()
    for meta_path in Path(results).rglob("*.json"):
        csv_path = meta_path.with_suffix(".csv")
        try:
            meta = json.loads(meta_path.read_text())
            with open(csv_path, newline="") as handle:
                wall = float(list(csv.DictReader(handle))[-1]["wall_s"])
        except (OSError, ValueError, KeyError, IndexError):
            continue
        if not isinstance(meta, dict) or not meta.get("grad_evals") or "model" not in meta or wall <= 0:
            continue
        share = (meta.get("grid") or {}).get("runs", 1)
        samples[rate_key(meta["model"], "on" if meta.get("bn") else "off")].append(wall / share / meta["grad_evals"])
        devices.add(meta.get("device", "?"))
    rates = {key: statistics.median(values) for key, values in samples.items()}
    n = sum(map(len, samples.values()))
    return rates, (f"collected from {n} finished runs under {results} (device: {', '.join(sorted(devices))})"
                   if n else f"no finished runs under {results} to collect rates from")


def lookup(rates: dict, model: str, bn: str) -> float | None:
    return rates.get(rate_key(model, bn), rates.get(model))


def device_hours(plan, rates: dict) -> dict:
    """Device-hours of the plan's training runs at `rates`, per stage and in all (one job at a
    time); runs whose model has no rate are counted in `unpriced_runs`, never guessed."""
    hours, runs, missing = defaultdict(float), defaultdict(int), set()
    for job in plan.jobs():
        runs[job["stage"]] += 1
        rate = lookup(rates, job["model"], job["bn"])
        if rate is None:
            missing.add(rate_key(job["model"], job["bn"]))
        else:
            hours[job["stage"]] += job["grad_evals"] * rate / 3600
    return dict(runs=dict(runs), hours={stage: round(h, 3) for stage, h in hours.items()},
                total_hours=round(sum(hours.values()), 3), missing_rates=sorted(missing))


def job_status(job: dict, results: Path) -> str:
    """done (RUN.csv and RUN.json written and checked by vrdl.runs), running (a checkpoint
    exists) or pending (a refused run file counts as pending: the workflow reruns it)."""
    stem = job["stem"].removeprefix("results/")
    if (results / f"{stem}.json").is_file():
        try:
            read_run(results / f"{stem}.csv", heal=False)  # vrdl plan only looks: it moves nothing
            return "done"
        except RunFileError:
            pass
    checkpoints = results.parent / "checkpoints"
    seed_dir = Path(stem).parent  # a stacked tune grid's checkpoint: .../tune/OPT/seed~N.grid.ckpt
    grid = checkpoints / seed_dir.parent.parent / f"{seed_dir.name}.grid.ckpt"
    if (checkpoints / f"{stem}.ckpt").is_file() or grid.is_file():
        return "running"
    return "pending"


def _hours(seconds: float | None) -> str:
    return "no rate" if seconds is None else f"{seconds / 3600:.2f}"


def report(plan, *, costs=None, results=None) -> str:
    jobs = plan.jobs()
    if costs:
        rates, source = load_rates(costs)
    elif results:
        rates, source = collect_rates(results)
    else:
        rates, source = {}, "none given: no estimate (pass --per-epoch-costs FILE or --results DIR)"
    status = {}
    if results:
        status = {job["stem"]: job_status(job, Path(results)) for job in jobs}

    groups = defaultdict(list)
    for job in jobs:
        groups[(job["stage"], job["study"], job["bn"], job["optimizer"])].append(job)
    header = ["stage", "study", "bn", "optimizer", "runs", "epochs", "gradient computations", "device-hours"]
    if results:
        header += ["done", "running", "pending"]
    rows, missing = [], set()
    total_s = remaining_s = 0.0
    unpriced = False
    for (stage, study, bn, optimizer), members in groups.items():
        rate = lookup(rates, members[0]["model"], bn)
        grads = sum(j["grad_evals"] for j in members)
        seconds = None if rate is None else grads * rate
        if rate is None:
            missing.add(rate_key(members[0]["model"], bn))
            unpriced = True
        else:
            total_s += seconds
        epochs = sorted({j["epochs"] for j in members})
        row = [STAGE_NAMES[stage], study, bn, optimizer, str(len(members)), "/".join(map(str, epochs)),
               f"{grads:.3g}", _hours(seconds)]
        if results:
            counts = [sum(status[j["stem"]] == s for j in members) for s in ("done", "running", "pending")]
            row += [str(c) for c in counts]
            if rate is not None:
                remaining_s += rate * sum(j["grad_evals"] for j in members if status[j["stem"]] != "done")
        rows.append(row)
    total_grads = sum(j["grad_evals"] for j in jobs)
    footer = ["total", "", "", "", str(len(jobs)), "", f"{total_grads:.3g}",
              "incomplete" if unpriced and rates else _hours(total_s if rates else None)]
    if results:
        footer += [str(sum(s == k for s in status.values())) for k in ("done", "running", "pending")]

    by_stage = defaultdict(int)
    for job in jobs:
        by_stage[job["stage"]] += 1
    lines = ["Training runs: " + ", ".join(f"{n} {STAGE_NAMES[s]}" for s, n in by_stage.items()), ""]
    lines += _table(header, rows + [footer])
    lines += ["", f"Per-sample gradient costs: {source}."]
    if rates and missing:
        lines.append(f"No rate for {', '.join(sorted(missing))}: those rows have no estimate.")
    if rates and not unpriced:
        lines.append(f"Estimate: {total_s / 3600:.2f} device-hours in all (one job at a time).")
    if results and rates:
        lines.append(f"Remaining (running and pending runs, counted whole): {remaining_s / 3600:.2f} device-hours"
                     + (" for the rows with a rate." if unpriced else "."))
    if any(job.get("assumed_point") for job in jobs):
        lines.append("Final runs are counted with their first grid point's settings (the selection is not "
                     "known before tuning).")
    lines.append("Gradient computations count per-sample gradients of training (not evaluation passes).")
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {i for i, name in enumerate(header) if i >= 4}

    def fmt(row):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]
