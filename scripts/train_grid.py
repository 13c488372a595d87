"""Stacked tune rules (`stacked: true`): one `vrdl train-grid` job for many tune runs of one
optimizer; each run writes the same RUN.csv/RUN.json as its `tune` job would. The spec and the
grid's per-epoch checkpoint live under checkpoints/, outside the declared outputs."""

import json
import sys
from pathlib import Path

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import run_logged, vrdl_command  # noqa: E402


def main(smk) -> None:
    spec, checkpoint = Path(smk.params.spec), Path(smk.params.checkpoint)
    try:
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(json.dumps({"runs": smk.params.runs}, indent=1) + "\n")
    except OSError as err:  # a read-only checkpoints/: one line naming it, no traceback
        sys.exit(f"cannot write the grid's spec {spec}: {err.strerror} (make checkpoints/ writable)")
    argv = [
        *vrdl_command(smk.scriptdir), "train-grid", "--spec", str(spec),
        "--data-dir", str(Path(smk.input.data).parent),
        "--device", smk.params.device,
        "--threads", str(smk.threads),
        "--checkpoint", str(checkpoint),
    ]  # fmt: skip
    run_logged(argv, smk.log[0], "vrdl train-grid")
    for path in smk.output:
        if not Path(path).exists():
            sys.exit(f"vrdl train-grid did not write {path}; see {smk.log[0]}")


main(snakemake)  # noqa: F821
