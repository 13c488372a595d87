"""The study's one-page HTML report: a demo notice when any part ran on data subsets, the claims
(the study's and the config's) as a table and a figure with the evidence one click away, what
was run, the selected hyperparameters beside the paper's, final test loss/accuracy per optimizer
(over seeds), the extensions (gradient variance, the convex sanity study, the transform-locking
ablation), and all figures (PNGs embedded, so the page is self-contained; PDFs linked).

Two steps: `load_report` reads everything the page shows through the checked readers
(vrdl.runs, vrdl.select) into plain data: numbers, strings, embedded images. `render_report`
fills the Jinja2 templates in vrdl/templates with it (autoescaped, no file access).
`write_report` does both and writes the page and its TSV tables. It takes the manifest the
workflow's `report` rule builds (vrdl.plan): which files hold what.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from vrdl import bootstrap, targets, tuning
from vrdl import claims as study_claims
from vrdl.report_parts import (
    Image,
    fmt_hparams,
    fmt_number,
    fmt_spread,
    load_image,
    paths_of,
    png_uri,
    seeds_summary,
    setup_rows,
)
from vrdl.runs import check_same_data, listed_files_data, read_meta, read_run, read_variance
from vrdl.select import check_selections, read_tsv
from vrdl.stages import SIDE_STAGES
from vrdl.stages.base import TEMPLATES

# The TSV tables beside the page: one row per claim (its decisive comparison), and per setting
# and optimizer the time to the setting's target
TABLE_COLUMNS = {
    "claims": ["claim", "origin", "verdict", "judged_at", "setting", "compared", "gap", "noise", "grad_evals",
               "noise_source", "flips_at", "tuning_budget", "grid_edges", "evidence"],
    "time_to_target": ["setting", "optimizer", "target_loss", "target", "runs_reached", "runs", "grad_evals",
                       "wall_s"],
}


# ---------------------------------------------------------------------------- formatting


def fmt_gap(gap: float, noise: float | None) -> str:
    if not math.isfinite(gap):
        return "–"
    return f"{gap:+.3g}" + (f" ± {noise:.2g}" if noise is not None else " (noise unknown)")


def verdict_class(verdict: str) -> str:
    if verdict.startswith(study_claims.INCONCLUSIVE):
        return "inconclusive"
    return {study_claims.HOLDS: "holds", study_claims.FAILS: "fails"}.get(verdict, "notrun")


def _same_hparams(ours: Mapping, paper: Mapping) -> bool:
    return all(key in ours and ours[key] == value for key, value in paper.items())


def _selection(setting: Mapping, paper_selected: Mapping, grids: Mapping) -> tuple[list[dict], list[dict], dict]:
    """The selected points beside the paper's (flagged where on an edge of their grid, `grids`:
    optimizer -> hyperparameter -> values), every grid point, and the choice per optimizer."""
    selected = read_tsv(setting["selected"])
    chosen = {row.optimizer: json.loads(row.hparams) for row in selected.itertuples(index=False)}
    rows = []
    for row in selected.itertuples(index=False):
        ours, theirs = chosen[row.optimizer], paper_selected.get(row.optimizer)
        rows.append(dict(
            optimizer=row.optimizer, ours=fmt_hparams(ours), paper=fmt_hparams(theirs),
            verdict="" if theirs is None else ("same" if _same_hparams(ours, theirs) else "differs"),
            mean=row.mean_val_loss, std=row.std_val_loss, runs=row.folds, diverged=f"{row.diverged} / {row.points}",
            edges="; ".join(tuning.grid_edges(ours, grids.get(row.optimizer, {}))),
        ))  # fmt: skip
    grid = [dict(optimizer=r.optimizer, hparams=fmt_hparams(json.loads(r.hparams)), mean=r.mean_val_loss,
                 std=r.std_val_loss, runs=r.folds, diverged=r.diverged)
            for r in read_tsv(setting["tuning"]).itertuples(index=False)]
    return rows, grid, chosen


def grid_values(tuning_tsv: str | Path) -> dict[str, list[float]]:
    """Per optimizer, each grid point's mean final validation loss (a point with a diverged run:
    +inf), from tuning.tsv: what the expected best of k is computed from."""
    values: dict[str, list[float]] = {}
    for row in read_tsv(tuning_tsv).itertuples(index=False):
        values.setdefault(row.optimizer, []).append(math.inf if row.diverged else float(row.mean_val_loss))
    return values


def _final_rows(setting: Mapping, chosen: Mapping) -> tuple[list[dict], int]:
    rows, n_seeds = [], 1
    for optimizer, csv_paths in setting["finals"].items():
        summary = seeds_summary(csv_paths)
        n_seeds = summary["seeds"]
        first = summary["runs"][0]
        # the chosen hyperparameters as the run recorded them (its JSON also lists the defaults)
        recorded = first["meta"].get("hparams") or {}
        as_run = {key: recorded.get(key, "missing") for key in chosen.get(optimizer, recorded)}
        rows.append(dict(
            optimizer=optimizer, hparams=fmt_hparams(as_run), epochs=first["epochs"],
            grad_evals=first["grad_evals"], seeds=summary["seeds"], loss=fmt_spread(summary["loss"]),
            acc=fmt_spread(summary["acc"]), best_loss=fmt_spread(summary["best_loss"]),
            diverged=f"{summary['diverged']} / {summary['seeds']}",
        ))  # fmt: skip
    return rows, n_seeds


def _target(setting: Mapping, label: str) -> tuple[dict, list[dict]]:
    """The time-to-target table of a setting (vrdl.targets) and its rows for the TSV."""
    curves = {name: [read_run(p).curve for p in paths_of(paths)] for name, paths in setting["finals"].items()}
    try:
        target = targets.study_target(setting["time_to_target"], curves)
    except ValueError as err:  # e.g. every reference run diverged: no target to reach
        return dict(error=str(err)), []
    rows = targets.time_to_target(curves, target)
    from vrdl.plots import met_at_start, target_note

    table = dict(
        error=None, loss=target.loss, source=target.source,
        note=target_note(target) if met_at_start(rows) else None,
        at_start=[r.optimizer for r in rows if r.reached and r.grad_evals == 0],
        rows=[dict(optimizer=r.optimizer, reached=f"{r.reached} / {r.runs}" if r.reached else "did not reach",
                   grad_evals=r.grad_evals, wall_s=r.wall_s) for r in rows],
    )
    tsv = [dict(setting=label, optimizer=r.optimizer, target_loss=target.loss, target=target.source,
                runs_reached=r.reached, runs=r.runs, grad_evals=r.grad_evals, wall_s=r.wall_s) for r in rows]
    return table, tsv


def _tuning_budget(setting: Mapping, label: str) -> Image:
    from vrdl.plots import expected_best_figure, png_bytes

    figure = expected_best_figure(grid_values(setting["tuning"]),
                                  title=f"{label}: tuning budget, expected best validation loss of k grid points "
                                        "(Dodge et al. 2019)")
    return Image(f"{label} expected best validation loss after k grid points", png_uri(png_bytes(figure)))


def _not_learned(setting: Mapping) -> list[str]:
    """The final runs of a setting that did not learn, with why: a caveat beside its tables."""
    return [f"{optimizer} {run.name}: {why}" for optimizer, paths in setting["finals"].items()
            for run in (study_claims.load_run(p) for p in paths_of(paths))
            if (why := study_claims.learning_failure(run))]


def load_study(study: Mapping, report_dir: Path, target_rows: list) -> dict:
    settings = []
    for setting in study["settings"]:
        paper = setting.get("paper") or {}
        label = f"{study['name']} BN {setting['bn']}"
        out = dict(bn=setting["bn"], table=paper.get("table"), figure=paper.get("figure"),
                   from_paper=setting.get("hparams_from") == "paper")
        if out["from_paper"]:  # `selection: paper`: nothing tuned or selected
            chosen = setting["hparams"]
            out["paper_hparams"] = [(o, fmt_hparams(h)) for o, h in chosen.items()]
        else:
            grids = {name: spec["grid"] for name, spec in study["optimizers"].items()}
            out["selected"], out["grid"], chosen = _selection(setting, paper.get("selected", {}), grids)
            out["tuning_budget"] = _tuning_budget(setting, label)
        out["finals"], out["seeds"] = _final_rows(setting, chosen)
        out["not_learned"] = _not_learned(setting)
        out["target"] = None
        if setting.get("time_to_target"):
            out["target"], rows = _target(setting, label)
            target_rows += rows
        out["figures"] = [load_image(png, report_dir, f"{label} {kind}") for kind, png in setting["figures"].items()
                          if not (kind == "target" and (out["target"] or {}).get("note"))]
        settings.append(out)
    return dict(
        name=study["name"], title=study["title"], settings=settings,
        setup=setup_rows(study["setup"], study["selection"]) + (
            [("seeds of the tune runs", ", ".join(str(s) for s in study["tune_seeds"]))]
            if study.get("tune_seeds") else []),
        optimizers=[dict(name=name, points=spec["points"], epochs=spec["epochs"], fixed=fmt_hparams(spec["fixed"]),
                         grid="; ".join(f"{k} ∈ {{{', '.join(f'{v:g}' for v in vals)}}}"
                                        for k, vals in spec["grid"].items()))
                    for name, spec in study["optimizers"].items()],
        variance=load_variance(study, report_dir) if study.get("variance") else None,
    )  # fmt: skip


def ratio_interval(rows: pd.DataFrame) -> str:
    """The variance ratio of these rows (one per seed) as mean ± its jackknife standard error over
    the minibatches measured (combined over seeds: sqrt(sum se^2) / seeds), and whether it can be
    told from 1 (beyond twice that); the mean alone for runs without the `_se` column."""
    mean = float(rows["variance_ratio"].mean())
    if "variance_ratio_se" not in rows or not rows["variance_ratio_se"].map(math.isfinite).all():
        return fmt_number(mean)
    se = math.sqrt(float((rows["variance_ratio_se"] ** 2).sum())) / len(rows)
    side = "below 1" if mean + 2 * se < 1 else "above 1" if mean - 2 * se > 1 else "not told from 1"
    return f"{fmt_number(mean)} ± {se:.2g} ({side})"


def load_variance(study: Mapping, report_dir: Path) -> dict:
    variance = study["variance"]
    groups: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for run in variance["runs"]:
        groups.setdefault((run["optimizer"], run["bn"]), []).append(read_variance(run["csv"])[0])
    rows = []
    for (optimizer, bn), frames in groups.items():
        frames = [f for f in frames if len(f)]
        if not frames:
            continue
        first = pd.concat([f.iloc[[0]] for f in frames])
        last = pd.concat([f.iloc[[-1]] for f in frames])
        rows.append(dict(
            optimizer=optimizer, bn=bn, seeds=len(frames),
            epochs=f"{int(first['epoch'].iloc[0])} / {int(last['epoch'].iloc[0])}",
            ratio_first=ratio_interval(first), ratio_last=ratio_interval(last),
            var_sgd=float(last["var_sgd"].mean()), var_svrg=float(last["var_svrg"].mean()),
        ))  # fmt: skip
    settings = variance.get("settings", {})
    return dict(rows=rows, epochs=", ".join(str(e) for e in settings.get("epochs", [])),
                batches=settings.get("batches", ""),
                figure=load_image(variance["figure"], report_dir, f"{study['name']} gradient variance"))


# ---------------------------------------------------------------------------- side studies


def side_sections(manifest: Mapping) -> list[tuple]:
    """(stage, its manifest part) of every side study that ran (vrdl.stages), in the page's order."""
    return [(stage, manifest[stage.key]) for stage in SIDE_STAGES if manifest.get(stage.key)]


