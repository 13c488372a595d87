"""Many LeNet runs of one optimizer at once (`vrdl train-grid`: stacked parameters under vmap)
against the same runs one after another (`vrdl train` each), same process, same data.
Headline: the speedup of the grid over separate runs on the device it runs on (`stacked: auto`
stacks on CUDA, and on a CPU only compiled: config/README.md). With --compile, a third
measurement: the grid with its step compiled (`vrdl train-grid --compile`; on CUDA, CUDA graphs),
timed after an untimed warm-up grid that pays the compilation, against both."""

import csv
import dataclasses
import tempfile
import time
import warnings
from pathlib import Path

import torch
from _common import headline, parser, setup, sync, vrdl_data_dir

from vrdl.grid import run_grid
from vrdl.optim import registry
from vrdl.train import RunConfig, run


def main():
    p = parser(__doc__)
    p.add_argument("--optimizer", default="sgd", choices=[n for n, e in registry.OPTIMIZERS.items() if e.stacked])
    p.add_argument("--lrs", default="0.1,0.01", help="learning rates of the grid (STORM: values of k)")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--train-subset", type=int, default=4000, help="samples per run (the paper: 45000)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--compile", action="store_true",
                   help="also time the compiled grid (compiling takes a minute or more: off by default)")
    args = p.parse_args()
    device = setup(args)
    data_dir = vrdl_data_dir(args.source_dir)
    out = Path(tempfile.mkdtemp(prefix="bench-grid-"))
    cfgs = []
    for value in map(float, args.lrs.split(",")):
        point = dict(hparams=dict(k=value) if args.optimizer == "storm" else dict(lr=value))
        for fold in range(args.folds):
            cfgs.append(RunConfig(dataset="fashion_mnist", model="lenet", optimizer=args.optimizer, epochs=args.epochs,
                                  batch_size=32, folds=args.folds, fold=fold, train_subset=args.train_subset,
                                  eval_subset=1000, **point))
    log = open(out / "log.txt", "w")
    start = time.perf_counter()
    for i, cfg in enumerate(cfgs):
        run(cfg, out=out / f"alone_{i}.csv", data_dir=data_dir, device=str(device), log=log)
    separate = time.perf_counter() - start

    syncs = {}

    def grid(name, compile=False):
        """Seconds of the grid; on CUDA also counts its host syncs (CUDA's sync debug mode)."""
        runs = [dataclasses.replace(c, compile=compile) for c in cfgs]
        sync(device)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode("warn")
            run_grid(runs, [out / f"{name}_{i}.csv" for i in range(len(runs))], data_dir=data_dir,
                     device=str(device), log=log)
            if device.type == "cuda":
                torch.cuda.set_sync_debug_mode(0)
        sync(device)
        syncs[name] = sum("synchroniz" in str(w.message) for w in caught)
        return time.perf_counter() - start

    stacked = grid("grid")
    threads = f", {torch.get_num_threads()} threads" if device.type == "cpu" else ""
    print(f"{len(cfgs)} LeNet runs ({args.optimizer}, {args.train_subset} samples, {args.epochs} epoch(s), "
          f"batch 32) on {device}{threads}")
    print(f"one after another: {separate:.1f} s    stacked grid: {stacked:.1f} s")
    print(f"stacked vs one after another: {separate / stacked:.2f}x (above 1: stacking pays here)")
    if args.compile:
        compiled_stats(grid, out, len(cfgs), separate, stacked)
    if device.type == "cuda":  # per-epoch reads (losses, evaluation) sync; a step must not
        steps = -(-args.train_subset // 32) * args.epochs
        print("host syncs (CUDA sync debug mode) over " + ", ".join(f"{k}: {v}" for k, v in syncs.items()) +
              f"; the grid takes {steps} steps")
    headline("grid_throughput", separate / stacked)


def compiled_stats(grid, out, runs, separate, stacked):
    """Time the compiled grid; check its curves against the stacked grid's; say whether it ran as one
    graph (and on CUDA in CUDA graphs)."""
    from torch._dynamo.utils import counters

    warmup = grid("warmup", compile=True)
    compiled = grid("compiled", compile=True)
    print(f"compiled grid: {compiled:.1f} s (the first one, compiling: {warmup:.1f} s)")
    print(f"compiled vs one after another: {separate / compiled:.2f}x    "
          f"compiled vs stacked: {stacked / compiled:.2f}x")
    breaks, skips = sum(counters["graph_break"].values()), counters["inductor"]["cudagraph_skips"]
    print(f"compiled: {counters['stats']['unique_graphs']} graphs, {breaks} graph breaks, {skips} CUDA graph skips")
    worst = 0.0
    for i in range(runs):
        a, b = (list(csv.DictReader(open(out / f"{name}_{i}.csv")))[-1] for name in ("grid", "compiled"))
        worst = max(worst, *(abs(float(b[k]) / float(a[k]) - 1) for k in ("train_loss", "eval_loss")))
    print(f"compiled vs stacked curves: final losses within {worst:.1e} (relative)")
    if not worst < 1e-2:
        raise SystemExit(f"grid_throughput: the compiled grid's final losses differ from the stacked grid's "
                         f"by {worst:.1e}")


if __name__ == "__main__":
    main()
