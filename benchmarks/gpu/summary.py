"""The GPU check's summary from what run.sh's parts left in its work folder, finished or not:
summary.md, summary.json, per-epoch-costs.json (the form `vrdl plan --per-epoch-costs` reads)
and logs.tar.gz. Exits 0 only if every part finished and every check passed."""

import argparse
import csv
import datetime
import json
import re
import sys
import tarfile
from pathlib import Path

from vrdl.config import load_config
from vrdl.costs import device_hours
from vrdl.plan import Plan

REPO = Path(__file__).resolve().parents[2]

BENCHMARKS = ("data_path", "epoch_time", "vr_overhead", "grid_throughput", "step_modes")
EXPECTED_PARTS = ("check_env", "prepare", "correctness", *BENCHMARKS, "model_speed", "slice")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def part_status(work: Path) -> dict[str, dict]:
    status = {}
    path = work / "parts" / "status.tsv"
    for line in path.read_text().splitlines() if path.exists() else []:
        name, rc, seconds, budget = line.split("\t")
        rc = int(rc)
        state = "ok" if rc == 0 else "timed out" if rc in (124, 137) else f"failed (exit {rc})"
        status[name] = dict(exit=rc, seconds=int(seconds), limit=int(budget), state=state)
    return status


def log_lines(work: Path, name: str) -> list[str]:
    path = work / "logs" / f"{name}.log"
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def benchmark_figures(work: Path) -> dict:
    """Each benchmark's headline (`NAME: VALUE`, its last line) and every line it printed;
    grid_compile is grid_throughput with --compile (GPU runs only)."""
    out = {}
    for part in (*BENCHMARKS, "grid_compile"):
        name = "grid_throughput" if part == "grid_compile" else part
        lines = log_lines(work, part)
        if part == "grid_compile" and not lines:
            continue
        headline = next((float(m.group(1)) for line in reversed(lines)
                         if (m := re.fullmatch(rf"{name}: ([-\d.]+)", line.strip()))), None)
        out[part] = dict(headline=headline, lines=lines[-30:])
    return out


def per_epoch_costs(speed: dict | None, date: str, quick: bool) -> dict | None:
    """The rate of every model and precision measured without channels-last or compile (the study's
    runs use neither), each with the shape it was measured on (docs/cli.md, Per-epoch costs)."""
    if not speed:
        return None
    rates = [dict(r["shape"], seconds_per_sample_gradient=r["seconds_per_sample"]) for r in speed["results"]
             if not r["channels_last"] and not r["compile"]]
    return dict(device=speed["device"], measured_by=f"benchmarks/gpu/run.sh{' --quick' if quick else ''} {date}",
                rates=rates)


def slice_results(work: Path) -> dict:
    """Wall time of the slice's runs per stage and "study/optimizer": a tune grid (`stacked`: one
    `vrdl train-grid` job, its runs sharing one clock) and each final run."""
    results = work / "slice" / "results" / "slice"  # the slice configs' `name: slice`
    out = dict(tune={}, final={})
    for csv_path in sorted(results.glob("*/bn~*/*/*/**/*.csv")):
        parts = csv_path.relative_to(results).parts
        study, stage, optimizer = parts[0], parts[2], parts[3]
        if stage not in ("tune", "final"):
            continue
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
        if not rows:
            continue
        last = rows[-1]
        meta = read_json(csv_path.with_suffix(".json")) or {}
        entry = out[stage].setdefault(f"{study}/{optimizer}", dict(runs=0, wall_s=0.0, epochs=int(last["epoch"]),
                                                                   stacked="grid" in meta))
        entry["runs"] += 1
        if entry["stacked"]:
            entry["wall_s"] = max(entry["wall_s"], float(last["wall_s"]))  # one clock for the whole grid
        else:
            entry["wall_s"] += float(last["wall_s"])
        if stage == "final":
            entry["eval_acc"] = float(last["eval_acc"])
    return out


def stacked_lenet_tune_hours(slice_tune: dict, config: dict) -> float | None:
    """The slice's stacked LeNet grids extrapolated to the study's LeNet epochs."""
    epochs = next((s["epochs"] for s in config["studies"].values() if s["model"] == "lenet"), None)
    stacked = [e for e in slice_tune.values() if e["stacked"]]
    if not stacked or epochs is None:
        return None
    return round(sum(e["wall_s"] / e["epochs"] for e in stacked) * epochs / 3600, 2)