# ---------------------------------------------------------------------------- claims


def _runs(paths) -> list:
    return [study_claims.load_run(path) for path in paths_of(paths)]


def load_claims_inputs(manifest: Mapping):
    """vrdl.claims.evaluate_claims's inputs from the manifest: the final runs per (study, BN) and
    optimizer (one per seed), the studies' models and titles, the MetaInit runs (a side study's
    `claim_runs`), and the seeds per study."""
    finals, models, titles, seeds = {}, {}, {}, {}
    for study in manifest["studies"]:
        models[study["name"]] = study.get("model", "")
        titles[study["name"]] = study.get("title", "")
        for setting in study["settings"]:
            key = (study["name"], setting["bn"])
            finals[key] = {optimizer: _runs(paths) for optimizer, paths in setting["finals"].items()}
            seeds[study["name"]] = max((len(v) for v in finals[key].values()), default=0)
    metainit = None  # the comparison a side study gives the study's claims (vrdl.claims.METAINIT)
    for stage, section in side_sections(manifest):
        runs = stage.claim_runs(section)
        if runs:
            metainit = {key: _runs(paths) for key, paths in runs.items()}
            titles[study_claims.METAINIT] = section.get("title", "")
    return finals, models, titles, metainit, seeds


def load_tuning(manifest: Mapping) -> dict[str, dict]:
    """Per setting label ("STUDY BN on"): each optimizer's grid-point values (tuning.tsv) and
    the grid edges its selected point sits on; settings that tuned nothing are absent."""
    out = {}
    for study in manifest["studies"]:
        grids = {name: spec["grid"] for name, spec in study["optimizers"].items()}
        for setting in study["settings"]:
            if not setting.get("selected"):
                continue
            chosen = {row.optimizer: json.loads(row.hparams) for row in read_tsv(setting["selected"]).itertuples()}
            out[f"{study['name']} BN {setting['bn']}"] = dict(
                values=grid_values(setting["tuning"]),
                edges={o: tuning.grid_edges(h, grids.get(o, {})) for o, h in chosen.items()})
    return out


