"""What run.sh runs with: Python, PyTorch and its device, Snakemake, vrdl; and whether every
requirement of the packages installed from the bundle (SITE) is met by this environment (the
GPU image's own packages included). Exits 1 if something the check needs cannot be imported;
unmet version requirements are printed as warnings (the slice shows whether they matter)."""

import importlib.metadata as md
import platform
import sys

from packaging.requirements import Requirement

# left out of the bundle on purpose (bundle.sh): Snakemake falls back to its greedy scheduler
OPTIONAL = {"pulp"}


def unmet_requirements(site: str) -> list[str]:
    problems = []
    for dist in md.distributions(path=[site]):
        for text in dist.requires or []:
            req = Requirement(text)
            if (req.marker and not req.marker.evaluate({"extra": ""})) or req.name.lower() in OPTIONAL:
                continue
            try:
                version = md.version(req.name)
            except md.PackageNotFoundError:
                problems.append(f"{dist.metadata['Name']} needs {req}: not installed")
                continue
            if req.specifier and not req.specifier.contains(version, prereleases=True):
                problems.append(f"{dist.metadata['Name']} needs {req}: found {version}")
    return problems


def main():
    device = sys.argv[1]
    site = sys.argv[2] if len(sys.argv) > 2 else None
    import snakemake  # noqa: F401 (fails here, not in the slice, if the bundle is broken)
    import torch

    import vrdl

    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"torch {torch.__version__}, snakemake {md.version('snakemake')} ({snakemake.__file__}), "
          f"vrdl {vrdl.__version__} ({vrdl.__file__})")
    if device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("check_env: --device cuda, but torch sees no CUDA device")
        print(f"device: {torch.cuda.get_device_name()}")
    for problem in unmet_requirements(site) if site else []:
        print(f"warning: {problem}")


if __name__ == "__main__":
    main()