def markdown(s: dict) -> str:
    md = [f"# GPU check: {s['device']}", "",
          f"{s['date']}, torch {s['torch']}, device option `{s['device_option']}`{', --quick' if s['quick'] else ''}.",
          *(["", "--quick: narrow models, batch 8, tiny data: these figures test the script; they estimate nothing."]
            if s["quick"] else []),
          "", "## Parts", "", "| part | state | seconds | limit |", "| --- | --- | --- | --- |"]
    md += [f"| {name} | {p['state']} | {p['seconds']} | {p['limit']} |" for name, p in s["parts"].items()]
    c = s["correctness"]
    if c:
        t = c["tolerances"]
        md += ["", f"## Correctness: {c['device']} against {c['reference']}, same seed", "",
               f"Tolerances: forward {t['forward_rtol']:g} and first {c['sizes']['first_steps']} steps "
               f"{t['first_steps_rtol']:g} (relative loss), after {c['sizes']['epochs']} epochs on "
               f"{c['sizes']['train']} images: loss {t['end_loss_rtol']:g} relative, eval accuracy "
               f"{t['end_acc_abs']:g} absolute; grad_evals exactly equal.", "",
               "| model | optimizer | ok | forward | first steps | end loss | end acc | grad_evals |",
               "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in c["comparisons"]:
            f = r["figures"]
            md.append(f"| {r['model']} | {r['optimizer']} | {'yes' if r['ok'] else 'NO'} | {f['forward_rel']:.1e} | "
                      f"{f['first_steps_rel']:.1e} | {f['end_loss_rel']:.1e} | {f['end_acc_abs']:.3f} | "
                      f"{f['grad_evals'][-1]} |")
        md += [f"| {r['model']} | {r['optimizer']} {r['precision']} | {'yes' if r['ok'] else 'NO'} | "
               f"loss {r['final_train_loss']:.4f} | | | | |" for r in c["bf16"]]
    md += ["", "## Benchmarks (benchmarks/*.py)"]
    for name, b in s["benchmarks"].items():
        md += ["", f"### {name}: {b['headline']}", "", "```", *b["lines"], "```"]
    if s["model_speed"]:
        md += ["", "## Epoch times (plain SGD, study batch size)", "",
               f"Data: {s['model_speed']['data']}. Timed steps extrapolated to an epoch.", "",
               "| model | options | ms/step | epoch s | warm-up s |", "| --- | --- | --- | --- | --- |"]
        for r in s["model_speed"]["results"]:
            options = " ".join([r["precision"]] + ["channels-last"] * r["channels_last"] + ["compile"] * r["compile"])
            md.append(f"| {r['model']} | {options} | {r['step_ms']} | {r['epoch_s']} | {r['warmup_s']} |")
    if s["per_epoch_costs"]:
        md += ["", "## Per-sample gradient cost (per-epoch-costs.json)", "", "```",
               json.dumps(s["per_epoch_costs"], indent=2), "```"]
    if s["slice"]["tune"] or s["slice"]["final"]:
        md += ["", "## Workflow slice (snakemake --cores all --resources gpu=1)", "",
               "| stage | study/optimizer | runs | stacked | epochs | wall s | eval acc |",
               "| --- | --- | --- | --- | --- | --- | --- |"]
        for stage in ("tune", "final"):
            md += [f"| {stage} | {name} | {e['runs']} | {'yes' if e['stacked'] else 'no'} | {e['epochs']} | "
                   f"{e['wall_s']:.1f} | {e.get('eval_acc', '')} |" for name, e in s["slice"][stage].items()]
    if s["study_cost"]:
        cost = s["study_cost"]
        md += ["", f"## Cost of config/config.yaml on {s['device']} (every run trained on its own)", "",
               f"Runs: {cost['runs']}. Device-hours: {cost['hours']}, total **{cost['total_hours']}**"
               + (f"; no rate of the shape of {'; '.join(cost['missing_rates'])}" if cost["missing_rates"] else "")
               + ".",
               "(`vrdl plan --configfile config/config.yaml --per-epoch-costs per-epoch-costs.json` prints it "
               "per study and optimizer.)"]
        if s["stacked_lenet_tune_hours"] is not None:
            md += ["", f"The LeNet tune grids stacked as in the slice (its tune wall time per epoch x the study's "
                       f"epochs): **{s['stacked_lenet_tune_hours']}** hours."]
    return "\n".join(md) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--device", required=True)
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    work, out = args.work, args.out
    out.mkdir(parents=True, exist_ok=True)
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ")
    speed = read_json(work / "parts" / "model_speed.json")
    correctness = read_json(work / "parts" / "correctness.json")
    env = log_lines(work, "check_env")
    device = next((line.split(": ", 1)[1] for line in env if line.startswith("device: ")), args.device)
    torch_version = next((line.split()[1].rstrip(",") for line in env if line.startswith("torch ")), "unknown")
    costs = per_epoch_costs(speed, date, args.quick)
    summary = dict(device=device, torch=torch_version, date=date, device_option=args.device, quick=args.quick,
                   parts=part_status(work), correctness=correctness, benchmarks=benchmark_figures(work),
                   model_speed=speed, per_epoch_costs=costs, slice=slice_results(work), study_cost=None)
    config = load_config(args.config)
    summary["stacked_lenet_tune_hours"] = stacked_lenet_tune_hours(summary["slice"]["tune"], config)
    if costs and costs["rates"]:
        (out / "per-epoch-costs.json").write_text(json.dumps(costs, indent=2) + "\n")
        plan = Plan(config)
        summary["study_cost"] = device_hours(plan, costs["rates"])
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(markdown(summary))
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for folder in (work / "logs", work / "slice" / "logs", work / "slice" / ".snakemake" / "log"):
            if folder.is_dir():
                tar.add(folder, arcname=str(folder.relative_to(work)))
    parts = summary["parts"]
    ok = (all(name in parts for name in EXPECTED_PARTS) and all(part["exit"] == 0 for part in parts.values())
          and bool(correctness and correctness["ok"]))
    print(f"summary.py: {out / 'summary.md'} ({'all parts passed' if ok else 'NOT all parts passed'})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