def tuning_notes(part, tuned: Mapping[str, dict]) -> tuple[str, str]:
    """(how the comparison's ranking depends on the tuning budget, its grid-edge flags) of a
    comparison between two tuned optimizers; ("", "") otherwise."""
    info = tuned.get(part.setting)
    if not info or part.lower not in info["values"] or part.higher not in info["values"]:
        return "", ""
    name = study_claims.display_name
    ranking = tuning.ranking_text(name(part.lower), name(part.higher), info["values"][part.lower],
                                  info["values"][part.higher])
    edges = [f"{name(o)} {flag}" for o in (part.lower, part.higher) for flag in info["edges"].get(o, [])]
    return ranking, "; ".join(edges)


def _part_row(part, tuned: Mapping[str, dict] | None = None) -> dict:
    ranking, edges = tuning_notes(part, tuned or {})
    return dict(setting=part.setting, compared=f"{part.lower} < {part.higher}", words=part.words or part.setting,
                tuning=ranking, edges=edges,
                a=str(part.a), b=str(part.b), gap=fmt_gap(part.gap, part.noise),
                budget=part.a.budget if part.a else None, verdict=part.verdict, css=verdict_class(part.verdict),
                evidence=part.evidence, noise_source="; ".join(dict.fromkeys(part.sources)),
                learned=bool(part.a and part.b and part.a.learned and part.b.learned))


