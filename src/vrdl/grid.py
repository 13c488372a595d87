"""Many runs of one optimizer family trained at once in one process (`vrdl train-grid`).

The runs' parameters are stacked along a leading run axis and one `torch.func.vmap`-ed gradient
call serves all of them; learning rates and other hyperparameters are per-run tensors. Each run
keeps its own split, normalisation, initialisation and minibatch order, and writes the same
RUN.csv/RUN.json as a separate `vrdl train` would (equal within float tolerance: vmap may sum in
another order). This pays on a GPU, where a small LeNet step is launch-bound; on a CPU it is
compute-bound and gains little. `--compile` (every run's config says compile) compiles the whole
stacked step, see `Steps`.

Scope: models without BN and data without augmentation (the LeNet study), same dataset, model,
optimizer, epochs and batch size, training portions of equal size.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, vmap

from vrdl import checkpoints, data
from vrdl.files import check_writable, one_writer, remove_stale_temporaries
from vrdl.gradients import evaluate
from vrdl.identity import run_record, sealed_json
from vrdl.models import build_model
from vrdl.optim import build_optimizer, registry
from vrdl.registries import resolve
from vrdl.train import (
    COLUMNS,
    RunConfig,
    _summary,
    check_output_files,
    json_path,
    load_splits,
    output_files,
    resolve_device,
    rows_to_csv,
    write_atomic,
)

SHARED = ("dataset", "model", "bn", "width", "optimizer", "epochs", "batch_size", "augment", "precision", "l2",
          "compile")


def check_compatible(cfgs: list[RunConfig]) -> None:
    first = cfgs[0]
    if not registry.get(first.optimizer).stacked:
        raise ValueError(f"train-grid has no stacked update rule for {first.optimizer}; use vrdl train")
    for field in SHARED:
        values = {getattr(c, field) for c in cfgs}
        if len(values) > 1:
            raise ValueError(f"runs of one grid must share {field}; got {sorted(map(str, values))}")
    intervals = {registry.get(c.optimizer).snapshot_every(c.hparams) for c in cfgs}
    if len(intervals) > 1:
        raise ValueError(f"runs of one grid must share their snapshot interval; got {sorted(intervals)}")
    if first.bn:
        raise ValueError("train-grid does not stack models with batch norm (their running statistics); use vrdl train")
    unsupported = [f for f in ("metainit", "cache_snapshot_grads", "channels_last", "track_objective")
                   if any(getattr(c, f) for c in cfgs)] + (["variance_epochs"] if any(c.variance_epochs for c in cfgs)
                                                          else [])
    if unsupported or first.l2:
        raise ValueError(f"train-grid does not support {', '.join(unsupported) or 'l2'}; use vrdl train")


class _Stacked:
    """Per-run hyperparameters as [R, 1, ...] tensors that broadcast against stacked parameters."""

    def __init__(self, values: list[float], device):
        self.values = torch.tensor(values, dtype=torch.float32, device=device)

    def like(self, t: torch.Tensor) -> torch.Tensor:
        return self.values.view(-1, *([1] * (t.dim() - 1)))


class StackedOptimizer:
    """An optimizer's state and per-run hyperparameters for stacked parameters (dicts of [R, ...]);
    its update rule is the function its registry entry names (`stacked`, see vrdl.optim.stacked),
    in the same arithmetic order as the single-run optimizer."""

    def __init__(self, name: str, cfgs: list[RunConfig], params: dict[str, torch.Tensor]):
        device = next(iter(params.values())).device
        entry = registry.get(name)  # check_compatible refused one without a stacked rule before any model was built
        self.rule = resolve(entry.stacked, f"optimizer {name}'s stacked update rule")
        self.name, self.state, self.steps = name, {}, 0
        # the step count again on the device (float64: Adam's 1 - 0.999**t), so that a compiled step
        # reads no changing Python number (each value would be a recompile)
        self.t = torch.zeros((), dtype=torch.float64, device=device)
        self.reference = entry.reference_kind(cfgs[0].hparams)
        # every float hyperparameter of the runs as a per-run tensor: self.lr, self.k, ...
        for h in entry.hparams:
            if h.type is float:
                values = [entry.complete(c.hparams).get(h.name, 0.0) for c in cfgs]
                setattr(self, h.name, _Stacked(values, device))
        if not hasattr(self, "lr"):  # the CSV's lr column before an adaptive rule's first step (STORM)
            self.lr = _Stacked([math.nan] * len(cfgs), device)
        self.sum_sq = torch.zeros(len(cfgs), device=device)  # STORM's sum of G^2

    def reference_params(self) -> dict | None:
        """The point whose gradient a step also needs: SVRG's snapshot, STORM's previous parameters
        (none before its first step), else None. Read from the state, not the Python step count, so
        a compiled step holds no guard on that count."""
        return self.state.get(self.reference) if self.reference in ("snapshot", "previous") else None

    def step(self, params: dict, grads: dict, reference_grads: dict | None = None) -> None:
        self.update(params, grads, reference_grads)
        self.steps += 1

    @torch.no_grad()
    def update(self, params: dict, grads: dict, reference_grads: dict | None = None) -> None:
        """`step` without counting it in Python: the optimizer's rule updates every tensor in place
        (the first update creates the state), as a compiled step (CUDA graphs) needs."""
        self.t.add_(1)
        self.rule(self, params, grads, reference_grads)

    def take_snapshot(self, params: dict) -> None:
        """SVRG: the snapshot point := params, and its full gradient mu zeroed for `Steps.snapshot`
        to sum into (in place after the first time, as a compiled pass needs)."""
        if "snapshot" not in self.state:
            self.state["snapshot"] = {n: p.clone() for n, p in params.items()}
            self.state["mu"] = {n: torch.zeros_like(p) for n, p in params.items()}
        for n, p in params.items():
            self.state["snapshot"][n].copy_(p)
            self.state["mu"][n].zero_()

    def step_sizes(self) -> list[float]:
        """Each run's step size: the one an adaptive rule recorded (STORM's eta), else its lr."""
        return (self.state["eta"] if "eta" in self.state else self.lr.values).tolist()


class Grid:
    """R runs' data on the device: the full training set once, per-run index tables into it."""

    def __init__(self, cfgs: list[RunConfig], data_dir, device):
        self.cfgs = cfgs
        parts = data.load(cfgs[0].dataset, data_dir)
        self.x = parts["train_x"].to(device)
        self.y = parts["train_y"].to(device)
        self.train_idx, self.scale, self.shift, self.splits = [], [], [], []
        for c in cfgs:
            train, evaluation = load_splits(c, data_dir, device)
            if train.augment:
                raise ValueError("train-grid does not augment; use vrdl train for CIFAR runs")
            train_idx, _ = data.split_indices(len(parts["train_y"]), c.seed, folds=c.folds, fold=c.fold,
                                                  val_fraction=c.val_fraction)
            train_idx = data.subset(train_idx, c.train_subset, c.seed, data.TRAIN_SUBSET_STREAM)
            self.train_idx.append(train_idx.to(device))
            self.scale.append(train.scale)
            self.shift.append(train.shift)
            self.splits.append((train, evaluation))
        sizes = {len(i) for i in self.train_idx}
        if len(sizes) > 1:
            raise ValueError(f"runs of one grid need training portions of one size, got {sorted(sizes)}")
        self.n = sizes.pop()
        self.scale = torch.stack(self.scale)  # [R, 1, C, 1, 1]
        self.shift = torch.stack(self.shift)

    def orders(self, epoch: int) -> torch.Tensor:
        """[R, n] indices into the full set, in each run's own order for the epoch."""
        def order(seed):  # the same permutation DeviceSplit.epoch_plan draws for a separate run
            return torch.randperm(self.n, generator=data.generator(seed, data.EPOCH_STREAM, epoch))

        return torch.stack([idx[order(c.seed).to(idx.device)] for c, idx in zip(self.cfgs, self.train_idx)])

    def index_batches(self, orders: torch.Tensor, batch_size: int):
        """The epoch's minibatches as [R, B] index tables (the last one may be shorter)."""
        for start in range(0, self.n, batch_size):
            yield orders[:, start : start + batch_size]

    def batch(self, idx: torch.Tensor):
        """Each run's normalised inputs [R, B, C, H, W] and labels [R, B]."""
        return torch.addcmul(self.shift, self.x[idx].float(), self.scale), self.y[idx]


