"""Many LeNet runs of one optimizer at once (`vrdl train-grid`: stacked parameters under vmap)
against the same runs one after another (`vrdl train` each), same process, same data.
Headline: the speedup of the grid. It pays on GPUs, where a LeNet step is launch-bound; on a
CPU the work is compute-bound and the ratio stays near 1."""

import tempfile
import time
from pathlib import Path

from _common import headline, parser, setup, vrdl_data_dir

from vrdl.grid import run_grid
from vrdl.train import RunConfig, run


def main():
    p = parser(__doc__)
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adam", "adagrad", "svrg", "storm"))
    p.add_argument("--lrs", default="0.1,0.01", help="learning rates of the grid (STORM: values of k)")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--train-subset", type=int, default=4000, help="samples per run (the paper: 45000)")
    p.add_argument("--epochs", type=int, default=1)
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
    start = time.perf_counter()
    run_grid(cfgs, [out / f"grid_{i}.csv" for i in range(len(cfgs))], data_dir=data_dir, device=str(device), log=log)
    stacked = time.perf_counter() - start
    print(f"{len(cfgs)} LeNet runs ({args.optimizer}, {args.train_subset} samples, {args.epochs} epoch(s), "
          f"batch 32) on {device}")
    print(f"one after another: {separate:.1f} s    stacked grid: {stacked:.1f} s")
    headline("grid_throughput", separate / stacked)


if __name__ == "__main__":
    main()