def judged_at(claim) -> str:
    """Where the claim is judged, for a reader."""
    if claim.at == study_claims.END:
        return "end of training" + (f" ({claim.protocol} epochs in the study)" if claim.protocol else "")
    return "common gradient budget"


def _claim_row(claim, tuned: Mapping[str, dict]) -> dict:
    part = claim.decisive
    flips = ", ".join(f"{x:.3g}" for x in claim.flips)
    return dict(claim=claim.claim, origin=claim.origin, verdict=claim.verdict, css=verdict_class(claim.verdict),
                decisive=_part_row(part, tuned) if part else None, noise=claim.noise, at=judged_at(claim),
                flips=flips, parts=[_part_row(p, tuned) for p in claim.parts], evidence=claim.evidence,
                short=claim.verdict == study_claims.SHORT)


def _claim_tsv(row: dict, claim) -> dict:
    part = claim.decisive
    return dict(claim=claim.claim, origin=claim.origin, verdict=claim.verdict, judged_at=row["at"],
                setting=part.setting if part else "", compared=row["decisive"]["words"] if part else "",
                gap=part.gap if part else math.nan, noise=part.noise if part else None,
                grad_evals=part.a.budget if part else math.nan,
                noise_source=row["decisive"]["noise_source"] if part else "", flips_at=row["flips"],
                tuning_budget=row["decisive"]["tuning"] if part else "",
                grid_edges=row["decisive"]["edges"] if part else "",
                evidence=claim.evidence)