class Steps:
    """The grid's per-minibatch work: a training step (every run's gradients under vmap, the
    optimizer's update, the epoch's loss and accuracy sums) and SVRG's snapshot pass, all in place
    on device tensors and with no host sync, so that `torch.compile` can take a step whole (on CUDA
    with mode="reduce-overhead": CUDA graphs, one replay instead of dozens of small launches).
    Two steps run eagerly even when compiled: the run's first training step (it creates the
    optimizer's state) and the ragged last batch of a pass (another shape), so the compiled graphs
    never change (no recompiles)."""

    def __init__(self, template: torch.nn.Module, grid: Grid, params: dict, opt: StackedOptimizer,
                 batch_size: int, compile: bool = False):
        self.grid, self.params, self.opt, self.batch_size = grid, params, opt, batch_size
        runs, device = len(grid.cfgs), grid.x.device
        self.loss_sum = torch.zeros(runs, dtype=torch.float64, device=device)  # this epoch's, per run
        self.correct = torch.zeros(runs, dtype=torch.int64, device=device)

        def loss_fn(p, x, y, reduction="mean"):
            logits = functional_call(template, p, (x,))
            return F.cross_entropy(logits, y, reduction=reduction), logits

        self.grads_of = vmap(grad_and_value(loss_fn, has_aux=True))
        self.sum_grads_of = vmap(grad_and_value(lambda p, x, y: loss_fn(p, x, y, "sum"), has_aux=True))
        self.compiled, self.static = None, False
        if compile:
            cuda = device.type == "cuda"
            self.compiled = {f.__name__: torch.compile(f, mode="reduce-overhead" if cuda else None)
                             for f in (self._train, self._accumulate)}

    def _run(self, f, idx: torch.Tensor, state_ready: bool) -> None:
        fast = self.compiled is not None and idx.shape[1] == self.batch_size and state_ready
        if fast and not self.static:
            self._mark_static()
        (self.compiled[f.__name__] if fast else f)(idx)

    def _mark_static(self) -> None:
        """Every tensor a step reads or updates in place (data set, parameters, optimizer state) keeps
        its address: CUDA graphs then neither copy them in each replay nor refuse the in-place updates."""
        def tensors(x):
            if isinstance(x, torch.Tensor):
                yield x
            elif isinstance(x, dict | list | tuple):
                for v in x.values() if isinstance(x, dict) else x:
                    yield from tensors(v)
            elif isinstance(x, _Stacked):
                yield x.values

        for t in tensors([self.params, vars(self.opt), vars(self.grid), self.loss_sum, self.correct]):
            torch._dynamo.mark_static_address(t)
        self.static = True

    def _train(self, idx: torch.Tensor) -> None:
        # the reference point is read here, not passed in: as an argument it would alias the state
        # that the update overwrites in place (STORM's previous)
        reference = self.opt.reference_params()
        x, y = self.grid.batch(idx)
        grads, (loss, logits) = self.grads_of(self.params, x, y)
        reference_grads = self.grads_of(reference, x, y)[0] if reference is not None else None
        self.opt.update(self.params, grads, reference_grads)
        self.loss_sum.add_(loss.detach())
        self.correct.add_((logits.argmax(-1) == y).sum(1))

    def _accumulate(self, idx: torch.Tensor) -> None:
        x, y = self.grid.batch(idx)
        grads = self.sum_grads_of(self.opt.state["snapshot"], x, y)[0]
        for n, mu in self.opt.state["mu"].items():
            mu.add_(grads[n])

    def train(self, idx: torch.Tensor) -> int:
        """One step of every run on the minibatch `idx`; returns its gradient evaluations per run."""
        evals = idx.shape[1] * (1 if self.opt.reference_params() is None else 2)
        self._run(self._train, idx, state_ready=self.opt.steps > 0)
        self.opt.steps += 1
        return evals

    def snapshot(self, orders: torch.Tensor) -> int:
        """SVRG: the snapshot := the parameters, mu := its full training gradient; returns the
        gradient evaluations per run."""
        self.opt.take_snapshot(self.params)
        for idx in self.grid.index_batches(orders, self.batch_size):
            self._run(self._accumulate, idx, state_ready=True)
        for mu in self.opt.state["mu"].values():
            mu.div_(self.grid.n)
        return self.grid.n


