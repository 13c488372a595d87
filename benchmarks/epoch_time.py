"""Single LeNet runs on Fashion-MNIST (batch 32; SGD, SVRG, STORM): vrdl's epoch loop, eager and
compiled (`vrdl train --compile`), against a conventional loop of the kind the study's original code
is (a DataLoader over a torchvision data set with per-sample ToTensor + Normalize, `loss.item()`
every step, SVRG's snapshot pass as a second loop over the loader, STORM's second gradient from a
copy of the model). Same model, same process; the loops are timed interleaved, `--repeats` times
each, over `--steps` minibatches (an epoch of that many steps; SVRG's snapshot pass over the same
samples), and reported as ms per step and seconds per 60k-sample epoch. The compiled loop is timed
after an untimed epoch that pays the compilation (reported separately). Prints threads and load."""

import copy
import os
import time

import torch
import torchvision
import torchvision.transforms as T
from _common import headline, parser, setup, sync, torchvision_fashion_mnist_root, vrdl_data_dir

from vrdl import train as vrdl_train
from vrdl.compiled import CompiledGradients
from vrdl.gradients import ReferenceGradients
from vrdl.models import build_model

HPARAMS = {"sgd": dict(lr=0.01), "svrg": dict(lr=0.01), "storm": dict(k=0.1, c=100.0, w=0.1)}


def conventional_epoch(name, model, loader, max_steps):
    """One epoch as the study's code does it: torch.optim / hand-written updates, .item() per step."""
    criterion = torch.nn.CrossEntropyLoss()
    running_loss, lr = 0.0, 0.01
    if name == "svrg":  # snapshot and full gradient: a second loop over the loader
        snapshot = copy.deepcopy(model)
        mu = [torch.zeros_like(p) for p in model.parameters()]
        for step, (x, y) in enumerate(loader):
            snapshot.zero_grad()
            criterion(snapshot(x), y).backward()
            for m, p in zip(mu, snapshot.parameters()):
                m.add_(p.grad, alpha=1 / max_steps)
            if step + 1 == max_steps:
                break
    previous, direction, sum_sq = copy.deepcopy(model), None, 0.0
    sgd = torch.optim.SGD(model.parameters(), lr=lr)
    for step, (x, y) in enumerate(loader):
        model.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        if name == "sgd":
            sgd.step()
        elif name == "svrg":
            snapshot.zero_grad()
            criterion(snapshot(x), y).backward()
            with torch.no_grad():
                for p, g, s, m in zip(model.parameters(), grads, snapshot.parameters(), mu):
                    p.sub_(lr * (g - s.grad + m))
        else:
            direction, sum_sq = _storm_step(model, previous, criterion, x, y, grads, direction, sum_sq)
        running_loss += loss.item()
        if step + 1 == max_steps:
            break
    return running_loss


def _storm_step(model, previous, criterion, x, y, grads, direction, sum_sq):
    with torch.no_grad():
        if direction is None:
            direction = [g.clone() for g in grads]
        else:
            previous.zero_grad()
            with torch.enable_grad():
                criterion(previous(x), y).backward()
            a = min(1.0, 100.0 * _storm_step.eta ** 2)
            direction = [g + (1 - a) * (d - q.grad) for g, d, q in zip(grads, direction, previous.parameters())]
        sum_sq += sum(g.square().sum().item() for g in grads)
        _storm_step.eta = 0.1 / (0.1 + sum_sq) ** (1 / 3)
        previous.load_state_dict(model.state_dict())
        for p, d in zip(model.parameters(), direction):
            p.sub_(_storm_step.eta * d)
    return direction, sum_sq


def vrdl_loop(name, model, train, steps, compile, cache=False):
    """vrdl's epoch (`vrdl.train._train_epoch`), the snapshot pass included; a function of the epoch.
    `cache`: SVRG keeps the snapshot pass's per-batch gradients (--cache-snapshot-grads, as the
    study's configs run it): two gradients per step instead of three."""
    cfg = vrdl_train.RunConfig(dataset="fashion_mnist", model="lenet", optimizer=name, epochs=1000, batch_size=32,
                               hparams=HPARAMS[name], compile=compile, cache_snapshot_grads=cache)
    optimizer = vrdl_train.build_optimizer(name, model.parameters(), run=cfg, **cfg.hparams)
    objective = vrdl_train.Objective()
    reference = ReferenceGradients(model, objective) if name != "sgd" else None
    compiled = CompiledGradients(model, objective, reference, 32) if compile else None

    def epoch(e):
        _, loss_sum, _, n = vrdl_train._train_epoch(cfg, e, model, objective, optimizer, reference, train,
                                                    compiled=compiled)
        assert n == steps and torch.isfinite(loss_sum)

    return epoch