def profile_times(finals: Mapping) -> tuple[dict, list[dict], list[dict]]:
    """Per workload (study x BN) with a common target (vrdl.targets.common_target): the
    optimizers' median gradient computations to reach it, the same per seed, and the targets'
    rows for the page."""
    median, per_seed, rows = {}, [], []
    for (study, bn), by_optimizer in finals.items():
        curves = {o: [r.curve for r in runs] for o, runs in by_optimizer.items() if runs}
        skip = [o for o, runs in by_optimizer.items() if any(study_claims.learning_failure(r) for r in runs)]
        target = targets.common_target(curves, skip) if len(curves) > 1 else None
        if target is None:
            continue
        label = f"{study} BN {bn}"
        *seeds, median[label] = targets.workload_times(curves, target)
        per_seed += [{} for _ in range(len(seeds) - len(per_seed))]
        for i, times in enumerate(seeds):
            per_seed[i][label] = times
        rows.append(dict(workload=f"{study} BN {bn}", loss=target.loss, source=target.source,
                         skipped=", ".join(skip)))
    return median, per_seed, rows


def load_profile(finals: Mapping) -> dict:
    """The performance profile across workloads: figure and targets (no figure without a
    workload that has a target)."""
    from vrdl.plots import performance_profile_figure, png_bytes

    median, per_seed, rows = profile_times(finals)
    if not median:
        return dict(figure=None, targets=[], seeds=0)
    finite = [x for r in targets.ratios(median).values() for x in r.values() if math.isfinite(x)]
    top = max(2.0, 1.5 * max(finite, default=1.0))
    taus = [top ** (i / 199) for i in range(200)]
    profiles = {name: {"median": values} for name, values in targets.performance_profile(median, taus).items()}
    if len(per_seed) > 1 and all(len(seed) == len(median) for seed in per_seed):
        seeds = [targets.performance_profile(times, taus) for times in per_seed]
        for name, profile in profiles.items():
            profile["low"] = [min(s[name][i] for s in seeds) for i in range(len(taus))]
            profile["high"] = [max(s[name][i] for s in seeds) for i in range(len(taus))]
    figure = performance_profile_figure(profiles, taus, len(median))
    return dict(figure=Image("performance profiles across workloads", png_uri(png_bytes(figure))), targets=rows,
                seeds=len(per_seed) if len(per_seed) > 1 else 0)


def load_claims(manifest: Mapping) -> tuple[dict, list[dict]]:
    """The claims section and the claims table's rows for the TSV."""
    from vrdl.plots import claims_figure, png_bytes, verdict_strip_figure

    finals, models, titles, metainit, seeds = load_claims_inputs(manifest)
    declared = study_claims.declared_claims(manifest.get("claims") or [])
    claims = study_claims.evaluate_claims(finals, models, metainit, claims=(*study_claims.CLAIMS, *declared),
                                          titles=titles)
    shown = [c for c in claims if c.verdict != study_claims.MISSING]
    tuned = load_tuning(manifest)
    rows = [_claim_row(c, tuned) for c in shown]
    tsv = [_claim_tsv(row, c) for row, c in zip(rows, shown)]
    figure, strip = claims_figure(claims), verdict_strip_figure(claims)
    seed_text = "; ".join(f"{name}: {n}" for name, n in seeds.items())
    seed_text += "; MetaInit comparison: 1" if metainit else ""
    section = dict(
        rows=rows, not_run=[c.claim for c in claims if c.verdict == study_claims.MISSING],
        short=[dict(claim=c.claim, why=next((p.short for p in c.parts if p.short), "")) for c in shown
               if c.verdict == study_claims.SHORT],
        figure=Image("claims: each compared test loss with its noise", png_uri(png_bytes(figure))) if figure else None,
        strip=Image("each claim's verdict along the gradient budget", png_uri(png_bytes(strip))) if strip else None,
        seeds=seed_text, failures=study_claims.did_not_learn(finals, metainit),
        decisive=study_claims.DECISIVE, loss_drop=study_claims.LOSS_DROP, blocks=bootstrap.BLOCKS,
        profile=load_profile(finals),
        resamples=bootstrap.RESAMPLES,
    )
    return section, tsv


# ---------------------------------------------------------------------------- the page


def _run_metas(manifest: Mapping) -> list[dict]:
    """The JSON of every run whose curve the page shows (finals, side studies)."""
    paths = [p for study in manifest["studies"] for setting in study["settings"]
             for paths in setting["finals"].values() for p in paths_of(paths)]
    paths += [path for stage, section in side_sections(manifest) for path in stage.run_csvs(section)]
    return [read_meta(Path(p).with_suffix(".json")) for p in paths]


