"""Epoch time of the paper's models with plain SGD through vrdl's training loop, on synthetic
CIFAR-shaped data (uint8 3x32x32 with pad-crop + flip, 10/100 classes, batch 128) for the
full-width ResNet-18 (BN on/off) and ResNet-101 (BN on/off), and on real Fashion-MNIST for
LeNet (batch 32): fp32 and bf16, channels-last, torch.compile on/off.

Each variant times a fixed number of steps after warm-up steps (compile and cuDNN autotuning
happen there) and extrapolates an epoch of the study's training set. The fp32 figures give
the per-sample gradient cost that `vrdl plan --per-epoch-costs` reads:
seconds_per_sample_gradient = (plain SGD epoch at the study's batch size) / samples, each with
the shape it was measured on (vrdl.costs.SHAPE_KEYS), which is the only shape it prices.
Variants run in order of importance and the JSON is rewritten after each, so a timeout keeps
what finished.
"""

import argparse
import json
import time
from pathlib import Path

import torch

from vrdl import costs, data
from vrdl import train as vrdl_train
from vrdl.models import build_model

# model key -> (model, bn, classes, batch size, training samples per epoch of the study's final runs,
# the data set whose image shape the timed data has)
MODELS = {
    "lenet": ("lenet", False, 10, 32, 60000, "fashion_mnist"),
    "resnet18/bn~on": ("resnet18", True, 10, 128, 50000, "cifar10"),
    "resnet18/bn~off": ("resnet18", False, 10, 128, 50000, "cifar10"),
    "resnet101/bn~on": ("resnet101", True, 100, 128, 50000, "cifar100"),
    "resnet101/bn~off": ("resnet101", False, 100, 128, 50000, "cifar100"),
}
FP32 = dict(precision="fp32", channels_last=False, compile=False)


def variants(quick: bool) -> list[tuple[str, dict]]:
    """(model key, speed options), the cost figures (fp32) first, compile last (slow to warm up)."""
    fast = dict(precision="bf16", channels_last=True, compile=False)
    out = [(key, FP32) for key in MODELS]
    if quick:
        return out + [("resnet18/bn~on", fast)]
    resnets = [k for k in MODELS if k != "lenet"]
    out += [(key, fast) for key in resnets]
    out += [(key, dict(precision="bf16", channels_last=False, compile=False)) for key in resnets]
    out += [(key, dict(precision="fp32", channels_last=True, compile=False)) for key in resnets]
    out += [("lenet", dict(FP32, compile=True)), ("resnet18/bn~on", dict(fast, compile=True)),
            ("resnet101/bn~on", dict(fast, compile=True))]
    return out


def split_for(key: str, samples: int, device: torch.device, channels_last: bool, fashion_mnist: Path | None):
    """A training split of `samples` images on the device: real Fashion-MNIST for LeNet, else
    random CIFAR-shaped images with the CIFAR augmentation."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    if key == "lenet":
        parts = data.load("fashion_mnist", fashion_mnist)
        x, y = parts["train_x"][:samples], parts["train_y"][:samples]
        mean, std = data.channel_stats(x)
        return data.DeviceSplit(x.to(device), y.to(device), mean, std, memory_format=layout)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (samples, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, MODELS[key][2], (samples,), generator=g)
    mean, std = data.channel_stats(x)
    return data.DeviceSplit(x.to(device), y.to(device), mean, std, augment=True, memory_format=layout)


def measure(key: str, options: dict, device: torch.device, steps: int, warmup: int, batch: int | None,
            data_dir: Path | None, width: float = 1.0) -> dict:
    name, bn, classes, study_batch, epoch_samples, dataset = MODELS[key]
    batch = batch or study_batch
    width = width if name != "lenet" else 1.0
    in_channels, size = (1, 28) if key == "lenet" else (3, 32)
    torch.manual_seed(1)
    model = build_model(name, num_classes=classes, in_channels=in_channels, image_size=size, bn=bn,
                        width=width).to(device)
    if options["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if options["compile"] else model
    cfg = vrdl_train.RunConfig(dataset="cifar10", model=name, optimizer="sgd", lr=0.01, epochs=1, batch_size=batch,
                               bn=bn, **options)
    optimizer = vrdl_train.build_optimizer("sgd", model.parameters(), lr=0.01)
    objective = vrdl_train.Objective()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=options["precision"] == "bf16")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    warm = split_for(key, warmup * batch, device, options["channels_last"], data_dir)
    timed = split_for(key, steps * batch, device, options["channels_last"], data_dir)

    def epoch(split, n):
        with autocast:
            _, loss_sum, _, done = vrdl_train._train_epoch(cfg, n, net, objective, optimizer, None, split)
        assert torch.isfinite(loss_sum), f"{key}: loss is not finite"
        return done

    model.train()
    warm_s = _timed(lambda: epoch(warm, 1), device)
    seconds = _timed(lambda: epoch(timed, 2), device)
    per_sample = seconds / (steps * batch)
    shape = costs.shape(name, "on" if bn else "off", width, dataset, batch, options["precision"], device.type)
    return dict(model=key, **options, width=width, batch_size=batch, shape=shape, steps=steps, warmup_steps=warmup,
                warmup_s=round(warm_s, 3), step_ms=round(seconds / steps * 1e3, 3), seconds_per_sample=per_sample,
                epoch_samples=epoch_samples, epoch_s=round(per_sample * epoch_samples, 2))


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def label(r: dict) -> str:
    return f"{r['precision']}{' channels-last' if r['channels_last'] else ''}{' compile' if r['compile'] else ''}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--data-dir", required=True, help="holds fashion_mnist.pt (vrdl prepare), for LeNet")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant (LeNet: 60k/32, a whole epoch)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up steps per variant")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: fp32 (+ one bf16), 1 step of batch 8, ResNets of width 1/16, 1 thread")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.quick:
        torch.set_num_threads(1)
    result = dict(device=torch.cuda.get_device_name() if device.type == "cuda" else "cpu", torch=torch.__version__,
                  quick=args.quick, data="ResNets: synthetic CIFAR-shaped uint8 with crop+flip; LeNet: Fashion-MNIST",
                  results=[])
    out = Path(args.out)
    for key, options in variants(args.quick):
        if args.quick:
            r = measure(key, options, device, 1, 1, 8, Path(args.data_dir), width=1 / 16)
        else:  # LeNet: a whole epoch, its steps are short
            steps = MODELS["lenet"][4] // MODELS["lenet"][3] if key == "lenet" else args.steps
            r = measure(key, options, device, steps, args.warmup, None, Path(args.data_dir))
        print(f"{key:18s} {label(r):28s} {r['step_ms']:9.2f} ms/step  epoch {r['epoch_s']:8.1f} s "
              f"(warm-up {r['warmup_s']:.1f} s)", flush=True)
        result["results"].append(r)
        out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
