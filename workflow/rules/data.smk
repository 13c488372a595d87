# Each data set is turned once into uint8 tensors (DATA_DIR/DATASET.pt) that training loads whole.


rule prepare_data:
    output:
        f"{DATA_DIR}/{{dataset}}.pt",
    log:
        "logs/prepare_data/{dataset}.log",
    wildcard_constraints:
        dataset="mnist|fashion_mnist|cifar10|cifar100",
    conda:
        "../../envs/vrdl.yaml"
    params:
        source_dir=data_source,
    script:
        "../../scripts/prepare_data.py"
