"""Faults injected on purpose: swapped, damaged or edited data files and checkpoints, read-only
and full output locations, non-finite or impossible inputs. Each fails loudly naming the file
or flag, or is handled (a broken checkpoint is set aside and the run starts over)."""

import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager

import pytest
import torch

import vrdl.files
import vrdl.grid
import vrdl.train
from tests.unit.test_train import read_csv, run_cli, train_args, without_wall_time
from vrdl import checkpoints, data
from vrdl.cli import build_parser

FASHION_MNIST_SOURCE = "/usr/share/datasets/fashion-mnist"


@pytest.fixture
def data_dir(fashion_mnist_dir, tmp_path):
    """A private copy of the prepared Fashion-MNIST, free to damage."""
    target = tmp_path / "data"
    target.mkdir()
    shutil.copy(fashion_mnist_dir / "fashion_mnist.pt", target)
    return target


def train_error(args, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(args)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


# ---------------------------------------------------------------------------- data files


def test_a_data_set_copied_under_another_name_is_refused(data_dir, tmp_path, capsys):
    shutil.copy(data_dir / "fashion_mnist.pt", data_dir / "mnist.pt")
    err = train_error(train_args(data_dir, tmp_path / "run.csv", dataset="mnist"), capsys)
    assert f"{data_dir / 'mnist.pt'} holds data set 'fashion_mnist', not 'mnist'" in err
    assert not (tmp_path / "run.csv").exists()


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_data_file_is_named_not_blamed_on_a_checkpoint(data_dir, tmp_path, capsys, damage):
    path = data_dir / "fashion_mnist.pt"
    if damage == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    else:
        path.write_bytes(b"not a tensor file\n" * 100)
    err = train_error(train_args(data_dir, tmp_path / "run.csv"), capsys)
    assert f"{path} is not a readable prepared data set" in err and "vrdl prepare" in err
    assert "checkpoint" not in err and "Traceback" not in err


def test_edited_data_contents_do_not_match_the_fingerprint(data_dir, tmp_path, capsys):
    path = data_dir / "fashion_mnist.pt"
    saved = torch.load(path, weights_only=True)
    saved["train_y"][:10] = (saved["train_y"][:10] + 1) % 10  # relabel ten images, keep the fingerprint
    torch.save(saved, path)
    err = train_error(train_args(data_dir, tmp_path / "run.csv"), capsys)
    assert f"{path}: its contents do not match its fingerprint" in err and "class_counts" in err


def test_prepare_rebuilds_a_broken_file_from_the_sources(data_dir, capsys):
    path = data_dir / "fashion_mnist.pt"
    intact = data.load("fashion_mnist", data_dir)["fingerprint"]
    os.truncate(path, 1000)
    data.prepare("fashion_mnist", data_dir, FASHION_MNIST_SOURCE)
    assert "rebuilding it" in capsys.readouterr().err
    assert data.load("fashion_mnist", data_dir)["fingerprint"] == intact
    fingerprint = intact
    assert fingerprint["dataset"] == "fashion_mnist" and fingerprint["shapes"]["train_x"] == [60000, 1, 28, 28]
    assert fingerprint["class_counts"]["test"] == [1000] * 10 and len(fingerprint["sha256"]) == 64


def test_prepare_refuses_a_wrong_file_it_cannot_rebuild(data_dir, monkeypatch):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    shutil.copy(data_dir / "fashion_mnist.pt", data_dir / "mnist.pt")
    with pytest.raises(data.DataError, match="holds data set 'fashion_mnist', not 'mnist'") as err:
        data.prepare("mnist", data_dir)
    assert "--source-dir" in str(err.value)


def test_a_data_file_without_fingerprint_is_refused(data_dir, tmp_path, capsys):
    path = data_dir / "fashion_mnist.pt"
    saved = torch.load(path, weights_only=True)
    del saved["fingerprint"]
    torch.save(saved, path)
    assert "has no fingerprint" in train_error(train_args(data_dir, tmp_path / "run.csv"), capsys)


def test_the_run_records_its_data_hash(data_dir, tmp_path):
    out = tmp_path / "run.csv"
    run_cli(train_args(data_dir, out, epochs=1))
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["data_sha256"] == data.load("fashion_mnist", data_dir)["fingerprint"]["sha256"]


# ---------------------------------------------------------------------------- checkpoints


@contextmanager
def killed_after_first_checkpoint(monkeypatch):
    """The job dies right after writing its first checkpoint (as a SIGKILL would)."""
    original = checkpoints.save

    def save_then_die(payload, path):
        original(payload, path)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "save", save_then_die)
    with pytest.raises(SystemExit) as interrupted:  # vrdl.cli: an interrupt is one line and exit 130
        yield
    assert interrupted.value.code == 130
    monkeypatch.setattr(checkpoints, "save", original)


