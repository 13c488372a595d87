"""envs/vrdl.yaml (the rules' conda environment) holds every runtime dependency of pyproject.toml,
pinned to the version installed here, where the tests run: a dependency added to pyproject and
not to the environment (as pyarrow once was) fails here, not in a user's `--sdm conda` run."""

import importlib.metadata
import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CONDA_NAME = {"torch": "pytorch"}  # conda-forge's name where it differs from PyPI's


def pyproject_dependencies() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [re.match(r"[A-Za-z0-9_.-]+", spec).group(0) for spec in project["dependencies"]]


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO / "envs" / "vrdl.yaml").read_text())
    return dict(entry.split("=", 1) for entry in env["dependencies"])


def test_environment_has_every_runtime_dependency_at_the_tested_version():
    pins = conda_pins()
    for name in pyproject_dependencies():
        conda = CONDA_NAME.get(name, name.lower())
        assert conda in pins, f"envs/vrdl.yaml lacks {conda} (pyproject.toml depends on {name})"
        assert pins[conda] == importlib.metadata.version(name), (
            f"envs/vrdl.yaml pins {conda}={pins[conda]}, the tests run {name} {importlib.metadata.version(name)}")


def test_environment_holds_nothing_else():
    wanted = {CONDA_NAME.get(name, name.lower()) for name in pyproject_dependencies()} | {"python"}
    assert set(conda_pins()) == wanted


def test_the_profiles_let_content_not_clocks_decide_reruns():
    """Snakemake's `code` trigger only compares script mtimes (the params carry the code's
    fingerprints): both shipped profiles leave it out, and keep every other trigger."""
    for profile in ("default", "slurm"):
        text = (REPO / "profiles" / profile / "config.yaml").read_text()
        triggers = yaml.safe_load(text.replace("__use_yte__: true\n", ""))["rerun-triggers"]
        assert triggers == ["mtime", "params", "input", "software-env"], profile
