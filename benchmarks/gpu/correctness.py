"""CUDA against CPU, same seed: LeNet and a narrow ResNet-18 with BN, every optimizer of the
registry (vrdl.optim.registry.OPTIMIZERS), trained by
`vrdl.train.run` on both devices from the same initial weights and data order.

Checks, with TF32 off so that the devices differ by summation order only (tolerances loose
enough for that, tight enough to catch a wrong gradient, a skipped step or a wrong count):
- grad_evals of every epoch row equal (exact);
- the first steps: the loss before any update (row 0, forward only) within FORWARD_RTOL and the
  mean training loss of a run of FIRST_STEPS steps within FIRST_STEPS_RTOL (relative);
- a few epochs: final train loss within END_LOSS_RTOL (relative) and eval accuracy within
  END_ACC_ABS (absolute) of the CPU run's;
- a bf16 run of each model finishes with finite losses and RUN.json records precision bf16.
With --device cpu both sides run on the CPU (a check of the harness and of determinism).
Writes one JSON with every comparison; exits 1 if any check failed.
"""

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from vrdl.optim import registry
from vrdl.train import RunConfig, run

FORWARD_RTOL = 1e-3
FIRST_STEPS_RTOL = 1e-2
END_LOSS_RTOL = 0.10
END_ACC_ABS = 0.05
FIRST_STEPS = 8  # the short run's steps (--quick: 2)
BATCH = 32
# Settings that train stably for a few epochs; an optimizer not named here runs with its registry
# defaults, plus lr 0.01 where the registry requires one.
SETTINGS = {
    "sgd": dict(lr=0.05),
    "adam": dict(lr=1e-3),
    "adagrad": dict(lr=0.01),
    "svrg": dict(lr=0.05),
    "storm": dict(hparams=dict(k=0.1, c=100.0, w=0.1)),
    "alpha_svrg": dict(lr=1e-3),
}
MODELS = {"lenet": dict(model="lenet", bn=False), "resnet18_bn": dict(model="resnet18", bn=True, width=0.125)}


def optimizers() -> list[str]:
    """Every registered optimizer: a new one is compared on CUDA without editing this file."""
    return list(registry.OPTIMIZERS)


def settings(optimizer: str) -> dict:
    if optimizer in SETTINGS:
        return SETTINGS[optimizer]
    return dict(lr=0.01) if "lr" in registry.get(optimizer).required else {}


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def train(cfg: RunConfig, device: str, data_dir: Path, out: Path) -> tuple[dict, list[dict]]:
    csv_path = out / f"{device}_{time.monotonic_ns()}.csv"
    with open(out / "train.log", "a") as log:
        summary = run(cfg, out=csv_path, data_dir=data_dir, device=device, log=log)
    with open(csv_path) as f:
        rows = [{k: float(row[k]) for k in ("grad_evals", "train_loss", "eval_loss", "eval_acc")}
                for row in csv.DictReader(f)]
    return summary, rows


def compare(model: str, optimizer: str, device: str, data_dir: Path, out: Path, sizes: dict) -> dict:
    base = dict(dataset="fashion_mnist", optimizer=optimizer, batch_size=BATCH, seed=1, **MODELS[model],
                **settings(optimizer))
    short = RunConfig(**base, epochs=1, train_subset=sizes["first_steps"] * BATCH, eval_subset=sizes["eval"])
    long = RunConfig(**base, epochs=sizes["epochs"], train_subset=sizes["train"], eval_subset=sizes["eval"])
    (_, dev_short), (_, cpu_short) = train(short, device, data_dir, out), train(short, "cpu", data_dir, out)
    (dev_sum, dev_long), (cpu_sum, cpu_long) = train(long, device, data_dir, out), train(long, "cpu", data_dir, out)
    figures = dict(
        forward_rel=relative(dev_short[0]["train_loss"], cpu_short[0]["train_loss"]),
        first_steps_rel=relative(dev_short[1]["train_loss"], cpu_short[1]["train_loss"]),
        end_loss_rel=relative(dev_long[-1]["train_loss"], cpu_long[-1]["train_loss"]),
        end_acc_abs=abs(dev_long[-1]["eval_acc"] - cpu_long[-1]["eval_acc"]),
        grad_evals=[int(r["grad_evals"]) for r in dev_long],
    )
    same_counts = all(a["grad_evals"] == b["grad_evals"] for a, b in zip(dev_short + dev_long, cpu_short + cpu_long))
    checks = dict(
        grad_evals_equal=same_counts and dev_sum["grad_evals"] == cpu_sum["grad_evals"],
        forward=figures["forward_rel"] <= FORWARD_RTOL,
        first_steps=figures["first_steps_rel"] <= FIRST_STEPS_RTOL,
        end_loss=figures["end_loss_rel"] <= END_LOSS_RTOL,
        end_acc=figures["end_acc_abs"] <= END_ACC_ABS,
    )
    return dict(model=model, optimizer=optimizer, figures=figures, checks=checks, ok=all(checks.values()))


