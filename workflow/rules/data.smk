# the data set registry (common.smk put this checkout's src/ first)
from vrdl.datasets import DATASETS

# Each data set is turned once into uint8 tensors (DATA_DIR/DATASET.pt) that training loads whole.
# A prepared file that is there is used as it is (training checks it, and a damaged one is named
# with the fix: delete it), so only a missing one is a job. A job for a file that exists would
# also rerun whenever the file is older than the scripts (an offline copy, a clock skew), and
# Snakemake then drops every job downstream of it (it masks them, then skips them for their
# ancient() data input) and exits 0 having trained nothing.
MISSING_DATA = [name for name in DATASETS if not Path(DATA_DIR, f"{name}.pt").exists()]


rule prepare_data:
    output:
        f"{DATA_DIR}/{{dataset}}.pt",
    log:
        "logs/prepare_data/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(MISSING_DATA) or "(?!)",
    conda:
        "../../envs/vrdl.yaml"
    params:
        source_dir=data_source,
    script:
        "../../scripts/prepare_data.py"
