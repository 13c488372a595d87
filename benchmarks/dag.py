"""Seconds of `snakemake -n` (building the DAG, no job run) on config/config.yaml and on a
generated sweep of about 10,000 tune jobs (the paper's config with a LeNet SGD grid of 2,500
learning rates x 4 folds). Headline: the seconds of the paper-config dry run."""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def dry_run(configfile: Path) -> tuple[float, dict[str, int]]:
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--workflow-profile", "none",
           "--configfile", str(configfile), "--quiet", "rules"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"dry run failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", done.stdout + done.stderr, re.M))
    return seconds, {k: int(v) for k, v in counts.items()}


def sweep_config(points: int) -> Path:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    lrs = [float(f"{10 ** (-5 + 4 * i / (points - 1)):.6g}") for i in range(points)]
    config["studies"]["lenet_mnist"]["optimizers"]["sgd"]["grid"]["lr"] = sorted(set(lrs))
    path = Path(tempfile.mkdtemp(prefix="bench-dag-")) / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sweep-points", type=int, default=2461, help="SGD grid points of the LeNet study in the sweep")
    args = p.parse_args()
    paper_s, paper_jobs = dry_run(REPO / "config" / "config.yaml")
    print(f"config/config.yaml: {paper_s:.2f} s for {paper_jobs.get('total')} jobs "
          f"({paper_jobs.get('tune')} tune; goal < 3 s)")
    sweep_s, sweep_jobs = dry_run(sweep_config(args.sweep_points))
    print(f"generated sweep: {sweep_s:.2f} s for {sweep_jobs.get('total')} jobs "
          f"({sweep_jobs.get('tune')} tune; goal < 30 s)")
    print(f"dag: {paper_s:.2f}")


if __name__ == "__main__":
    main()
