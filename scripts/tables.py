"""Rule `tables`: the tidy runs and curves tables of the config's results (vrdl.tables)."""

import sys

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import file_errors_end_the_job, open_log, use_library  # noqa: E402

use_library(snakemake.scriptdir)  # noqa: F821
from vrdl.runs import RunFileError  # noqa: E402
from vrdl.seals import write_seal  # noqa: E402
from vrdl.tables import write  # noqa: E402

smk = snakemake  # noqa: F821
with open_log(smk.log[0]) as log, file_errors_end_the_job("tables"):
    try:
        write(smk.params.runs, smk.output.runs, smk.output.runs_csv, smk.output.curves)
        write_seal(smk.output.seal, [smk.output.runs, smk.output.runs_csv, smk.output.curves])
    except RunFileError as err:
        print(err, file=log)
        sys.exit(f"tables: {err}")
    print(f"{len(smk.params.runs)} runs -> {smk.output.runs}, {smk.output.runs_csv}, {smk.output.curves}", file=log)
