from vrdl.datasets import (
    DATASETS,
)  # the data set registry (common.smk put this checkout's src/ first)

# Each data set is turned once into uint8 tensors (DATA_DIR/DATASET.pt) that training loads whole.
# update(): Snakemake must not delete the file before a rerun of the job (an mtime older than
# the scripts, a changed data.dir): `vrdl prepare` keeps an intact one and rebuilds a broken one.


rule prepare_data:
    output:
        update(f"{DATA_DIR}/{{dataset}}.pt"),
    log:
        "logs/prepare_data/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(DATASETS),
    conda:
        "../../envs/vrdl.yaml"
    params:
        source_dir=data_source,
    script:
        "../../scripts/prepare_data.py"
