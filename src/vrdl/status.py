"""Where each training run of a config stands in a results directory, read from the files'
contents and the code's fingerprints, never from mtimes (what `vrdl plan --results` lists):

- done: RUN.csv and RUN.json pass the readers' checks and were made by today's code and settings;
- stale: they pass, but the code it runs (its fingerprint) or its arguments (the config's settings,
  the selected hyperparameters) differ from what it recorded: the workflow retrains it;
- refused: a file fails the checks (the reason says which): the workflow sets it aside and retrains;
- running: no result yet, but a checkpoint (a run under way, or one killed that resumes);
- missing: nothing yet.
The prepared data set is not compared here (that needs torch): training checks it against the
hash it records, and the readers refuse runs of one data set on different files."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from vrdl import fingerprint
from vrdl.identity import identity_of
from vrdl.runs import RunFileError, read_run

STATES = ("done", "stale", "refused", "running", "missing")


def results_dir(results: str | Path, name: str) -> Path:
    """The results/ directory, given as itself or as the config's results/NAME inside it."""
    results = Path(results)
    return results.parent if results.name == name and not (results / name).is_dir() else results


@functools.cache
def _code(optimizer: str, stacked: bool) -> str:
    return fingerprint.run_fingerprint(optimizer, stacked)


def _planned_args(plan, identity: dict, results: Path) -> list[str] | None:
    """The arguments the config gives the run today; None where they are not known yet (a final
    run before its selection)."""
    run = {key: value for key, value in identity.items() if key not in ("stage", "name")}
    stage = identity["stage"]
    if stage == "tune":
        return plan.studies.tune_args(run)
    if stage != "final":
        return plan.sides[stage].args(run)
    study = plan.studies[run["study"]]
    if study.from_paper:
        return plan.studies.final_args(run, study.paper_hparams(run["bn"], run["optimizer"]))
    from vrdl.select import SelectionError, read_selection

    selected = results.parent / plan.paths.selected.format(**run)
    try:
        rows = read_selection(selected, heal=False).set_index("optimizer")
        return plan.studies.final_args(run, json.loads(rows.loc[run["optimizer"], "hparams"]))
    except (SelectionError, KeyError):
        return None


def _staleness(plan, job: dict, meta: dict, results: Path) -> str:
    """Why a run that passes the checks would be retrained ("" if it would not)."""
    if meta.get("code_fingerprint") != _code(job["optimizer"], "grid" in meta):
        return "the code it runs changed since (its code fingerprint differs)"
    args = _planned_args(plan, identity_of(job["stem"]), results)
    if args is None:
        return ""
    recorded, planned = _flags(meta.get("command") or []), _flags(args)
    changed = [f"{flag} {recorded.get(flag, '(none)')} -> {planned.get(flag, '(none)')}"
               for flag in sorted(recorded.keys() | planned.keys() - PLACED_BY_THE_WORKFLOW)
               if flag not in PLACED_BY_THE_WORKFLOW and recorded.get(flag) != planned.get(flag)]
    return f"its settings changed since: {', '.join(changed)}" if changed else ""


# What the rule scripts add to a run's arguments: where, not what, it trains.
PLACED_BY_THE_WORKFLOW = {"--data-dir", "--threads", "--checkpoint", "--out"}


def _flags(argv: list[str]) -> dict[str, str]:
    """{--flag: its value(s) as one string ("" for a switch)} of a `vrdl train` command line."""
    flags, current = {}, None
    for word in argv:
        if word.startswith("--"):
            current = word
            flags[current] = ""
        elif current is not None:
            flags[current] = f"{flags[current]} {word}".strip()
    return flags


def run_status(plan, job: dict, results: Path) -> tuple[str, str]:
    """(state, reason) of one run of plan.jobs() in the results/ directory `results`."""
    stem = job["stem"].removeprefix("results/")
    csv, meta = results / f"{stem}.csv", results / f"{stem}.json"
    if csv.is_file() or meta.is_file():
        try:
            run = read_run(csv, heal=False)  # it only looks: it moves nothing
        except RunFileError as err:
            return "refused", str(err)
        reason = _staleness(plan, job, run.meta, results)
        return ("stale", reason) if reason else ("done", "")
    checkpoints = results.parent / "checkpoints"
    seed_dir = Path(stem).parent  # a stacked tune grid's checkpoint: .../tune/OPT/seed~N.grid.ckpt
    grid = checkpoints / seed_dir.parent.parent / f"{seed_dir.name}.grid.ckpt"
    if (checkpoints / f"{stem}.ckpt").is_file() or grid.is_file():
        return "running", ""
    return "missing", ""


def unfinished_lines(statuses: dict[str, tuple[str, str]]) -> list[str]:
    """The runs that are not done, one line each, grouped by state."""
    lines = []
    for state in STATES[1:]:
        stems = sorted(stem for stem, (s, _) in statuses.items() if s == state)
        if stems:
            lines += ["", f"{state} ({len(stems)}):"]
            lines += [f"  {stem}" + (f": {statuses[stem][1]}" if statuses[stem][1] else "") for stem in stems]
    return lines
