"""What a run's files are: the run's identity, read from its path in the workflow's layout
(vrdl.paths: config name, stage, study, BN, optimizer, grid point, seed, split), and SHA-256
hashes of its CSVs. `vrdl train` records both in RUN.json (`run_record`); the readers (vrdl.runs)
check them, so an edited file or a run copied into another run's place is refused. Its own module
so that the training code does not import the readers (their edits rerun no training)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def _layouts() -> list[tuple[str, re.Pattern]]:
    """(stage, pattern of a run's path stem) for each kind of run the workflow writes (vrdl.plan)."""
    from vrdl.paths import Paths, side_runs

    paths = Paths("{name}")  # the config's results namespace is part of a run's identity
    templates = dict(tune=paths.tune, final=paths.final) | {key: paths.side_run(key) for key in side_runs()}
    layouts = []
    for stage, template in templates.items():
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        layouts.append((stage, re.compile(f"(?:^|/){pattern}$")))
    return layouts


def run_stem(path: str | Path) -> str:
    """RUN for RUN.csv, RUN.json and RUN.variance.csv."""
    text = str(path)
    for suffix in (".variance.csv", ".csv", ".json"):
        if text.endswith(suffix):
            return text.removesuffix(suffix)
    return text


def identity_of(path: str | Path) -> dict | None:
    """The run a path in the workflow's layout belongs to ({"stage": "tune", "study": ...,
    "bn": "off", ...}, values as in the path); None for a path outside that layout."""
    stem = Path(run_stem(path)).as_posix()
    for stage, pattern in _layouts():
        match = pattern.search(stem)
        if match:
            return {"stage": stage, **match.groupdict()}
    return None


def sha256_of(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def run_record(out: str | Path, csv_text: str, variance_text: str | None = None) -> dict:
    """What RUN.json records to prove what the run's files are: the identity its --out path
    gives (vrdl train takes it from there, so a file copied to another run's place no longer
    fits) and the SHA-256 of RUN.csv (and RUN.variance.csv) as written."""
    record = dict(identity=identity_of(out), csv_sha256=sha256_of(csv_text))
    if variance_text is not None:
        record["variance_sha256"] = sha256_of(variance_text)
    return record


def sealed_json(meta: dict) -> str:
    """RUN.json's text: `meta` and, last, `json_sha256`, the SHA-256 of the text without it, so
    that an edited field (a hyperparameter, the budget) is seen as an edited CSV is."""
    from vrdl.files import strict_json

    body = {key: value for key, value in meta.items() if key != "json_sha256"}
    return strict_json(dict(body, json_sha256=sha256_of(strict_json(body))))


def unseal(meta: dict) -> str | None:
    """Remove RUN.json's seal from `meta` (as read); why it does not hold, None when it does."""
    from vrdl.files import strict_json

    recorded = meta.pop("json_sha256", None)
    if not isinstance(recorded, str):
        return "records no json_sha256 (written by an older vrdl?), so it cannot be checked"
    if sha256_of(strict_json(meta)) != recorded:
        return "is not the file the run wrote (its content differs from its json_sha256): an edited file"
    return None