def edit_weights(path):
    saved = torch.load(path, weights_only=True)
    first = next(iter(saved["model"]))
    saved["model"][first] += 0.01  # keep format and sha256 as they were
    torch.save(saved, path)


def wrong_structure(path):
    torch.save({"weights": torch.zeros(3)}, path)  # a valid torch file, not a vrdl checkpoint


def garbage(path):
    path.write_bytes(os.urandom(500))


@pytest.mark.parametrize("damage,message", [
    (edit_weights, "does not match its checksum"),
    (wrong_structure, "is not a vrdl checkpoint"),
    (garbage, "is unreadable"),
])
def test_a_bad_checkpoint_is_set_aside_and_the_run_starts_over(data_dir, tmp_path, monkeypatch, capsys, damage,
                                                               message):
    reference = tmp_path / "reference.csv"
    run_cli(train_args(data_dir, reference, epochs=3))
    out = tmp_path / "run.csv"
    checkpoint = out.with_suffix(".ckpt")
    with killed_after_first_checkpoint(monkeypatch):
        run_cli(train_args(data_dir, out, epochs=3))
    assert torch.load(checkpoint, weights_only=True)["format"] == checkpoints.FORMAT  # loads with weights_only
    damage(checkpoint)
    capsys.readouterr()
    run_cli(train_args(data_dir, out, epochs=3))
    err = capsys.readouterr().err
    assert f"checkpoint {checkpoint} {message}" in err and "moved it to run.ckpt.rejected" in err
    assert "resuming" not in err
    assert without_wall_time(read_csv(out)) == without_wall_time(read_csv(reference))
    assert checkpoint.with_name("run.ckpt.rejected").exists() and not checkpoint.exists()


