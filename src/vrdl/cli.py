"""The `vrdl` command: `train` one run exactly as a workflow job does, `prepare` a data set,
`describe` a model, list the `optimizers`, `datasets`, `models` and the `settings` of a run, `plan` a
study's runs and cost."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import vrdl
from vrdl import datasets, models, settings
from vrdl.files import BusyError, OutputError, explain
from vrdl.optim import OPTIMIZERS, registry


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _hparam_type(h: registry.Hparam):
    def parse(text: str):
        try:
            return h.parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = h.name  # argparse names it in "invalid NAME value"
    return parse


def _add_hparam_flags(t: argparse.ArgumentParser) -> None:
    """One flag per hyperparameter of the registry (shared by the optimizers that take it)."""
    takers: dict[str, list[str]] = {}
    for entry in OPTIMIZERS.values():
        for h in entry.hparams:
            takers.setdefault(h.cli_flag, []).append(entry.name)
    group = t.add_argument_group("optimizer hyperparameters (vrdl optimizers lists them)")
    for flag, names in takers.items():
        h = next(h for h in OPTIMIZERS[names[0]].hparams if h.cli_flag == flag)
        # optimizers that share a flag may differ in default and meaning: one line per description
        meanings: dict[str, list[str]] = {}
        for name in names:
            meanings.setdefault(OPTIMIZERS[name].hparam(h.name).describe(), []).append(name)
        text = "; ".join(f"{', '.join(takers_of)}: {describe}" for describe, takers_of in meanings.items())
        kwargs = dict(dest=_dest(h), default=None, help=text)
        if h.type is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            group.add_argument(flag, type=_hparam_type(h), metavar=h.name.upper(), **kwargs)


def _dest(h: registry.Hparam) -> str:
    return "hparam_" + h.cli_flag.removeprefix("--").replace("-", "_")


def _given_hparams(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """The chosen optimizer's hyperparameters from the flags, defaults filled in; a flag of
    another optimizer or a missing required one is a usage error."""
    entry = OPTIMIZERS[args.optimizer]
    own = {_dest(h) for h in entry.hparams}
    foreign = sorted({h.cli_flag for e in OPTIMIZERS.values() for h in e.hparams
                      if _dest(h) not in own and getattr(args, _dest(h)) is not None})
    if foreign:
        takes = "/".join(h.cli_flag for h in entry.hparams) or "no hyperparameters"
        parser.error(f"--optimizer {entry.name} takes {takes}, not {', '.join(foreign)}")
    given = {h.name: getattr(args, _dest(h)) for h in entry.hparams if getattr(args, _dest(h)) is not None}
    for h in entry.hparams:
        if h.required and h.name not in given:
            parser.error(f"{h.cli_flag} is required for --optimizer {entry.name}")
    return entry.complete(given)


def _nonnegative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none (required, unset or off)."""

    def _get_help_string(self, action):
        if action.required or action.default in (None, False) or action.default == ():
            return action.help
        return super()._get_help_string(action)


