"""Reading a study config: YAML files (numbers as numbers) merged as Snakemake merges them, the
error every check raises (ConfigError), and the small facts of a config the stages share (key
paths, BN names, training set sizes). The schema is vrdl.schema, the checks vrdl.checks;
`vrdl.plan` builds on the validated config. No torch and no Snakemake here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from vrdl import datasets


class ConfigError(ValueError):
    """An invalid config: `problems` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "Invalid configuration (config/README.md documents every key):\n  " + "\n  ".join(problems)
        )



# PyYAML reads 1e-5 (no dot) as a string; take it for the number it spells.
_EXPONENT_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def coerce_exponent_strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = coerce_exponent_strings(value)
    elif isinstance(node, list):
        node[:] = [coerce_exponent_strings(value) for value in node]
    elif isinstance(node, str) and _EXPONENT_NUMBER.match(node):
        return float(node)
    return node


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (plain YAML keeps the last one, silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in one mapping (YAML would keep only the last): "
                                "keep one", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> dict:
    """A config file's contents; ConfigError naming the file when it cannot be read or parsed, or
    when it gives a key twice."""
    try:
        with open(path) as handle:
            return coerce_exponent_strings(yaml.load(handle, Loader=_UniqueKeyLoader) or {})
    except OSError as err:
        raise ConfigError([f"cannot read config file {path}: {err.strerror}"]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError([f"{path}{where}: not valid YAML ({getattr(err, 'problem', None) or err})"]) from None


def read_json(path: str | Path, flag: str):
    """A JSON file given by a command-line flag; ValueError naming the flag and the file."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as err:
        raise ValueError(f"cannot read {flag} {path}: {err.strerror}") from None
    except ValueError as err:
        raise ValueError(f"{flag} {path} is not valid JSON ({err})") from None


def merge(base: dict, override: dict) -> dict:
    """`override` over `base` as Snakemake merges several --configfile: mappings key by key
    (recursively), every other value replaced whole."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            value = merge(merged[key], value)
        merged[key] = value
    return merged


def load_configs(paths) -> dict:
    """Several config files merged like Snakemake's `--configfile A B` (later ones win)."""
    config: dict = {}
    for path in paths:
        loaded = load_config(path)
        if not isinstance(loaded, dict):
            raise ConfigError([f"{path}: holds a {type(loaded).__name__}, not a mapping of config keys"])
        config = merge(config, loaded)
    return config


def key_path(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def train_size(setting: dict, split: str | None = None) -> int:
    """Samples a run trains on: the data set's training set less the validation part, subset."""
    n = datasets.get(setting["dataset"]).train_size
    if split == "holdout":
        n -= round(n * setting["selection"]["val_fraction"])
    elif split is not None:
        folds, fold = setting["selection"]["folds"], int(split.split("~")[1])
        n -= n // folds + (1 if fold < n % folds else 0)  # torch.tensor_split's part sizes
    subset = setting.get("train_subset")
    return min(n, subset) if subset else n


def bn_name(value) -> str:
    return "on" if value in (True, "on") else "off"


def study_bns(study: dict) -> list[str]:
    return sorted({bn_name(value) for value in study.get("bn", ["off"])}, key=["on", "off"].index)