def test_an_intact_checkpoint_still_resumes(data_dir, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run.csv"
    with killed_after_first_checkpoint(monkeypatch):
        run_cli(train_args(data_dir, out, epochs=2))
    capsys.readouterr()
    run_cli(train_args(data_dir, out, epochs=2))
    assert "resuming from checkpoint" in capsys.readouterr().err


def test_a_foreign_grid_checkpoint_is_set_aside(data_dir, tmp_path, capsys):
    runs = [train_args(data_dir, tmp_path / f"r{f}.csv", epochs=1, folds=2, fold=f)[1:] for f in (0, 1)]
    spec = tmp_path / "grid.json"
    spec.write_text(json.dumps({"runs": [[str(a) for a in r] for r in runs]}))
    checkpoint = tmp_path / "g.ckpt"
    wrong_structure(checkpoint)
    run_cli(["train-grid", "--spec", spec, "--data-dir", data_dir, "--checkpoint", checkpoint])
    assert "is not a vrdl checkpoint" in capsys.readouterr().err
    assert len(read_csv(tmp_path / "r1.csv")) == 2


# ---------------------------------------------------------------------------- output locations


@contextmanager
def read_only(directory):
    """A directory nobody may write to, root included (chattr +i where we are root)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode != 0:
            pytest.skip("running as root where chattr +i is not allowed")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)


def test_a_read_only_output_directory_fails_before_training(data_dir, tmp_path, capsys):
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    with read_only(out_dir):
        err = train_error(train_args(data_dir, out_dir / "run.csv"), capsys)
    assert f"cannot write {out_dir}" in err and "epoch 1" not in err


def test_a_full_disk_is_reported_with_the_path(data_dir, tmp_path):
    """RLIMIT_FSIZE makes writes past 100 kB fail as a full disk would (EFBIG instead of ENOSPC)."""
    out = tmp_path / "run.csv"

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))

    cmd = [sys.executable, "-m", "vrdl.cli", *map(str, train_args(data_dir, out, epochs=2))]
    done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=limit_file_size)
    assert done.returncode == 2
    assert f"cannot write {out.with_suffix('.ckpt')}: File too large" in done.stderr
    assert "Traceback" not in done.stderr and "unexpected pos" not in done.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run")] == []  # no temporary left


# ---------------------------------------------------------------------------- inputs and JSON


@pytest.mark.parametrize("flag,value", [
    ("--lr", "inf"), ("--l2", "inf"), ("--l2", "nan"), ("--width", "nan"), ("--val-fraction", "inf"),
    ("--metainit-lr", "inf"), ("--metainit-momentum", "inf"), ("--metainit-eps", "nan"),
])
def test_non_finite_numbers_are_refused_naming_the_flag(data_dir, tmp_path, capsys, flag, value):
    args = [a for a in train_args(data_dir, tmp_path / "run.csv", lr=None) if a != "--lr"]
    err = train_error([*args, flag, value] + (["--lr", "0.1"] if flag != "--lr" else []), capsys)
    assert f"argument {flag}: must be a finite number, got {value}" in err


def test_the_library_refuses_non_finite_settings_too():
    with pytest.raises(ValueError, match="--l2 must be a finite number"):
        vrdl.train.RunConfig(dataset="mnist", model="lenet", optimizer="sgd", lr=0.1, epochs=1, batch_size=8,
                             l2=math.inf)


def test_a_batch_larger_than_the_training_portion_is_refused(data_dir, tmp_path, capsys):
    err = train_error(train_args(data_dir, tmp_path / "run.csv", batch_size=301), capsys)
    assert "--batch-size 301 is larger than the training portion (300 samples" in err


def test_a_diverged_run_writes_strict_json(data_dir, tmp_path):
    out = tmp_path / "run.csv"
    run_cli(train_args(data_dir, out, model="logreg", lr=1e38, epochs=3))

    def refuse(token):
        raise AssertionError(f"{token} in RUN.json")

    meta = json.loads(out.with_suffix(".json").read_text(), parse_constant=refuse)
    assert meta["diverged"] is True and meta["final_eval_loss"] is None


def test_help_gives_every_non_optimizer_flag_a_text_and_its_default():
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    for name in ("train", "train-grid", "prepare"):
        sub = subcommands[name]
        text = sub.format_help()
        for action in sub._actions:
            flag = action.option_strings[-1] if action.option_strings else None
            if flag in (None, "--help", "--lr", "--storm-k", "--storm-c", "--storm-w", "--snapshot-every"):
                continue
            assert action.help, f"vrdl {name} {flag} has no help text"
            if action.default not in (None, False, ()) and not action.required:
                assert "default" in sub._get_formatter()._get_help_string(action), f"{flag}: no default shown"
        if name == "train":
            assert "(default: 1)" in text and "(default: 200)" in text  # --seed, --metainit-steps


# ---------------------------------------------------------------------------- run files prove what they are


def train_into(data_dir, results, split="fold~0", bn="off", name="small", **options):
    """A real one-epoch tune run written into its place in the workflow's layout (config `name`)."""
    out = results / f"{name}/lenet_s/bn~{bn}/tune/sgd/lr~0.05/seed~1/{split}.csv"
    fold = dict(folds=2, fold=int(split.split("~")[1])) if split.startswith("fold") else dict(val_fraction=0.1)
    run_cli(train_args(data_dir, out, **{"epochs": 1, "bn": bn == "on", **fold, **options}))
    return out


def test_a_run_records_its_identity_and_the_hash_of_its_csv(data_dir, tmp_path):
    from vrdl.identity import sha256_of
    from vrdl.runs import read_run

    out = train_into(data_dir, tmp_path / "results", variance_epochs="1", variance_batches=2)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["identity"] == dict(stage="tune", name="small", study="lenet_s", bn="off", optimizer="sgd",
                                    point="lr~0.05", seed="1", split="fold~0")
    assert meta["csv_sha256"] == sha256_of(out.read_bytes())
    assert meta["variance_sha256"] == sha256_of(out.with_suffix(".variance.csv").read_bytes())
    read_run(out)  # intact: accepted


def test_an_edited_middle_row_is_refused_and_set_aside(data_dir, tmp_path):
    from vrdl.runs import RunFileError, read_run

    out = train_into(data_dir, tmp_path / "results", epochs=3)
    lines = out.read_text().splitlines(keepends=True)
    cells = lines[2].split(",")
    cells[7] = "0.99\n"  # epoch 1's eval_acc: the last row and the JSON still agree
    lines[2] = ",".join(cells)
    out.write_text("".join(lines))
    with pytest.raises(RunFileError, match=f"{out} is not the file the run wrote .*moved aside as fold~0.csv.rejected"):
        read_run(out)
    assert not out.exists() and not out.with_suffix(".json").exists()
    assert out.with_name("fold~0.csv.rejected").is_file() and out.with_name("fold~0.json.rejected").is_file()


@pytest.mark.parametrize("source,target,message", [
    (dict(split="fold~1"), dict(split="fold~0"), "written as run .* split=fold~1 .*not as the run of its path"),
    (dict(bn="on"), dict(bn="off"), "written as run .* bn=on .*not as the run of its path"),
    (dict(name="quick"), dict(name="small"), "written as run .* name=quick .*not as the run of its path"),
])
def test_a_run_copied_into_another_runs_place_is_refused(data_dir, tmp_path, source, target, message):
    from vrdl.runs import RunFileError, read_run

    theirs = train_into(data_dir, tmp_path / "other" / "results", **source)
    mine = train_into(data_dir, tmp_path / "results", **target)
    shutil.copy(theirs, mine)
    shutil.copy(theirs.with_suffix(".json"), mine.with_suffix(".json"))
    with pytest.raises(RunFileError, match=message):
        read_run(mine)
    assert not mine.exists()


def test_a_run_trained_with_other_settings_than_its_path_says_is_refused(data_dir, tmp_path):
    """vrdl train records the identity of its --out; the settings it ran must fit that place."""
    from vrdl.runs import RunFileError, read_run

    out = tmp_path / "results/small/lenet_s/bn~on/tune/sgd/lr~0.05/seed~1/fold~0.csv"
    run_cli(train_args(data_dir, out, epochs=1, folds=2, fold=0))  # --no-bn
    with pytest.raises(RunFileError, match="the run trained with bn off, but its path says on"):
        read_run(out, heal=False)
    assert out.exists()  # heal=False (vrdl plan --results) leaves it


# ---------------------------------------------------------------------------- outputs that would overwrite each other


@pytest.mark.parametrize("out,extra,message", [
    ("run.json", {}, "--out .*run.json: must name a .csv file"),
    ("run.csv", dict(checkpoint="run.json"), "--checkpoint .*run.json is also its RUN.json"),
    ("folder", {}, "must name a .csv file"),
    ("folder.csv", {}, "folder.csv exists and is not a regular file"),
])
def test_train_refuses_outputs_that_collide_or_are_not_files(data_dir, tmp_path, capsys, out, extra, message):
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "folder").mkdir()
    extra = {key: tmp_path / value for key, value in extra.items()}
    err = train_error(train_args(data_dir, tmp_path / out, epochs=1, **extra), capsys)
    assert len(err.strip().splitlines()) == 1 and message.split(".*")[-1] in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "folder", "folder.csv"]  # nothing written


