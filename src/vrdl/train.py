"""One training run: data split, model, optimizer, the epoch loop, checkpoints and outputs.

Every run writes RUN.csv (one row per epoch, row 0 before any update) and RUN.json (what ran).
The x-axis `grad_evals` counts per-sample gradient evaluations as the loop does them: a backward
pass over B samples adds B, a full-gradient pass at a snapshot (SVRG, alpha-SVRG) adds n, the
second gradient of a step at a reference point (SVRG, alpha-SVRG, STORM, exact MARS) adds B again.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import platform
import sys
import time
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from pathlib import Path

import torch

import vrdl
from vrdl import checkpoints, data, gpu_slots, provenance, settings, variance
from vrdl.bootstrap import evaluate_blocks
from vrdl.compiled import CompiledGradients
from vrdl.files import check_writable, one_writer, remove_stale_temporaries, write_atomic
from vrdl.gradients import Objective, ReferenceGradients, evaluate, minibatch_gradient
from vrdl.identity import run_record, sealed_json
from vrdl.metainit import metainit
from vrdl.models import build_model, count_parameters
from vrdl.optim import STORM, SVRG, build_optimizer, current_step_size, hyperparameters, registry
from vrdl.settings import default

PROGRESS_SECONDS = 30.0  # a progress line inside an epoch this often (logs of long GPU epochs)

COLUMNS = ("epoch", "grad_evals", "wall_s", "lr", "train_loss", "train_acc", "eval_loss", "eval_acc")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's numbers (and nothing that does not, like paths). Each field
    but hparams is a setting of vrdl.settings: its default, range and help are declared there."""

    dataset: str
    model: str
    optimizer: str
    epochs: int
    batch_size: int
    bn: bool = default("bn")
    width: float = default("width")
    # the optimizer's hyperparameters by registry name ({"lr": 0.1}, {"c": 100, "k": 0.1, "w": 0.1})
    hparams: Mapping = field(default_factory=dict)
    lr: InitVar[float | None] = None  # shorthand for hparams={"lr": lr}
    seed: int = default("seed")
    folds: int | None = None
    fold: int | None = None
    val_fraction: float | None = None
    train_subset: int | None = None
    eval_subset: int | None = None
    augment: str = default("augment")  # auto: crop + flip where the data set's registry entry says (CIFAR)
    transform_locking: bool = default("transform_locking")
    cache_snapshot_grads: bool = default("cache_snapshot_grads")  # SVRG fast path
    l2: float = default("l2")  # (l2/2) ||W||^2 added to the loss (the convex study)
    track_objective: bool = default("track_objective")
    variance_epochs: tuple[int, ...] = default("variance_epochs")  # gradient-variance diagnostics
    variance_batches: int = default("variance_batches")
    # speed options (GPU mostly); bf16 changes the numbers, so it is recorded with the run
    precision: str = default("precision")
    channels_last: bool = default("channels_last")
    compile: bool = default("compile")
    metainit: bool = default("metainit")
    metainit_steps: int = default("metainit_steps")
    metainit_lr: float = default("metainit_lr")
    metainit_momentum: float = default("metainit_momentum")
    metainit_eps: float = default("metainit_eps")
    metainit_data: str = default("metainit_data")

    def __post_init__(self, lr):
        hparams = dict(self.hparams) | ({"lr": lr} if lr is not None else {})
        object.__setattr__(self, "hparams", {k: v for k, v in sorted(hparams.items()) if v is not None})
        object.__setattr__(self, "lr", self.hparams.get("lr"))  # cfg.lr reads it back (not a field)
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in (fields | self.hparams).items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
        for problem in settings.problems(fields):  # ranges and choices of the declaration
            raise ValueError(problem)
        optimizer = registry.get(self.optimizer)
        for problem in optimizer.problems(self.hparams, "hyperparameter"):
            raise ValueError(problem)
        if (self.folds is None) != (self.fold is None):
            raise ValueError("--folds and --fold go together")
        if self.folds is not None and self.val_fraction is not None:
            raise ValueError("give either --folds/--fold or --val-fraction, not both")
        if any(e < 1 or e > self.epochs for e in self.variance_epochs):
            raise ValueError(f"variance epochs must lie in 1..{self.epochs}, got {list(self.variance_epochs)}")
        if self.cache_snapshot_grads and (self.reference != "snapshot" or not self.transform_locking):
            raise ValueError("--cache-snapshot-grads is for optimizers with snapshots (svrg, alpha_svrg) "
                             "with transform locking only")
        if self.precision != "fp32" and optimizer.fp32_only:
            raise ValueError(f"--optimizer {self.optimizer} runs in fp32 only ({optimizer.fp32_only}); "
                             "use --precision fp32")

    @property
    def reference(self) -> str:
        """Where each step takes its second gradient: none, previous (iterate) or snapshot."""
        return registry.get(self.optimizer).reference_kind(self.hparams)

    @property
    def eval_split(self) -> str:
        return "test" if self.folds is None and self.val_fraction is None else "val"