def run_grid(cfgs: list[RunConfig], outs: list[Path], *, data_dir="data", device="auto",
             commands: list[list[str]] | None = None, checkpoint: str | Path | None = None, log=None) -> None:
    """Train the runs together; a per-epoch checkpoint (default: beside the first output) lets a
    rerun resume, as with `vrdl train`. One process at a time per output (files.one_writer)."""
    log = log or sys.stderr
    outs = [Path(out) for out in outs]
    checkpoint = Path(checkpoint) if checkpoint else outs[0].with_suffix(".grid.ckpt")
    check_compatible(cfgs)
    _check_files(cfgs, outs, checkpoint, log)
    runs = [(f"--out (run {r + 1} of the spec)", out) for r, out in enumerate(outs)]
    with one_writer([("--checkpoint", checkpoint), *runs]):
        _train_grid(cfgs, outs, data_dir, device, commands, checkpoint, log)


def _train_grid(cfgs: list[RunConfig], outs: list[Path], data_dir, device: str, commands, checkpoint: Path,
                log) -> None:
    dev = resolve_device(device)
    cfg0 = cfgs[0]
    grid = Grid(cfgs, data_dir, dev)
    models = StackedModels(cfgs, dev)
    opt = StackedOptimizer(cfg0.optimizer, cfgs, models.params)
    key = [dict(dataclasses.asdict(c), data_sha256=split.data_sha256) for c, (split, _) in zip(cfgs, grid.splits)]
    progress = _resume(checkpoint, key, models, opt, dev, log)
    if progress is None:
        progress = _start(grid, models, opt)
    stepper = Steps(models.template, grid, models.params, opt, cfg0.batch_size, compile=cfg0.compile)
    started = time.perf_counter() - progress.wall_s
    snapshot_every = registry.get(cfg0.optimizer).snapshot_every(cfg0.hparams)
    for epoch in range(progress.epoch + 1, cfg0.epochs + 1):
        grad_evals, train_loss, train_acc = _train_epoch(stepper, epoch, snapshot_every)
        progress.grad_evals += grad_evals
        progress.wall_s = round(time.perf_counter() - started, 3)
        _record_epoch(progress, epoch, train_loss.tolist(), train_acc.tolist(), grid, models, opt)
        print(f"epoch {epoch}/{cfg0.epochs}  {len(cfgs)} runs  grad_evals {progress.grad_evals:,}  "
              f"diverged {sum(d is not None for d in progress.diverged)}  elapsed {progress.wall_s:.1f}s",
              file=log, flush=True)
        if epoch < cfg0.epochs:
            checkpoints.save(dict(config=key, epoch=epoch, params=models.params, optimizer=opt.state,
                                  steps=opt.steps, sum_sq=opt.sum_sq, rows=progress.rows, diverged=progress.diverged,
                                  grad_evals=progress.grad_evals, wall_s=progress.wall_s), checkpoint)
    _write_runs(cfgs, outs, grid, models, progress, dev, commands)
    checkpoint.unlink(missing_ok=True)


