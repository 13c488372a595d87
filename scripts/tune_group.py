"""Rule tune_group: the check that ends a group of tune runs sharing one cluster job
(`cluster.group_runs`, vrdl.cluster): each run read through the checked reader, one row per run."""

import sys

# snakemake is injected by Snakemake. Appended, not prepended: scripts/ must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import file_errors_end_the_job, open_log, use_library  # noqa: E402

use_library(snakemake.scriptdir)  # noqa: F821
import pandas as pd  # noqa: E402

from vrdl.runs import RunFileError, read_run  # noqa: E402


def main(smk) -> None:
    rows = []
    for run, csv in zip(smk.params.runs, smk.input.runs, strict=True):
        try:
            checked = read_run(csv, dict(optimizer=run["optimizer"], seed=run["seed"], hparams=run["hparams"]))
        except RunFileError as err:  # moved aside: the next snakemake trains it again
            sys.exit(f"tune group {smk.wildcards.study} {smk.wildcards.group}: {err}")
        rows.append(dict(bn=run["bn"], optimizer=run["optimizer"], point=run["point"], seed=run["seed"],
                         split=run["split"], epochs=len(checked.curve) - 1, diverged=checked.diverged,
                         final_eval_loss=checked.final_eval_loss, csv=csv))
    pd.DataFrame(rows).to_csv(smk.output[0], sep="\t", index=False)
    print(f"{len(rows)} runs checked", file=sys.stderr)


sys.stderr = open_log(snakemake.log[0])  # noqa: F821  (a read-only logs/: one line, not a traceback)
with file_errors_end_the_job(f"tune group {snakemake.wildcards.study} {snakemake.wildcards.group}"):  # noqa: F821
    main(snakemake)  # noqa: F821
