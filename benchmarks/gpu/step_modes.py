"""A single run's training step three ways, on LeNet / Fashion-MNIST (batch 32) through vrdl's epoch
loop: eager, compiled (`vrdl train --compile` on a CPU: vrdl.compiled, inductor kernels) and
graphed (the same compiled functions with mode="reduce-overhead": on CUDA each step's gradient
work replays as one CUDA graph; what `vrdl train --compile` does on CUDA). For SGD, SVRG and STORM:
ms per step (steady state, after an untimed epoch that pays compilation and graph capture, whose
time is printed separately), each mode's ratio to eager, and each mode's epoch loss against
eager's (the same numbers to float tolerance). Without CUDA the graphed mode is skipped with a
message and eager and compiled are timed on the CPU. Headline `step_modes`: the best ratio of
a faster mode to eager for the first optimizer."""

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from epoch_time import HPARAMS  # noqa: E402

from vrdl import train as vrdl_train  # noqa: E402
from vrdl.compiled import CompiledGradients  # noqa: E402
from vrdl.gradients import ReferenceGradients  # noqa: E402
from vrdl.models import build_model  # noqa: E402


def make_epoch(name, model, train, mode):
    """A function of the epoch number running vrdl's epoch in `mode` (eager, compiled, graphed)."""
    cfg = vrdl_train.RunConfig(dataset="fashion_mnist", model="lenet", optimizer=name, epochs=1000, batch_size=32,
                               hparams=HPARAMS[name])
    optimizer = vrdl_train.build_optimizer(name, model.parameters(), run=cfg, **cfg.hparams)
    objective = vrdl_train.Objective()
    reference = ReferenceGradients(model, objective) if name != "sgd" else None
    compiled = None
    if mode != "eager":
        compiled = CompiledGradients(model, objective, reference, 32, graphs=mode == "graphed")

    def epoch(e):
        _, loss_sum, _, steps = vrdl_train._train_epoch(cfg, e, model, objective, optimizer, reference, train,
                                                        compiled=compiled)
        return float(loss_sum) / steps

    return epoch


def compare(name, model, train, modes, device, repeats):
    epochs = {mode: make_epoch(name, copy.deepcopy(model), train, mode) for mode in modes}
    warm, losses, times = {}, {}, {mode: [] for mode in modes}
    for mode, epoch in epochs.items():
        start = time.perf_counter()
        losses[mode] = epoch(1)  # compiles / captures; same data and start for every mode: comparable losses
        warm[mode] = time.perf_counter() - start
    for repeat in range(repeats):
        for mode, epoch in epochs.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            epoch(2 + repeat)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[mode].append(time.perf_counter() - start)
    steps = -(-len(train) // 32)
    eager = min(times["eager"])
    print(f"\n{name}: {steps} steps per epoch, best of {repeats}")
    for mode in modes:
        best = min(times[mode])
        rel = abs(losses[mode] - losses["eager"]) / abs(losses["eager"])
        print(f"  {mode:<9} {best / steps * 1e3:7.3f} ms/step  x{eager / best:5.2f} vs eager  first epoch "
              f"{warm[mode]:6.1f} s  epoch-1 loss {losses[mode]:.6f} (rel. diff to eager {rel:.1e})")
    return max(eager / min(times[m]) for m in modes if m != "eager")


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--data-dir", required=True, help="where fashion_mnist.pt is (vrdl prepare)")
    p.add_argument("--steps", type=int, default=200, help="minibatches per timed epoch")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--optimizers", default="sgd,svrg,storm")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = ["eager", "compiled", "graphed"]
    if args.device == "cuda" and not torch.cuda.is_available():
        print("step_modes: CUDA is not available here: the graphed mode (CUDA graphs) is skipped; eager and "
              "compiled are timed on the CPU")
        args.device = "cpu"
    if args.device == "cpu":
        modes.remove("graphed")
    device = torch.device(args.device)
    cfg = vrdl_train.RunConfig(dataset="fashion_mnist", model="lenet", optimizer="sgd", lr=0.01, epochs=1,
                               batch_size=32, train_subset=args.steps * 32)
    train, _ = vrdl_train.load_splits(cfg, args.data_dir, device)
    torch.manual_seed(1)
    model = build_model("lenet", num_classes=10, in_channels=1, image_size=28, bn=False).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"LeNet, Fashion-MNIST, batch 32, on {name}; load average {os.getloadavg()[0]:.2f}")
    ratios = [compare(o, model, train, modes, device, args.repeats) for o in args.optimizers.split(",")]
    print(f"step_modes: {ratios[0]:.2f}")


if __name__ == "__main__":
    main()