def _check_files(cfgs: list[RunConfig], outs: list[Path], checkpoint: Path, log) -> None:
    """Every run's own output files (none shared) and the checkpoint: distinct, in writable
    directories; temporaries a killed earlier attempt left are removed."""
    files = [("--checkpoint", checkpoint)]
    for r, (c, out) in enumerate(zip(cfgs, outs)):
        files += [(f"{what} (run {r + 1} of the spec)", path) for what, path in output_files(c, out, checkpoint)
                  if what != "--checkpoint"]
    check_output_files(files)
    for directory in {checkpoint.parent, *(out.parent for out in outs)}:
        check_writable(directory)
    for _, path in files:
        remove_stale_temporaries(path, log)


class StackedModels:
    """The runs' models, each initialised from its run's seed as `vrdl train` initialises it, and
    their parameters stacked along the run axis (`params`: dict of [R, ...], what the grid trains)."""

    def __init__(self, cfgs: list[RunConfig], device):
        cfg0 = cfgs[0]
        info = data.dataset_info(cfg0.dataset)

        def make_model(seed):
            torch.manual_seed(seed)
            return build_model(cfg0.model, num_classes=info.num_classes, in_channels=info.channels,
                               image_size=info.image_size, bn=False, width=cfg0.width).to(device)

        self.models = [make_model(c.seed) for c in cfgs]
        self.template = self.models[0]
        self.params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in self.models])
                       for n, _ in self.template.named_parameters()}

    def run_model(self, r: int) -> torch.nn.Module:
        """Run r's model holding its current parameters."""
        with torch.no_grad():
            for n, p in self.models[r].named_parameters():
                p.copy_(self.params[n][r])
        return self.models[r]

    def evaluate(self, r: int, split) -> tuple[float, float]:
        """Run r's loss and accuracy on a split."""
        return evaluate(self.run_model(r), split)


