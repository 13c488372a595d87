"""Rule report: the report page and its TSV tables (vrdl.report)."""

import sys

# snakemake is injected by Snakemake. Appended, not prepended: select.py must not shadow the stdlib.
sys.path.append(snakemake.scriptdir)  # noqa: F821
from vrdl_env import file_errors_end_the_job, open_log, use_library  # noqa: E402

use_library(snakemake.scriptdir)  # noqa: F821
from vrdl.report import write_report  # noqa: E402
from vrdl.runs import RunFileError  # noqa: E402
from vrdl.seals import write_seal  # noqa: E402
from vrdl.select import SelectionError  # noqa: E402

sys.stderr = open_log(snakemake.log[0])  # noqa: F821  (a read-only logs/: one line, not a traceback)
out = snakemake.output  # noqa: F821
with file_errors_end_the_job("report"):
    try:
        write_report(snakemake.params.manifest, out.html, {"claims": out.claims, "time_to_target": out.time_to_target})  # noqa: F821
        write_seal(out.seal, [out.html, out.claims, out.time_to_target])
    except (RunFileError, SelectionError) as err:  # a damaged result file: one line naming it (moved aside)
        sys.exit(f"report: {err}")