def _epoch_list(text: str) -> tuple[int, ...]:
    try:
        epochs = tuple(sorted({int(e) for e in text.split(",") if e.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs like 1,5,10, got {text!r}") from None
    if not epochs or epochs[0] < 1:
        raise argparse.ArgumentTypeError(f"epochs must be >= 1, got {text!r}")
    return epochs


def _setting_type(s: settings.Setting):
    """The argparse type of a setting: the sign of a number is checked here, its full range by
    RunConfig (whose message names the setting)."""
    if s.type is tuple:
        return _epoch_list
    if s.type is int:
        return _positive_int if s.positive else int
    if s.type is float:
        return _positive_float if s.positive else _nonnegative_float if s.minimum == 0 else _finite_float
    return None


def _add_setting(p: argparse.ArgumentParser, s: settings.Setting, **overrides) -> None:
    kwargs: dict = dict(dest=s.name, help=s.help)
    if s.type is bool:
        kwargs["action"] = argparse.BooleanOptionalAction if s.negatable else "store_true"
        kwargs["default"] = s.default
    else:
        kwargs |= dict(type=_setting_type(s), default=s.default, required=s.required)
        if s.choices:
            kwargs["choices"] = s.options
        if s.metavar:
            kwargs["metavar"] = s.metavar
    p.add_argument(s.flag, **(kwargs | overrides))


def _short_usage() -> str:
    """vrdl train's usage line: the required settings only (argparse would list every option,
    30 lines above the one line of an error)."""
    required = " ".join(f"{s.flag} {s.metavar or s.name.upper()}" for s in settings.SETTINGS if s.required)
    return f"vrdl train {required} [OPTION ...] (vrdl train -h lists them)"


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train one run; writes RUN.csv and RUN.json", formatter_class=_HelpFormatter,
                       usage=_short_usage())
    for s in settings.SETTINGS:
        _add_setting(t, s)
        if s.name == "optimizer":
            _add_hparam_flags(t)


def _add_train_grid(sub) -> None:
    g = sub.add_parser("train-grid", help="train many runs of one optimizer at once (stacked, vmap)",
                       formatter_class=_HelpFormatter)
    g.add_argument("--spec", required=True, metavar="GRID.json",
                   help='JSON {"runs": [[vrdl train arguments of run 1], ...]}; each run writes its own --out')
    _add_setting(g, settings.BY_NAME["data_dir"])
    _add_setting(g, settings.BY_NAME["checkpoint"],
                 help="per-epoch checkpoint of the whole grid (default: beside the first run's CSV)")
    _add_setting(g, settings.BY_NAME["device"])
    _add_setting(g, settings.BY_NAME["threads"])
    _add_setting(g, settings.BY_NAME["compile"],
                 help="torch.compile the stacked step (CUDA: CUDA graphs); as --compile in every run's arguments")


def _add_plan(sub) -> None:
    pl = sub.add_parser("plan", help="a config's runs, gradient computations and device-hours (and progress)")
    pl.add_argument("--configfile", required=True, nargs="+", action="extend", metavar="CONFIG.yaml",
                    help="one or more config files, merged like Snakemake's --configfile (later ones override "
                         "earlier ones, mappings key by key)")
    pl.add_argument("--per-epoch-costs", metavar="COSTS.json",
                    help="seconds per sample gradient, each for one shape of work (model, BN, width, input, "
                         "batch size, precision, device kind) and only for runs of that shape (docs/cli.md)")
    pl.add_argument("--results", metavar="DIR",
                    help="a results/ directory: progress (done, running, pending) and, without "
                         "--per-epoch-costs, rates measured from its finished runs")


def _add_describe(sub) -> None:
    d = sub.add_parser("describe", help="print a model's size as JSON")
    for name in ("model", "bn", "width"):
        _add_setting(d, settings.BY_NAME[name])
    d.add_argument("--num-classes", type=_positive_int, default=10)
    d.add_argument("--in-channels", type=_positive_int,
                   help="input channels (default: those of the model's data set in the study, `vrdl models`)")
    d.add_argument("--image-size", type=_positive_int, help="default: that of the model's data set in the study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vrdl", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vrdl {vrdl.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_train_grid(sub)
    p = sub.add_parser("prepare", help="turn a data set into uint8 tensors in --data-dir",
                       formatter_class=_HelpFormatter)
    p.add_argument("--dataset", required=True, choices=list(datasets.DATASETS), help="data set to prepare")
    p.add_argument("--data-dir", default="data", help="where NAME.pt is written (an intact one is kept)")
    p.add_argument("--source-dir", metavar="RAW_DIR", help="directory with the data set's original files")
    sub.add_parser("optimizers", help="list the optimizers with their hyperparameters and flags")
    sub.add_parser("settings", help="print the table of vrdl train's settings (markdown, as in docs/cli.md)")
    _add_registry_listings(sub)
    _add_plan(sub)
    _add_describe(sub)
    parser.subcommands = sub.choices  # each command's own parser: its errors show its usage
    return parser


def _run_config(args: argparse.Namespace, hparams: dict):
    from vrdl.train import RunConfig

    return RunConfig(**{name: getattr(args, name) for name in settings.RUN_FIELDS}, hparams=hparams)


def _train(args: argparse.Namespace, argv: list[str], hparams: dict) -> None:
    import torch

    from vrdl.train import run

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _run_config(args, hparams)
    args.checkpoint = args.checkpoint or str(Path(args.out).with_suffix(".ckpt"))  # train.run's default
    run(cfg, out=args.out, data_dir=args.data_dir, device=args.device, checkpoint=args.checkpoint,
        command=["vrdl", *argv])


def _train_grid(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    import torch

    from vrdl.grid import run_grid

    if args.threads:
        torch.set_num_threads(args.threads)
    runs = _read_grid_spec(args.spec)
    cfgs, outs, commands = [], [], []
    for run_args in runs:
        run_args = [str(a) for a in run_args]
        parsed = parser.parse_args(["train", *run_args])
        _refuse_grid_options(args, parsed, run_args, len(cfgs) + 1)
        parsed.compile = parsed.compile or args.compile
        cfgs.append(_run_config(parsed, _given_hparams(parser.subcommands["train"], parsed)))
        outs.append(parsed.out)
        commands.append(["vrdl", "train", *run_args])
    if not cfgs:
        raise ValueError(f"{args.spec} lists no runs")
    args.checkpoint = args.checkpoint or str(Path(outs[0]).with_suffix(".grid.ckpt"))  # run_grid's default
    run_grid(cfgs, outs, data_dir=args.data_dir, device=args.device, commands=commands, checkpoint=args.checkpoint)


# Options of the whole grid: one data set, device, checkpoint and thread count for all its runs.
GRID_OPTIONS = ("data_dir", "device", "checkpoint", "threads")


def _refuse_grid_options(args, parsed, run_args: list[str], number: int) -> None:
    """A run of the spec that sets one of GRID_OPTIONS to another value than the grid's (it would
    be ignored); the workflow's specs repeat the grid's device, which is fine."""
    for name in GRID_OPTIONS:
        flag = "--" + name.replace("_", "-")
        given = any(a == flag or a.startswith(flag + "=") for a in run_args)
        if given and getattr(parsed, name) != getattr(args, name):
            raise ValueError(f"run {number} of --spec {args.spec} gives {flag} {getattr(parsed, name)}, but "
                             f"{flag} is the whole grid's ({getattr(args, name)}): give it to vrdl train-grid, "
                             "not to a run")


def _read_grid_spec(path: str) -> list:
    """The runs of a train-grid spec: {"runs": [[arguments of run 1], ...]}; ValueError naming the file."""
    from vrdl.config import read_json

    spec = read_json(path, "--spec")
    runs = spec.get("runs") if isinstance(spec, dict) else None
    if not isinstance(runs, list) or not all(isinstance(run, list) for run in runs):
        raise ValueError(f'--spec {path} must hold {{"runs": [[vrdl train arguments of run 1], ...]}}')
    return runs


def _add_registry_listings(sub) -> None:
    """`vrdl datasets` and `vrdl models`: one line per registry entry (vrdl.datasets, vrdl.models)."""
    for name, registry_of in (("datasets", datasets.DATASETS), ("models", models.MODELS)):
        p = sub.add_parser(name, help=f"list the {name} with their facts (one line each)")
        p.set_defaults(listing=registry_of)


def _print_optimizers() -> None:
    for entry in OPTIMIZERS.values():
        reference = entry.reference if isinstance(entry.reference, str) else "depends on the hyperparameters"
        print(f"{entry.name}: {entry.summary}")
        print(f"  reference point per step: {reference}; stacked (train-grid): {'yes' if entry.stacked else 'no'}")
        for h in entry.hparams:
            print(f"  {h.name:<16} {h.cli_flag:<18} {h.type.__name__:<6} {h.describe()}")


def _user_error(err: Exception) -> bool:
    """A bad argument, config, output path or data set (a message, not a traceback). vrdl.data
    (torch) is looked up only where it was imported: the listing commands import no torch."""
    data = sys.modules.get("vrdl.data")
    return isinstance(err, ValueError | OutputError) or (data is not None and isinstance(err, data.DataError))


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> None:
    if args.command == "train":
        _train(args, argv, _given_hparams(parser.subcommands["train"], args))
    elif args.command == "train-grid":
        _train_grid(parser, args)
    elif args.command == "optimizers":
        _print_optimizers()
    elif args.command == "settings":
        print(settings.markdown_table(), end="")
    elif hasattr(args, "listing"):
        print("\n".join(entry.describe() for entry in args.listing.values()))
    elif args.command == "plan":
        from vrdl.plan import print_plan

        print_plan(args.configfile, costs=args.per_epoch_costs, results=args.results)
    elif args.command == "prepare":
        from vrdl.data import prepare

        print(prepare(args.dataset, args.data_dir, args.source_dir))
    else:
        _describe(args)


def _describe(args: argparse.Namespace) -> None:
    from vrdl.models import build_model, count_batchnorm, count_parameters

    studied_on = datasets.get(models.get(args.model).dataset)  # LeNet: MNIST, ResNets: CIFAR
    in_channels = args.in_channels or studied_on.channels
    image_size = args.image_size or studied_on.image_size
    model = build_model(args.model, num_classes=args.num_classes, in_channels=in_channels,
                        image_size=image_size, bn=args.bn, width=args.width)
    print(json.dumps(dict(model=args.model, bn=args.bn, width=args.width, in_channels=in_channels,
                          num_classes=args.num_classes, n_params=count_parameters(model),
                          n_batchnorm=count_batchnorm(model))))


def _interrupted(args: argparse.Namespace) -> str:
    """What a Ctrl-C left: the epoch a rerun of a training command resumes after."""
    if args.command not in ("train", "train-grid") or not getattr(args, "checkpoint", None):
        return "interrupted"
    from vrdl import checkpoints

    epoch = checkpoints.saved_epoch(Path(args.checkpoint))
    if epoch is not None:
        return f"interrupted after epoch {epoch}; rerun the same command to resume"
    if Path(args.checkpoint).is_file():  # stopped before it was read: its epoch is unknown here
        return f"interrupted; rerun the same command to resume from {args.checkpoint}"
    return "interrupted before the first epoch ended (no checkpoint yet); rerun the same command to start again"


def _file_error(args: argparse.Namespace, err: OSError | OutputError) -> str:
    """One line: the file, the cause and the fix (files.explain); a run's rerun resumes."""
    message = explain(err) if isinstance(err, OSError) else str(err)
    if args.command in ("train", "train-grid") and not isinstance(err, BusyError):
        message += "; then rerun the same command (it resumes where it stopped)"
    return message


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _dispatch(parser, args, argv)
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback; 130 as a shell reports SIGINT
        print(f"vrdl {args.command}: {_interrupted(args)}", file=sys.stderr)
        raise SystemExit(130) from None
    except (OSError, OutputError) as err:  # a run's own files: logs, results, checkpoints, data
        print(f"vrdl {args.command}: error: {_file_error(args, err)}", file=sys.stderr)
        raise SystemExit(2) from None
    except Exception as err:
        if not _user_error(err):
            raise
        print(f"vrdl {args.command}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


__all__ = ["main", "build_parser"]


if __name__ == "__main__":
    main()