def main():
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=300, help="minibatches per timed epoch (60k samples: 1875)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved timings of each loop")
    p.add_argument("--optimizers", default="sgd,svrg,storm")
    p.add_argument("--no-compile", action="store_true", help="skip the compiled loop")
    args = p.parse_args()
    device = setup(args)
    cfg = vrdl_train.RunConfig(dataset="fashion_mnist", model="lenet", optimizer="sgd", lr=0.01, epochs=1,
                               batch_size=32, train_subset=args.steps * 32)
    train, _ = vrdl_train.load_splits(cfg, vrdl_data_dir(args.source_dir), device)
    dataset = torchvision.datasets.FashionMNIST(str(torchvision_fashion_mnist_root(args.source_dir)), train=True,
                                                transform=T.Compose([T.ToTensor(), T.Normalize((0.286,), (0.353,))]))
    dataset = torch.utils.data.Subset(dataset, range(args.steps * 32))
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True)
    torch.manual_seed(1)
    model = build_model("lenet", num_classes=10, in_channels=1, image_size=28, bn=False).to(device)
    threads = torch.get_num_threads()
    print(f"LeNet, Fashion-MNIST, {args.steps} steps of batch 32 per epoch, {device}, {threads} thread(s), "
          f"load average at start {os.getloadavg()[0]:.2f}")
    ratios = [_compare(name, model, loader, train, args, device) for name in args.optimizers.split(",")]
    headline("epoch_time", ratios[0])  # the first optimizer's (SGD's): the GPU check's summary reads it


def _compare(name, model, loader, train, args, device):
    conventional_model = copy.deepcopy(model)
    loops = {"conventional": lambda e: conventional_epoch(name, conventional_model, loader, args.steps),
             "vrdl eager": vrdl_loop(name, copy.deepcopy(model), train, args.steps, False)}
    if name == "svrg":
        loops["vrdl eager, cached"] = vrdl_loop(name, copy.deepcopy(model), train, args.steps, False, cache=True)
    compile_s = None
    if not args.no_compile:
        loops["vrdl compiled"] = vrdl_loop(name, copy.deepcopy(model), train, args.steps, True)
        start = time.perf_counter()
        loops["vrdl compiled"](1)  # compiles (and runs one epoch)
        compile_s = time.perf_counter() - start
        if name == "svrg":
            loops["vrdl compiled, cached"] = vrdl_loop(name, copy.deepcopy(model), train, args.steps, True, cache=True)
            loops["vrdl compiled, cached"](1)
    times = {k: [] for k in loops}
    for repeat in range(args.repeats):
        for label, loop in loops.items():
            sync(device)
            start = time.perf_counter()
            loop(2 + repeat)
            sync(device)
            times[label].append(time.perf_counter() - start)
    base = min(times["conventional"])
    print(f"\n{name}: best of {args.repeats} (load average now {os.getloadavg()[0]:.2f})")
    for label, ts in times.items():
        best = min(ts)
        print(f"  {label:<21} {best / args.steps * 1e3:6.2f} ms/step  {best / args.steps * 1875:6.1f} s per 60k epoch"
              f"  x{base / best:.2f} vs conventional  (all: {', '.join(f'{t:.2f}' for t in ts)} s)")
    if compile_s is not None:
        print(f"  compiling: the first compiled epoch took {compile_s:.1f} s ({min(times['vrdl compiled']):.1f} s "
              "once compiled)")
    fastest = min((label for label in times if label != "conventional"), key=lambda label: min(times[label]))
    ratio = base / min(times[fastest])
    print(f"  {name}: {fastest} vs conventional x{ratio:.2f}")
    return ratio


if __name__ == "__main__":
    main()
