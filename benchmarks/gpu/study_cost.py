"""GPU-hours of a study config (config/config.yaml) from measured per-sample gradient costs.

A stopgap until `vrdl plan --per-epoch-costs FILE` (which reads the same costs file) does this
from the workflow's own plan. Counts every tune, final and MetaInit run as trained on its own
(stacked LeNet grids run faster; benchmarks/gpu/run.sh measures by how much), with per-sample
gradients per epoch SGD/Adam/AdaGrad 1, STORM 2, SVRG 2 + 1/snapshot_every, and each epoch's
evaluation forward pass at a third of a gradient per evaluated sample. Not counted: MetaInit's
own 200 steps, variance diagnostics, start-up.

    python benchmarks/gpu/study_cost.py COSTS.json [config/config.yaml]
"""

import json
import math
import sys
from pathlib import Path

import yaml

# training and test samples of the data sets
SIZES = {"mnist": (60000, 10000), "fashion_mnist": (60000, 10000), "cifar10": (50000, 10000),
         "cifar100": (50000, 10000)}
EVAL_FORWARD = 1 / 3  # a forward pass costs about a third of a forward + backward


def grads_per_sample(optimizer: str, hparams: dict) -> float:
    if optimizer == "storm":
        return 2.0
    if optimizer == "svrg":
        return 2.0 + 1.0 / hparams.get("snapshot_every", 1)
    return 1.0


def cost_key(model: str, bn: str) -> str:
    return "lenet" if model == "lenet" else f"{model}/bn~{bn}"


def run_seconds(rate: float, epochs: int, n_train: int, n_eval: int, factor: float) -> float:
    return epochs * rate * (factor * n_train + EVAL_FORWARD * n_eval)


def study_runs(study: dict) -> list[dict]:
    """Every training run of one study as (stage, key, epochs, n_train, n_eval, factor)."""
    n, n_test = SIZES[study["dataset"]]
    if study.get("train_subset"):
        n = min(n, study["train_subset"])
    selection = study["selection"]
    if "folds" in selection:
        k = selection["folds"]
        tune_train, tune_eval, splits = n * (k - 1) // k, n // k, k
    else:
        f = selection["val_fraction"]
        tune_train, tune_eval, splits = round(n * (1 - f)), round(n * f), 1
    tune_seeds = len(selection.get("seeds", [1]))
    runs = []
    for bn in study.get("bn", ["off"]):
        key = cost_key(study["model"], bn)
        for optimizer, spec in study["optimizers"].items():
            epochs = spec.get("epochs", study["epochs"])
            factor = grads_per_sample(optimizer, spec.get("fixed", {}))
            points = math.prod(len(v) for v in spec.get("grid", {}).values())
            common = dict(key=key, epochs=epochs, factor=factor)
            tune = dict(stage="tune", n_train=tune_train, n_eval=tune_eval, **common)
            runs += [tune] * (points * splits * tune_seeds)
            runs += [dict(stage="final", n_train=n, n_eval=n_test, **common)] * len(study.get("seeds", [1]))
    return runs


def metainit_runs(spec: dict) -> list[dict]:
    n, n_test = SIZES[spec["dataset"]]
    factor = grads_per_sample(spec["optimizer"], spec.get("hparams", {}))
    run = dict(stage="metainit", key=cost_key(spec["model"], spec["bn"]), epochs=spec["epochs"], n_train=n,
               n_eval=n_test, factor=factor)
    return [run, run]  # with and without MetaInit


def study_cost(config: dict, rates: dict[str, float]) -> dict:
    """GPU-hours per stage and in all; runs whose model has no measured rate are listed as missing."""
    runs = [r for study in config["studies"].values() for r in study_runs(study)]
    if config.get("metainit"):
        runs += metainit_runs(config["metainit"])
    hours, by_model, counts, missing = {}, {}, {}, set()
    for r in runs:
        counts[r["stage"]] = counts.get(r["stage"], 0) + 1
        if r["key"] not in rates:
            missing.add(r["key"])
            continue
        seconds = run_seconds(rates[r["key"]], r["epochs"], r["n_train"], r["n_eval"], r["factor"])
        hours[r["stage"]] = hours.get(r["stage"], 0.0) + seconds / 3600
        model = by_model.setdefault(r["key"], {})
        model[r["stage"]] = model.get(r["stage"], 0.0) + seconds / 3600
    return dict(runs=counts, gpu_hours={k: round(v, 2) for k, v in hours.items()},
                gpu_hours_by_model={k: {s: round(h, 2) for s, h in v.items()} for k, v in by_model.items()},
                total_gpu_hours=round(sum(hours.values()), 2), missing_rates=sorted(missing))


def main():
    costs = json.loads(Path(sys.argv[1]).read_text())
    config = yaml.safe_load(Path(sys.argv[2] if len(sys.argv) > 2 else "config/config.yaml").read_text())
    print(json.dumps(study_cost(config, costs["seconds_per_sample_gradient"]), indent=2))


if __name__ == "__main__":
    main()
