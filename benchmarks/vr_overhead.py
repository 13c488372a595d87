"""Epoch wall time of SVRG and STORM over SGD on LeNet/Fashion-MNIST (vrdl's loop), against the
ratios their gradient counts say they must cost: SVRG 2 + 1/snapshot_every, STORM 2. Then
SVRG's fast path (snapshot gradients cached from the full-gradient pass), whose floor is 2.0.
Headline: the worst measured/expected over the plain SVRG and STORM."""

import dataclasses

import torch
from _common import headline, parser, setup, timed, vrdl_data_dir

from vrdl import train as vrdl_train
from vrdl.models import build_model
from vrdl.optim import build_optimizer, registry


def make_run(cfg, train, device):
    """A function that trains one more epoch of this run and returns its seconds."""
    torch.manual_seed(1)
    model = build_model("lenet", num_classes=10, in_channels=1, image_size=28, bn=cfg.bn).to(device)
    optimizer = build_optimizer(cfg.optimizer, model.parameters(), **cfg.hparams)
    needs_reference = registry.get(cfg.optimizer).reference_kind(cfg.hparams) != "none"
    reference = vrdl_train.ReferenceGradients(model) if needs_reference else None
    objective = vrdl_train.Objective()
    epoch = iter(range(1, 10**6))
    return lambda: timed(lambda: vrdl_train._train_epoch(cfg, next(epoch), model, objective, optimizer, reference,
                                                         train), device)


def main():
    p = parser(__doc__)
    p.add_argument("--train-subset", type=int, default=15000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--bn", action="store_true", help="LeNet with batch norm")
    args = p.parse_args()
    device = setup(args)
    base = vrdl_train.RunConfig(dataset="fashion_mnist", model="lenet", optimizer="sgd", lr=0.01, epochs=1,
                                batch_size=32, bn=args.bn, train_subset=args.train_subset)
    train, _ = vrdl_train.load_splits(base, vrdl_data_dir(args.source_dir), device)
    runs = {
        "sgd": (base, None),
        "svrg": (dataclasses.replace(base, optimizer="svrg"), 3.0),
        "storm": (dataclasses.replace(base, optimizer="storm", lr=None, hparams={}), 2.0),
        "svrg cached": (dataclasses.replace(base, optimizer="svrg", cache_snapshot_grads=True), 3.0),
    }
    # epoch 1 warms up (and gives STORM its first step); then round-robin over the optimizers so
    # that a change of machine load hits all of them alike; the best of `repeats` epochs each
    epochs = {name: make_run(cfg, train, device) for name, (cfg, _) in runs.items()}
    for run_epoch in epochs.values():
        run_epoch()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run_epoch in epochs.items():
            times[name].append(run_epoch())
    seconds = {name: min(t) for name, t in times.items()}
    print(f"LeNet{' + BN' if args.bn else ''}, {len(train)} samples, batch 32, {device}, "
          f"threads {torch.get_num_threads()}")
    worst = 0.0
    for name, (_, expected) in runs.items():
        ratio = seconds[name] / seconds["sgd"]
        line = f"{name:12s} {seconds[name]:7.2f} s/epoch  x{ratio:.2f} of SGD"
        if expected:
            line += f"  (gradient-count ratio {expected:.1f}: measured/expected {ratio / expected:.3f})"
            if name != "svrg cached":
                worst = max(worst, ratio / expected)
        print(line)
    headline("vr_overhead", worst)


if __name__ == "__main__":
    main()