def bf16_run(model: str, device: str, data_dir: Path, out: Path, sizes: dict) -> dict:
    cfg = RunConfig(dataset="fashion_mnist", optimizer="sgd", lr=0.05, batch_size=BATCH, epochs=1, precision="bf16",
                    train_subset=sizes["train"], eval_subset=sizes["eval"], **MODELS[model])
    summary, rows = train(cfg, device, data_dir, out)
    finite = all(math.isfinite(r["train_loss"]) and math.isfinite(r["eval_loss"]) for r in rows)
    checks = dict(finished=summary["epochs_run"] == 1, finite=finite, recorded_bf16=summary["precision"] == "bf16")
    return dict(model=model, optimizer="sgd", precision=summary["precision"], final_train_loss=rows[-1]["train_loss"],
                checks=checks, ok=all(checks.values()))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--data-dir", required=True, help="holds fashion_mnist.pt (vrdl prepare)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--quick", action="store_true", help="tiny runs (a smoke test of the harness)")
    args = p.parse_args()
    if args.quick:  # a smoke test on a loaded CPU: LeNet with every optimizer, ResNet with SVRG only
        sizes = dict(train=64, eval=64, epochs=2, first_steps=2, resnet_optimizers=["svrg"])
        torch.set_num_threads(1)
    else:
        sizes = dict(train=2048, eval=512, epochs=3, first_steps=FIRST_STEPS,
                     resnet_optimizers=optimizers())
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 on both sides
    torch.backends.cudnn.allow_tf32 = False
    work = Path(tempfile.mkdtemp(prefix="vrdl-correctness-"))
    result = dict(device=torch.cuda.get_device_name() if args.device == "cuda" else "cpu", reference="cpu",
                  sizes=sizes, batch_size=BATCH,
                  tolerances=dict(forward_rtol=FORWARD_RTOL, first_steps_rtol=FIRST_STEPS_RTOL,
                                  end_loss_rtol=END_LOSS_RTOL, end_acc_abs=END_ACC_ABS),
                  comparisons=[], bf16=[])
    out = Path(args.out)

    def save():  # after every comparison: a timeout keeps what finished
        result["ok"] = all(c["ok"] for c in result["comparisons"] + result["bf16"])
        out.write_text(json.dumps(result, indent=2) + "\n")

    for model in MODELS:
        for optimizer in optimizers() if model == "lenet" else sizes["resnet_optimizers"]:
            c = compare(model, optimizer, args.device, Path(args.data_dir), work, sizes)
            print(f"{model:12s} {optimizer:8s} {'ok  ' if c['ok'] else 'FAIL'} "
                  + " ".join(f"{k}={v:.2e}" for k, v in c["figures"].items() if k != "grad_evals"), flush=True)
            result["comparisons"].append(c)
            save()
        b = bf16_run(model, args.device, Path(args.data_dir), work, sizes)
        print(f"{model:12s} bf16     {'ok  ' if b['ok'] else 'FAIL'} train_loss={b['final_train_loss']:.4f}",
              flush=True)
        result["bf16"].append(b)
        save()
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