@dataclasses.dataclass
class _Progress:
    """The grid's record so far (a checkpoint holds it beside the parameters and optimizer state)."""

    rows: list[list[dict]]  # each run's RUN.csv rows
    diverged: list[int | None]  # each run's first epoch with a non-finite loss
    grad_evals: int = 0  # per run
    wall_s: float = 0.0
    epoch: int = 0  # the last epoch done


def _resume(checkpoint: Path, key: list[dict], models: StackedModels, opt: StackedOptimizer, device,
            log) -> _Progress | None:
    """The progress of an earlier attempt whose checkpoint holds these runs (its parameters and
    optimizer state loaded); None if there is none."""
    saved = checkpoints.load(checkpoint, key, ("params", "optimizer", "steps", "sum_sq", "rows", "epoch"), device, log)
    if saved is None:
        return None
    for n, p in models.params.items():
        p.copy_(saved["params"][n])
    opt.state, opt.steps, opt.sum_sq = saved["optimizer"], saved["steps"], saved["sum_sq"]
    opt.t.fill_(opt.steps)
    print(f"resuming grid from checkpoint {checkpoint} after epoch {saved['epoch']}", file=log)
    return _Progress(saved["rows"], saved["diverged"], saved["grad_evals"], saved["wall_s"], saved["epoch"])


def _start(grid: Grid, models: StackedModels, opt: StackedOptimizer) -> _Progress:
    """Epoch 0: every run's losses and accuracies before training."""
    rows = []
    for r, (train, evaluation) in enumerate(grid.splits):
        tl, ta = models.evaluate(r, train)
        el, ea = models.evaluate(r, evaluation)
        rows.append([dict(epoch=0, grad_evals=0, wall_s=0.0, lr=opt.step_sizes()[r], train_loss=tl, train_acc=ta,
                          eval_loss=el, eval_acc=ea)])
    return _Progress(rows, [None] * len(rows))


def _train_epoch(stepper: Steps, epoch: int, snapshot_every: int | None):
    """One epoch of every run (SVRG's snapshot first when one is due); returns its gradient
    evaluations per run and each run's mean training loss and accuracy, as device tensors."""
    grid = stepper.grid
    orders = grid.orders(epoch)
    grad_evals = 0
    if snapshot_every and (epoch - 1) % snapshot_every == 0:
        grad_evals += stepper.snapshot(orders)
    stepper.loss_sum.zero_()
    stepper.correct.zero_()
    n_steps = 0
    for idx in grid.index_batches(orders, stepper.batch_size):
        grad_evals += stepper.train(idx)
        n_steps += 1
    return grad_evals, stepper.loss_sum / n_steps, stepper.correct / grid.n


def _record_epoch(progress: _Progress, epoch: int, train_loss: list[float], train_acc: list[float], grid: Grid,
                  models: StackedModels, opt: StackedOptimizer) -> None:
    """Each run's row of the epoch (evaluated now), but none after the epoch it diverged in."""
    for r in range(len(progress.rows)):
        if progress.diverged[r] is not None:
            continue
        el, ea = models.evaluate(r, grid.splits[r][1])
        progress.rows[r].append(dict(epoch=epoch, grad_evals=progress.grad_evals, wall_s=progress.wall_s,
                                     lr=opt.step_sizes()[r], train_loss=train_loss[r], train_acc=train_acc[r],
                                     eval_loss=el, eval_acc=ea))
        if not (math.isfinite(train_loss[r]) and math.isfinite(el)):
            progress.diverged[r] = epoch


def _write_runs(cfgs: list[RunConfig], outs: list[Path], grid: Grid, models: StackedModels, progress: _Progress,
                device, commands: list[list[str]] | None) -> None:
    """Every run's RUN.csv and RUN.json, as a separate `vrdl train` writes them."""
    for r, (c, out) in enumerate(zip(cfgs, outs)):
        train, evaluation = grid.splits[r]
        model = models.run_model(r)
        optimizer = build_optimizer(c.optimizer, model.parameters(), run=c, **c.hparams)
        state = dict(rows=progress.rows[r], grad_evals=progress.rows[r][-1]["grad_evals"], metainit=None,
                     diverged_epoch=progress.diverged[r])
        summary = _summary(c, state, optimizer, model, train, evaluation, device, commands[r] if commands else None,
                           stacked=True)
        summary["grid"] = dict(runs=len(cfgs), index=r)
        curve = rows_to_csv(progress.rows[r], COLUMNS)
        summary.update(run_record(out, curve))
        write_atomic(out, curve)
        write_atomic(json_path(out), sealed_json(summary))