def provenance(metas: list[dict]) -> dict:
    """Device, versions and the commits the runs came from (RUN.json's git_commit, git_dirty and
    git_dirty_files: changed code files; runs written before vrdl recorded them count as
    unrecorded), with a warning naming the changed files when they came from several commits or
    a tree with changed code: then the page mixes code versions."""
    commits: dict[str, int] = {}
    dirty = unrecorded = 0
    files: dict[str, None] = {}
    for meta in metas:
        commit = meta.get("git_commit")
        if commit:
            commits[commit] = commits.get(commit, 0) + 1
        else:
            unrecorded += 1
        if meta.get("git_dirty") is True:
            dirty += 1
            files.update(dict.fromkeys(meta.get("git_dirty_files") or ["changed files not recorded"]))
    warnings = []
    if len(commits) > 1:
        warnings.append(f"the runs come from {len(commits)} different commits")
    if dirty:
        warnings.append(f"{dirty} of {len(metas)} runs ran from a tree with uncommitted code changes "
                        f"({', '.join(list(files)[:10])}{', ...' if len(files) > 10 else ''})")
    first = metas[0] if metas else {}
    versions = ", ".join(f"{k} {v}" for k, v in first.get("versions", {}).items())
    return dict(device=first.get("device"), versions=versions, commits=sorted(commits.items(), key=lambda kv: -kv[1]),
                dirty=dirty, unrecorded=unrecorded, runs=len(metas), warning="; ".join(warnings),
                dirty_files=list(files))


def demo_subsets(manifest: Mapping) -> list[str]:
    """"NAME: N training / M test images" of every part of the study run on data subsets."""
    parts = [(study["name"], study["setup"]) for study in manifest["studies"]]
    parts += [(stage.key, section["setup"]) for stage, section in side_sections(manifest)]
    out = []
    for name, setup in parts:
        train, test = setup.get("train_subset"), setup.get("eval_subset")
        if train or test:
            out.append(f"{name}: {train or 'all'} training / {test or 'all'} test images")
    return out


@dataclass
class Report:
    """What the page shows (`page`, for the templates) and its tables as TSV rows."""

    page: dict
    tables: dict[str, list[dict]]


def load_report(manifest: Mapping, report_dir: str | Path) -> Report:
    """Everything the page shows, read through the checked readers; figures embedded."""
    report_dir = Path(report_dir)
    claims, claims_tsv = load_claims(manifest)
    target_rows: list[dict] = []
    page = dict(
        subsets=demo_subsets(manifest),
        provenance=provenance(_run_metas(manifest)),
        claims=claims,
        studies=[load_study(study, report_dir, target_rows) for study in manifest["studies"]],
        sides=[dict(key=stage.key, template=stage.template(), section=stage.load_section(section, report_dir))
               for stage, section in side_sections(manifest)],
    )
    return Report(page, {"claims": claims_tsv, "time_to_target": target_rows})


def _environment() -> jinja2.Environment:
    folders = dict.fromkeys([TEMPLATES, *(stage.template_dir for stage in SIDE_STAGES)])  # the side studies' templates
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(list(folders)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.do"])
    env.filters.update(num=fmt_number, spread=fmt_spread)
    return env


def render_report(page: Mapping) -> str:
    """The page's HTML from `load_report(...).page`."""
    return _environment().get_template("report.html.j2").render(**page)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(manifest: Mapping, out: str | Path, tables: Mapping[str, str | Path] | None = None) -> None:
    """The page at `out` and its tables (name -> TSV path: claims, time_to_target)."""
    check_same_data(listed_files_data(manifest))  # one data file per data set, or no report
    check_selections(manifest)  # each selected.tsv agrees with its tuning.tsv
    out = Path(out)
    report = load_report(manifest, out.parent)
    html = render_report(report.page)
    for name, path in (tables or {}).items():
        frame = pd.DataFrame(report.tables[name], columns=TABLE_COLUMNS[name])
        _write_atomic(Path(path), frame.to_csv(sep="\t", index=False))
    _write_atomic(out, html)