def test_train_grid_refuses_two_runs_with_one_out(data_dir, tmp_path, capsys):
    run = train_args(data_dir, tmp_path / "a.csv", epochs=1)[1:]
    other = [*run[: run.index("--lr") + 1], "0.1", *run[run.index("--lr") + 2:]]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"runs": [run, other]}))
    err = train_error(["train-grid", "--spec", spec, "--data-dir", data_dir], capsys)
    assert "--out (run 2 of the spec)" in err and "a.csv is also --out (run 1 of the spec)" in err


@pytest.mark.parametrize("text,message", [
    (None, "cannot read --spec"),
    ("{", "is not valid JSON"),
    ('{"run": []}', 'must hold {"runs"'),
])
def test_train_grid_names_a_missing_or_malformed_spec(tmp_path, capsys, text, message):
    spec = tmp_path / "spec.json"
    if text is not None:
        spec.write_text(text)
    err = train_error(["train-grid", "--spec", spec], capsys)
    assert message in err and str(spec) in err and "Traceback" not in err


def test_preparing_mnist_from_fashion_mnist_files_is_refused(tmp_path, capsys):
    """The files are in MNIST's format, so only their contents (class counts) tell them apart."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["prepare", "--dataset", "mnist", "--data-dir", tmp_path, "--source-dir", FASHION_MNIST_SOURCE])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "these files hold fashion_mnist, not mnist" in err and "data.sources.mnist" in err
    assert not (tmp_path / "mnist.pt").exists()


# ---------------------------------------------------------------------------- user errors: one line, exit 2


@pytest.mark.parametrize("args,message", [
    (["--configfile", "{missing}"], "cannot read config file {missing}: No such file or directory"),
    (["--configfile", "{bad_yaml}"], "{bad_yaml}, line 2, column 1: not valid YAML"),
    (["--configfile", "{float_epochs}"], "studies.lenet_fmnist.epochs: 2.0 is not of type 'integer'"),
    (["--configfile", "{quick}", "--per-epoch-costs", "{missing}"], "cannot read --per-epoch-costs {missing}"),
    (["--configfile", "{quick}", "--per-epoch-costs", "{tmp}"], "cannot read --per-epoch-costs {tmp}: Is a directory"),
    (["--configfile", "{quick}", "--per-epoch-costs", "{a_list}"], "{a_list} must hold a JSON object"),
])
def test_vrdl_plan_names_the_file_or_key_of_a_user_error(tmp_path, capsys, args, message):
    from pathlib import Path

    quick = Path(__file__).resolve().parents[2] / "config" / "quick.yaml"
    files = dict(missing=tmp_path / "missing.yaml", bad_yaml=tmp_path / "bad.yaml", tmp=tmp_path,
                 float_epochs=tmp_path / "float.yaml", a_list=tmp_path / "list.json", quick=quick)
    files["bad_yaml"].write_text("studies: [\n")
    files["float_epochs"].write_text(quick.read_text().replace("epochs: 3\n", "epochs: 2.0\n", 1))
    files["a_list"].write_text("[1]")
    err = train_error(["plan", *[a.format(**files) for a in args]], capsys)
    assert message.format(**files) in err and "Traceback" not in err


# ---------------------------------------------------------------------------- leftovers of killed writers, modes


def vrdl_cli(args, **options) -> subprocess.CompletedProcess:
    """The real `vrdl` command in a process of its own."""
    return subprocess.run([sys.executable, "-m", "vrdl.cli", *map(str, args)], capture_output=True, text=True,
                          **options)


# vrdl train in a process that is SIGKILLed in its first rename: the first checkpoint's temporary
# file is fully written but never renamed, as a kill at that moment leaves it
KILLED_IN_FIRST_RENAME = """
import os, signal, sys
os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
from vrdl.cli import main
main(sys.argv[1:])
"""


def temporaries(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_temporary_files_of_a_killed_run_are_removed_on_its_next_start(data_dir, tmp_path):
    out = tmp_path / "out" / "run.csv"
    args = [str(a) for a in train_args(data_dir, out, epochs=2)]
    killed = subprocess.run([sys.executable, "-c", KILLED_IN_FIRST_RENAME, *args], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    left = temporaries(out.parent)
    assert len(left) == 1 and left[0].startswith(".run.ckpt.pid") and left[0].endswith(".tmp")
    # a live writer's file (this process) and one of another host sharing the directory stay
    live = out.parent / f".run.csv.pid{os.getpid()}@{vrdl.files._host()}.abcd1234.tmp"
    other_host = out.parent / ".run.json.pid1@elsewhere.abcd1234.tmp"
    other_run = out.parent / f".other.csv.pid999999999@{vrdl.files._host()}.abcd1234.tmp"
    for path in (live, other_host, other_run):
        path.write_text("in progress")
    done = vrdl_cli(args)
    assert done.returncode == 0, done.stderr
    assert f"removed 1 temporary file(s) a killed vrdl process left: {left[0]}" in done.stderr
    assert temporaries(out.parent) == sorted(p.name for p in (live, other_host, other_run))
    assert len(read_csv(out)) == 3


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(data_dir, tmp_path, umask, mode):
    out = tmp_path / "run.csv"
    done = vrdl_cli(train_args(data_dir, out, epochs=1), preexec_fn=lambda: os.umask(umask))
    assert done.returncode == 0, done.stderr
    for path in (out, out.with_suffix(".json")):
        assert path.stat().st_mode & 0o777 == mode, f"{path.name}: {oct(path.stat().st_mode & 0o777)}"


def test_train_refuses_a_visible_devices_value_that_names_no_device(data_dir, tmp_path):
    done = vrdl_cli(train_args(data_dir, tmp_path / "run.csv", epochs=1),
                    env=dict(os.environ, CUDA_VISIBLE_DEVICES="garbage"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("vrdl train: error: CUDA_VISIBLE_DEVICES=garbage: 'garbage' is not a CUDA device")
    assert not (tmp_path / "run.csv").exists()


# ---------------------------------------------------------------------------- damaged raw files, read-only places


def truncate_gzip(path):
    path.write_bytes(path.read_bytes()[:1000])


def not_gzip(path):
    path.write_bytes(b"<html>a login page saved as the download</html>\n")


def truncated_uncompressed(path):
    """The file gunzipped and cut short, under the name without .gz."""
    import gzip
    from pathlib import Path

    path.unlink()
    original = Path(FASHION_MNIST_SOURCE) / path.name
    path.with_suffix("").write_bytes(gzip.decompress(original.read_bytes())[:5000])
    return path.with_suffix("")


@pytest.mark.parametrize("damage,message", [
    (truncate_gzip, "is truncated or not a gzip file (EOFError"),
    (not_gzip, "is truncated or not a gzip file (BadGzipFile"),
    (truncated_uncompressed, "is truncated: 5000 bytes for an IDX file of shape [60000]"),
])
def test_prepare_names_a_damaged_raw_file(tmp_path, damage, message):
    source = tmp_path / "raw"
    shutil.copytree(FASHION_MNIST_SOURCE, source)
    damaged = source / "train-labels-idx1-ubyte.gz"
    damaged = damage(damaged) or damaged
    done = vrdl_cli(["prepare", "--dataset", "fashion_mnist", "--data-dir", tmp_path / "data", "--source-dir", source])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    first, fix = done.stderr.splitlines()
    assert first.startswith(f"vrdl prepare: error: {damaged} ") and message in first
    assert fix.startswith("Fix: replace it with an intact copy") and "data.sources.fashion_mnist" in fix
    assert not (tmp_path / "data" / "fashion_mnist.pt").exists()


def test_prepare_names_a_truncated_cifar_file(cifar10_source, tmp_path):
    damaged = cifar10_source / "cifar-10-batches-py" / "data_batch_3"
    damaged.write_bytes(damaged.read_bytes()[:3000])
    done = vrdl_cli(["prepare", "--dataset", "cifar10", "--data-dir", tmp_path / "data", "--source-dir",
                     cifar10_source])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"vrdl prepare: error: {damaged} is truncated or not a CIFAR batch file")
    assert "data.sources.cifar10" in done.stderr


def test_a_read_only_checkpoint_directory_fails_before_training(data_dir, tmp_path):
    checkpoints_dir = tmp_path / "checkpoints"
    checkpoints_dir.mkdir()
    with read_only(checkpoints_dir):
        done = vrdl_cli(train_args(data_dir, tmp_path / "run.csv", checkpoint=checkpoints_dir / "run.ckpt"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"vrdl train: error: cannot write {checkpoints_dir}: ")
    assert "(a read-only file system: make it writable or choose a writable location)" in done.stderr \
        or "(permission denied: fix its permissions (chmod/chown) or choose a writable location)" in done.stderr
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "run.csv").exists()


# ---------------------------------------------------------------------------- vrdl plan refuses what every job would


def quick_config_with(tmp_path, old, new):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "config" / "quick.yaml").read_text()
    assert old in text
    path = tmp_path / "changed.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,message", [
    ("    batch_size: 32\n", "    batch_size: 1025\n",
     "studies.lenet_fmnist.batch_size: 1025 is larger than the 1,024 samples its runs train on (train_subset): use "
     "at most 1,024"),
    ("      folds: 2\n", "      folds: 60001\n",
     "studies.lenet_fmnist.selection.folds: 60001 folds of the 60,000 training samples of fashion_mnist"),
    ("    width: 0.125\n", "    width: 1000\n", "studies.resnet18_fmnist.width: 1000 makes resnet18 a model of "
     "11,157,514,496,010 parameters, more than the 1,000,000,000 vrdl trains"),
])
def test_vrdl_plan_refuses_what_every_job_would_refuse(tmp_path, old, new, message):
    done = vrdl_cli(["plan", "--configfile", quick_config_with(tmp_path, old, new)])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert message in done.stderr


def test_vrdl_plan_accepts_the_limits_themselves(tmp_path):
    """batch_size equal to train_subset trains one full minibatch per epoch: allowed, as vrdl train allows it."""
    done = vrdl_cli(["plan", "--configfile", quick_config_with(tmp_path, "    batch_size: 32\n",
                                                                "    batch_size: 1024\n")])
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------- CLI conventions


def test_vrdl_version():
    done = vrdl_cli(["--version"])
    assert done.returncode == 0 and done.stdout == f"vrdl {vrdl.__version__}\n"


@pytest.mark.parametrize("args,n_params", [
    (["--model", "lenet"], 61706),  # the count docs/cli.md gives: LeNet-5 on MNIST, 1 input channel
    (["--model", "lenet", "--in-channels", "3", "--image-size", "32"], 62006),
    (["--model", "resnet18"], 11169162),  # CIFAR: 3 channels
])
def test_describe_counts_the_models_own_input_by_default(args, n_params):
    done = vrdl_cli(["describe", *args])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_params"] == n_params


def test_plan_merges_several_config_files_like_snakemake(tmp_path):
    from pathlib import Path

    quick = Path(__file__).resolve().parents[2] / "config" / "quick.yaml"
    override = tmp_path / "override.yaml"
    override.write_text("name: quick_more\nstudies:\n  lenet_fmnist:\n    epochs: 7\n")
    alone, merged = vrdl_cli(["plan", "--configfile", quick]), vrdl_cli(["plan", "--configfile", quick, override])
    assert alone.returncode == 0 and merged.returncode == 0, merged.stderr
    changed = [(a, m) for a, m in zip(alone.stdout.splitlines(), merged.stdout.splitlines()) if a != m]
    # mappings merge key by key: only lenet_fmnist's epochs changed, its other keys and the other studies stay
    assert len(changed) == 21 and all(m.split()[:2] in (["tune", "lenet_fmnist"], ["final", "lenet_fmnist"])
                                      for _, m in changed[:-1])
    assert all(a.split()[5] == "3" and m.split()[5] == "7" for a, m in changed[:-1])
    bad = tmp_path / "bad.yaml"
    bad.write_text("studies:\n  lenet_fmnist:\n    batch_size: 5000\n")
    refused = vrdl_cli(["plan", "--configfile", quick, bad])
    assert refused.returncode == 2 and "studies.lenet_fmnist.batch_size: 5000" in refused.stderr


def test_train_says_what_it_does_first_and_shows_progress_inside_epochs(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(vrdl.train, "PROGRESS_SECONDS", 0.0)  # a progress line after every step
    run_cli(train_args(data_dir, tmp_path / "run.csv", epochs=1))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"vrdl train: sgd on fashion_mnist ({data_dir}), model lenet (bn off), device cpu: "
                        "loading the data")
    assert lines[1] == "vrdl train: 61,706 parameters, 300 training and 200 test samples, 1 epochs of batch 32"
    assert [line.split("  ")[0] for line in lines[2:12]] == [f"epoch 1/1: step {s}/10" for s in range(1, 11)]
    assert lines[12].startswith("epoch 1/1  grad_evals 300")