# ---------------------------------------------------------------------------- outputs


def rows_to_csv(rows: list[dict], columns: tuple[str, ...]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def json_path(csv_path: Path) -> Path:
    return csv_path.with_suffix(".json")


def variance_path(csv_path: Path) -> Path:
    return csv_path.with_suffix(".variance.csv")


def output_files(cfg: RunConfig, out: Path, checkpoint: Path) -> list[tuple[str, Path]]:
    """(what, path) of every file a run writes."""
    files = [("--out", out), ("its RUN.json", json_path(out)), ("--checkpoint", checkpoint)]
    return files + ([("its RUN.variance.csv", variance_path(out))] if cfg.variance_epochs else [])


def check_output_files(files: list[tuple[str, Path]]) -> None:
    """Refuse outputs that would overwrite each other (--out run.json, two runs of a grid with one
    --out) or that are not regular files: before any work, so nothing is lost."""
    seen: dict[str, str] = {}
    for what, path in files:
        if what.startswith("--out") and path.suffix != ".csv":
            raise ValueError(f"{what} {path}: must name a .csv file (RUN.csv; RUN.json is written beside it)")
        if (path.exists() or path.is_symlink()) and not path.is_file():
            raise ValueError(f"{what} {path} exists and is not a regular file (a directory?): choose another path")
        if _of_another_kind(what, path):
            kind, flag = ("checkpoint", "--checkpoint") if "checkpoint" in what else ("run file", "--out")
            raise ValueError(f"{what} {path} is an existing file that vrdl did not write (not a {kind}): it is "
                             f"left as it is. Fix: choose another {flag}, or delete {path} if it is not needed")
        key = os.path.realpath(path)
        if key in seen:
            raise ValueError(f"{what} {path} is also {seen[key]}: each output needs a file of its own")
        seen[key] = f"{what} {path}"


def _of_another_kind(what: str, path: Path) -> bool:
    """An existing file that a run would overwrite but did not write: a user's file, the data."""
    if "checkpoint" in what:
        return checkpoints.of_another_kind(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    if path.suffix == ".json":  # a run's record names its command and optimizer
        try:
            record = json.loads(path.read_bytes())
        except ValueError:
            return True
        return not (isinstance(record, dict) and {"command", "optimizer"} <= record.keys())
    with open(path, "rb") as f:
        return not f.read(6) == b"epoch,"  # RUN.csv and RUN.variance.csv start with their header


# ---------------------------------------------------------------------------- pieces of a run


def resolve_device(name: str) -> torch.device:
    if name != "cpu" and gpu_slots.VISIBLE in os.environ:  # garbage would hide every GPU silently
        gpu_slots.parse_visible(os.environ[gpu_slots.VISIBLE])
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def load_splits(cfg: RunConfig, data_dir: str | Path, device: torch.device):
    """(training portion, eval portion) on the device, both normalised with the training stats."""
    info = data.dataset_info(cfg.dataset)
    parts = data.load(cfg.dataset, data_dir)
    train_idx, val_idx = data.split_indices(
        len(parts["train_y"]), cfg.seed, folds=cfg.folds, fold=cfg.fold, val_fraction=cfg.val_fraction
    )
    train_idx = data.subset(train_idx, cfg.train_subset, cfg.seed, data.TRAIN_SUBSET_STREAM)
    if val_idx is None:
        eval_x, eval_y = parts["test_x"], parts["test_y"]
    else:
        eval_x, eval_y = parts["train_x"][val_idx], parts["train_y"][val_idx]
    eval_idx = data.subset(torch.arange(len(eval_y)), cfg.eval_subset, cfg.seed, data.EVAL_SUBSET_STREAM)
    if cfg.batch_size > len(train_idx):
        raise ValueError(f"--batch-size {cfg.batch_size} is larger than the training portion ({len(train_idx)} "
                         f"samples of {cfg.dataset}): not one full minibatch per epoch. Use a batch size of at "
                         f"most {len(train_idx)}, or a larger --train-subset")
    train_x = parts["train_x"][train_idx].to(device)
    mean, std = data.channel_stats(train_x)  # the training portion only
    augment = cfg.augment == "on" or (cfg.augment == "auto" and info.augment)  # auto: the data set says (CIFAR)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    sha256 = parts["fingerprint"]["sha256"]
    train = data.DeviceSplit(train_x, parts["train_y"][train_idx].to(device), mean, std, augment=augment,
                                 memory_format=layout, data_sha256=sha256)
    evaluation = data.DeviceSplit(eval_x[eval_idx].to(device), eval_y[eval_idx].to(device), mean, std,
                                      memory_format=layout, data_sha256=sha256)
    return train, evaluation


def metainit_batches(cfg: RunConfig, train: data.DeviceSplit, num_classes: int):
    """MetaInit's batch of each step: N(0,1) inputs with random labels as in the reference code,
    or the first epoch's training minibatches."""
    if cfg.metainit_data == "train":
        batches = list(train.batches(train.epoch_plan(cfg.seed, 0), cfg.batch_size))
        return lambda step: batches[step % len(batches)]
    g = data.generator(cfg.seed, data.METAINIT_STREAM)
    shape, device = (cfg.batch_size, *train.x.shape[1:]), train.x.device

    def random_batch(step):
        x = torch.randn(shape, generator=g).to(device)
        return x, torch.randint(0, num_classes, (cfg.batch_size,), generator=g).to(device)

    return random_batch


# ---------------------------------------------------------------------------- the run


def run(
    cfg: RunConfig, *, out: str | Path, data_dir: str | Path = "data", device: str = "auto",
    checkpoint: str | Path | None = None, command: list[str] | None = None, log=None,
) -> dict:
    """Train as `cfg` says; write out (CSV) and its JSON; resume from `checkpoint` if present.
    One process at a time per output: a second one is refused (files.BusyError)."""
    log = log or sys.stderr
    out = Path(out)
    checkpoint = Path(checkpoint) if checkpoint else out.with_suffix(".ckpt")
    _prepare_outputs(cfg, out, checkpoint, log)
    with one_writer([("--out", out), ("--checkpoint", checkpoint)]):
        return _train(cfg, out, data_dir, device, checkpoint, command, log)


def _train(cfg: RunConfig, out: Path, data_dir, device: str, checkpoint: Path, command, log) -> dict:
    dev = resolve_device(device)
    info = data.dataset_info(cfg.dataset)
    model_text = f"{cfg.model} (bn {'on' if cfg.bn else 'off'}{f', width {cfg.width:g}' if cfg.width != 1 else ''})"
    print(f"vrdl train: {cfg.optimizer} on {cfg.dataset} ({data_dir}), model {model_text}, device {dev}: "
          "loading the data", file=log, flush=True)
    train, evaluation = load_splits(cfg, data_dir, dev)
    model, optimizer = _build(cfg, info, dev)
    print(f"vrdl train: {count_parameters(model):,} parameters, {len(train):,} training and {len(evaluation):,} "
          f"{cfg.eval_split} samples, {cfg.epochs} epochs of batch {cfg.batch_size}", file=log, flush=True)
    key = _config_key(cfg, train)
    had_checkpoint = checkpoint.is_file()
    state = _resume(checkpoint, key, model, optimizer, dev, log)
    if state is None and had_checkpoint:  # a checkpoint that failed part-way may have touched them
        model, optimizer = _build(cfg, info, dev)
    objective = Objective(cfg.l2)
    needs_reference = cfg.reference != "none" or cfg.variance_epochs
    reference = ReferenceGradients(model, objective) if needs_reference else None
    # compiled: the steps' and snapshots' gradients (vrdl.compiled), and the evaluations' forward
    compiled = CompiledGradients(model, objective, reference, cfg.batch_size) if cfg.compile else None
    net = torch.compile(model) if cfg.compile else model  # same parameters; `model` keeps plain state dicts
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")

    def measure(epoch: int, grad_evals: int, wall: float, train_loss: float, train_acc: float) -> dict:
        with autocast:
            eval_loss, eval_acc, blocks = evaluate_blocks(net, evaluation)  # blocks: the report's bootstrap
            row = dict(epoch=epoch, grad_evals=grad_evals, wall_s=round(wall, 3), lr=current_step_size(optimizer),
                       train_loss=train_loss, train_acc=train_acc, eval_loss=eval_loss, eval_acc=eval_acc,
                       eval_blocks=blocks)
            if cfg.track_objective:
                row["train_objective"] = evaluate(net, train, objective)[0]
        return row

    if state is None:
        state = _fresh_state(cfg, model, net, train, info.num_classes, autocast, measure, log)
    rows = state["rows"]
    start_epoch = rows[-1]["epoch"] + 1
    session_start = time.perf_counter()
    started = session_start - state["wall_s"]
    model.train()
    for epoch in range(start_epoch, cfg.epochs + 1):
        if state["diverged_epoch"] is not None:
            break
        epoch_start_params = [p.detach().clone() for p in model.parameters()] if epoch in cfg.variance_epochs else None
        with autocast:
            grad_evals, loss_sum, correct, steps = _train_epoch(cfg, epoch, model, objective, optimizer, reference,
                                                                train, log, compiled)
        state["grad_evals"] += grad_evals
        train_loss, train_acc = float(loss_sum) / steps, int(correct) / len(train)
        wall = time.perf_counter() - started
        rows.append(measure(epoch, state["grad_evals"], wall, train_loss, train_acc))
        state["wall_s"] = wall
        if not (math.isfinite(train_loss) and math.isfinite(rows[-1]["eval_loss"])):
            state["diverged_epoch"] = epoch
            print(f"epoch {epoch}: loss is not finite (train {train_loss}, eval {rows[-1]['eval_loss']}); "
                  "the run diverged: stopping and recording it as diverged", file=log)
        else:
            if epoch_start_params is not None:
                state["variance"].append(_variance_row(cfg, epoch, model, optimizer, reference, train,
                                                       epoch_start_params))
            per_epoch = (time.perf_counter() - session_start) / (epoch - start_epoch + 1)
            print(_epoch_line(cfg, rows[-1], wall, per_epoch * (cfg.epochs - epoch)), file=log, flush=True)
        if epoch < cfg.epochs and state["diverged_epoch"] is None:
            _save_checkpoint(checkpoint, key, model, optimizer, state)

    summary = _summary(cfg, state, optimizer, model, train, evaluation, dev, command)
    _write_outputs(cfg, out, state, summary)
    checkpoint.unlink(missing_ok=True)
    return summary


def _prepare_outputs(cfg: RunConfig, out: Path, checkpoint: Path, log) -> None:
    """Before any work: outputs that cannot collide, writable places, no stale temporaries."""
    files = output_files(cfg, out, checkpoint)
    check_output_files(files)
    for directory in {out.parent, checkpoint.parent}:  # a read-only or missing place fails now, not after an epoch
        check_writable(directory)
    for _, path in files:
        remove_stale_temporaries(path, log)


def _build(cfg: RunConfig, info, dev: torch.device):
    """The model (seeded) and its optimizer."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, num_classes=info.num_classes, in_channels=info.channels,
                        image_size=info.image_size, bn=cfg.bn, width=cfg.width).to(dev)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg.optimizer, model.parameters(), run=cfg, **cfg.hparams)
    return model, optimizer


def _fresh_state(cfg: RunConfig, model, net, train, num_classes: int, autocast, measure, log) -> dict:
    """The state of a run that starts over: MetaInit if asked for, then row 0 (before any update)."""
    meta = None
    if cfg.metainit:
        meta = metainit(model, metainit_batches(cfg, train, num_classes), steps=cfg.metainit_steps,
                        lr=cfg.metainit_lr, momentum=cfg.metainit_momentum, eps=cfg.metainit_eps)
        meta["data"] = cfg.metainit_data
        print(f"metainit: GQ {meta['gq_before']:.4f} -> {meta['gq_after']:.4f}", file=log)
    with autocast:
        train_loss, train_acc = evaluate(net, train)  # row 0: before any update, eval mode
    return dict(rows=[measure(0, 0, 0.0, train_loss, train_acc)], variance=[], grad_evals=0, wall_s=0.0,
                metainit=meta, diverged_epoch=None)


def _epoch_line(cfg: RunConfig, row: dict, wall: float, eta: float) -> str:
    return (f"epoch {row['epoch']}/{cfg.epochs}  grad_evals {row['grad_evals']:,}  "
            f"train_loss {row['train_loss']:.4g}  eval_loss {row['eval_loss']:.4g}  eval_acc {row['eval_acc']:.4f}  "
            f"elapsed {wall:.1f}s  eta {eta:.1f}s")


def _write_outputs(cfg: RunConfig, out: Path, state: dict, summary: dict) -> None:
    """RUN.csv, RUN.json (recording the CSVs' hashes) and RUN.variance.csv, each atomically."""
    rows = [{k: v for k, v in r.items() if k != "eval_blocks"} for r in state["rows"]]  # blocks: in RUN.json
    curve = rows_to_csv(rows, COLUMNS + (("train_objective",) if cfg.track_objective else ()))
    variance_text = rows_to_csv(state["variance"], variance.COLUMNS) if cfg.variance_epochs else None
    summary.update(run_record(out, curve, variance_text))
    if variance_text is not None:
        write_atomic(variance_path(out), variance_text)
    write_atomic(out, curve)
    write_atomic(json_path(out), sealed_json(summary))


def _variance_row(cfg, epoch, model, optimizer, reference, train, epoch_start_params) -> dict:
    """Diagnostics at the end of `epoch`: SVRG's own snapshot if it has one, else the iterate at
    the epoch's start (the snapshot SVRG with snapshot_every=1 would use)."""
    snapshot = optimizer.reference_params() if isinstance(optimizer, SVRG) else epoch_start_params
    direction = None
    if isinstance(optimizer, STORM):
        direction = [optimizer.state[p]["direction"] for p in model.parameters()]
    plan = train.epoch_plan(cfg.seed, epoch, order_stream=data.VARIANCE_STREAM)
    full_batches = (b for b in train.batches(plan, cfg.batch_size) if len(b[1]) == cfg.batch_size)
    if not cfg.transform_locking:  # measure the estimator the run uses: another augmentation at w~
        other = train.epoch_plan(cfg.seed, epoch, augmentation_stream=1, order_stream=data.VARIANCE_STREAM)
        full_batches = ((x, y, x_other) for (x, y), (x_other, _) in zip(full_batches, train.batches(
            other, cfg.batch_size)))
    batches = (b for _, b in zip(range(cfg.variance_batches), full_batches, strict=False))
    iterate = [p.detach() for p in model.parameters()]
    return dict(epoch=epoch, **variance.estimator_variances(reference, iterate, snapshot, batches, direction))


def _train_epoch(cfg, epoch, model, objective, optimizer, reference, train, log=None, compiled=None):
    """One epoch of steps. Loss and accuracy are summed on the device: no host sync per step.
    `compiled` (vrdl.compiled.CompiledGradients) takes the gradients of full minibatches."""
    epoch_start = next_progress = time.monotonic()
    next_progress += PROGRESS_SECONDS
    n_steps = -(-len(train) // cfg.batch_size)
    plan = train.epoch_plan(cfg.seed, epoch)
    grad_evals, snapshot_grads = 0, None  # snapshot_grads: per-batch g_B(w~), when cached
    if cfg.reference == "snapshot" and optimizer.snapshot_due(epoch):
        grad_evals, snapshot_grads = _snapshot(cfg, optimizer, reference, compiled, train, plan)
    steps_start = time.monotonic()  # the ETA is timed on steps alone: a snapshot pass is not a step
    variance_reduced = cfg.reference != "none"
    device = train.x.device
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    if compiled is not None:
        loss_sum, correct = compiled.new_epoch()
    steps = 0
    for x, y, x_reference in _step_batches(cfg, epoch, train, plan):
        params = optimizer.reference_params() if variance_reduced else None
        params = None if snapshot_grads is not None else params
        if compiled is not None:
            reference_grads = compiled.step(x, y, x_reference, params, loss_sum, correct)
        else:
            loss, logits = minibatch_gradient(model, objective, x, y)
            reference_grads = None if params is None else reference.at(params, x_reference, y)
            loss_sum += loss
            correct += (logits.argmax(1) == y).sum()
        grad_evals += len(y)
        if not variance_reduced:
            optimizer.step()
        else:
            if snapshot_grads is not None:
                reference_grads = snapshot_grads[steps]
            if reference_grads is not None:
                grad_evals += len(y)  # the algorithm's count, whether computed now or cached
            optimizer.step(reference_grads)
        steps += 1
        if log is not None and time.monotonic() >= next_progress:  # long epochs show they are moving
            now = time.monotonic()
            print(f"epoch {epoch}/{cfg.epochs}: step {steps}/{n_steps}  elapsed {now - epoch_start:.0f}s  "
                  f"eta {(now - steps_start) / steps * (n_steps - steps):.0f}s", file=log, flush=True)
            next_progress = time.monotonic() + PROGRESS_SECONDS
    return grad_evals, loss_sum, correct, steps


def _snapshot(cfg, optimizer, reference, compiled, train, plan):
    """SVRG's snapshot w~ and full gradient mu over the same augmented data set the epoch's steps
    will see; returns (its gradient evaluations, the per-batch g_B(w~) when cached)."""
    optimizer.take_snapshot()
    batches = train.batches(plan, cfg.batch_size)
    snapshot_grads = None
    if cfg.cache_snapshot_grads:
        n_batches = -(-len(train) // cfg.batch_size)
        mu, n, snapshot_grads = reference.full_and_per_batch(optimizer.reference_params(), batches, n_batches)
    elif compiled is not None:
        mu, n = compiled.full(optimizer.reference_params(), batches)
    else:
        mu, n = reference.full(optimizer.reference_params(), batches)
    optimizer.set_full_gradient(mu)
    return n, snapshot_grads


def _step_batches(cfg, epoch, train, plan):
    """The epoch's minibatches as (x, y, x_reference): x_reference is x under transform locking,
    in the ablation the same samples under a fresh augmentation."""
    batches = train.batches(plan, cfg.batch_size)
    if cfg.reference != "none" and not cfg.transform_locking:
        other = train.epoch_plan(cfg.seed, epoch, augmentation_stream=1)
        return ((x, y, x_other) for (x, y), (x_other, _) in zip(batches, train.batches(other, cfg.batch_size)))
    return ((x, y, x) for x, y in batches)


# ---------------------------------------------------------------------------- checkpoints


def _config_key(cfg: RunConfig, train: data.DeviceSplit) -> dict:
    """What a checkpoint must match to be resumed: the run's settings and its data."""
    return dict(dataclasses.asdict(cfg), data_sha256=train.data_sha256)


CHECKPOINT_KEYS = ("config", "model", "optimizer", "rng", "state")


def _save_checkpoint(path: Path, key: dict, model, optimizer, state) -> None:
    checkpoints.save(dict(config=key, model=model.state_dict(), optimizer=optimizer.state_dict(),
                          rng=torch.get_rng_state(), state=state), path)


def _resume(path: Path, key: dict, model, optimizer, device, log) -> dict | None:
    """The run's state from an intact checkpoint of these settings, loaded into model and
    optimizer; None (and the file set aside) if there is none or it cannot be used."""
    saved = checkpoints.load(path, key, CHECKPOINT_KEYS, device, log)
    if saved is None:
        return None
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"].cpu())
        state = saved["state"]
        last_epoch = state["rows"][-1]["epoch"]
    except Exception as err:  # right checksum, wrong insides: written by another vrdl version
        checkpoints.set_aside(path, f"does not fit this run ({type(err).__name__}: {err})".splitlines()[0], log)
        return None
    print(f"resuming from checkpoint {path} after epoch {last_epoch}", file=log)
    return state


def _summary(cfg, state, optimizer, model, train, evaluation, device, command, stacked=False) -> dict:
    last = state["rows"][-1]
    return dict(
        command=command,
        # the optimizer's and MetaInit's settings appear as read back, under hparams and metainit
        **{k: v for k, v in dataclasses.asdict(cfg).items()
           if k != "hparams" and not k.startswith("metainit")},
        hparams=hyperparameters(optimizer),
        eval_split=cfg.eval_split,
        n_train=len(train),
        n_eval=len(evaluation),
        n_params=count_parameters(model),
        data_sha256=train.data_sha256,  # SHA-256 of the prepared data file's tensors (vrdl.data)
        device=str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),  # the job's GPU slot (vrdl.gpu_slots)
        versions=dict(vrdl=vrdl.__version__, torch=torch.__version__, python=platform.python_version()),
        diverged=state["diverged_epoch"] is not None,
        diverged_epoch=state["diverged_epoch"],
        epochs_run=last["epoch"],
        grad_evals=last["grad_evals"],
        final_eval_loss=last["eval_loss"],
        final_eval_acc=last["eval_acc"],
        metainit=state["metainit"],
        eval_blocks=[row.get("eval_blocks") for row in state["rows"]],  # vrdl.bootstrap: per CSV row
        **provenance.describe(cfg.optimizer, stacked),  # commit, dirty tree, code fingerprint, vrdl path
    )
