"""The CLI under faults a user meets (issue 26): a second writer of one run, file-system errors
(read-only, disk full, no inodes, permissions), Ctrl-C, mistyped arguments, slow SVRG epochs'
ETAs, options that name someone else's file. Real `vrdl` processes, real files and file systems
(a private mount namespace for read-only mounts and small tmpfs), no mocks."""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.test_train import read_csv, train_args, without_wall_time
from vrdl import files

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def vrdl(args, **kwargs) -> list[str]:
    return [sys.executable, "-m", "vrdl.cli", *map(str, args)]


def run(args, prefix=(), **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, *vrdl(args)], capture_output=True, text=True, timeout=300, **kwargs)


def one_line_error(done: subprocess.CompletedProcess, command: str = "train") -> str:
    """The single line a failed command printed (exit 2, no traceback)."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"vrdl {command}: error: "), done.stderr
    return errors[0]


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.stat().st_size > 0):
        assert proc.poll() is None, f"the run ended before {path} appeared: make it longer"
        assert time.monotonic() < deadline, f"no {path} within {seconds} s"
        time.sleep(0.02)


def long_run(data_dir, out, **options):
    """A run that takes a few seconds and checkpoints after each of its epochs."""
    settings = dict(optimizer="svrg", lr=0.01, epochs=4, train_subset=3000, threads=1) | options
    return train_args(data_dir, out, **settings)


def killed_after_a_checkpoint(data_dir, out):
    """(its arguments, the process) of a long run SIGKILLed once its first checkpoint is written."""
    args = long_run(data_dir, out)
    killed = subprocess.Popen(vrdl(args), stderr=subprocess.DEVNULL)
    wait_for(out.with_suffix(".ckpt"), killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    return args, killed


# ---------------------------------------------------------------------------- one writer per run


def test_a_second_writer_of_a_run_is_refused_naming_the_holder(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    first = subprocess.Popen(vrdl(long_run(fashion_mnist_dir, out)), stderr=subprocess.PIPE, text=True)
    try:
        wait_for(out.with_suffix(".ckpt"), first)
        second = run(long_run(fashion_mnist_dir, out, lr=0.05))  # other settings, same --out
    finally:
        _, first_err = first.communicate(timeout=300)
    line = one_line_error(second)
    assert f"--out {out} is being written by another vrdl process ({first.pid}@{socket.gethostname()}" in line
    assert "wait for it to finish, or stop it" in line
    assert first.returncode == 0, first_err
    assert "set aside" not in first_err and "moved it" not in first_err  # the second touched nothing
    assert json.loads(out.with_suffix(".json").read_text())["hparams"]["lr"] == 0.01  # the first run's
    assert not files.lock_path(out).exists() and not out.with_suffix(".ckpt").exists()


def test_a_lock_left_by_a_killed_run_blocks_nothing(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    args, killed = killed_after_a_checkpoint(fashion_mnist_dir, out)
    assert files.lock_path(out).read_text() == f"{killed.pid}@{socket.gethostname()}\n"  # left behind

    done = run(args)
    assert done.returncode == 0 and "resuming from checkpoint" in done.stderr, done.stderr
    assert not files.lock_path(out).exists()


def test_train_grid_is_refused_while_another_process_writes_one_of_its_runs(fashion_mnist_dir, tmp_path):
    runs = [train_args(fashion_mnist_dir, tmp_path / f"r{f}.csv", epochs=1, folds=2, fold=f)[1:] for f in (0, 1)]
    spec = tmp_path / "grid.json"
    spec.write_text(json.dumps({"runs": [[str(a) for a in r] for r in runs]}))
    with files.one_writer([("--out", tmp_path / "r1.csv")]):  # this test process holds run 2's lock
        done = run(["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir])
    line = one_line_error(done, "train-grid")
    assert f"--out (run 2 of the spec) {tmp_path / 'r1.csv'} is being written by another vrdl process " \
           f"({os.getpid()}@{socket.gethostname()}" in line
    assert not (tmp_path / "r0.csv").exists()
    assert run(["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir]).returncode == 0  # released


# ---------------------------------------------------------------------------- file-system errors


def _namespaces_work() -> bool:
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"]
    try:
        return subprocess.run(probe, capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


needs_mounts = pytest.mark.skipif(not _namespaces_work(),
                                  reason="needs `unshare -rm` (user and mount namespaces) to mount test file systems")


def mounted(setup: str) -> list[str]:
    """A command prefix: run it in a private mount namespace after the shell commands `setup`."""
    return ["unshare", "-rm", "sh", "-c", f'{setup} && exec "$@"', "sh"]


def without_permission_override() -> list[str]:
    """A command prefix that makes file permissions apply, to root too (as they do to a user)."""
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


@needs_mounts
@pytest.mark.parametrize("mount,meaning", [
    ("size=4k", "the disk is full: free space on it or choose another location"),
    ("nr_inodes=3", "the file system has no free inodes: delete files there"),
])
def test_a_full_output_file_system_is_one_line_and_the_rerun_resumes(fashion_mnist_dir, tmp_path, mount, meaning):
    """The outputs' file system fills up while the run trains (checkpoints on another one): one
    line naming the file, the cause and the fix; the same command afterwards resumes."""
    results = tmp_path / "results"
    results.mkdir()
    out, checkpoint = results / "run.csv", tmp_path / "run.ckpt"
    args = long_run(fashion_mnist_dir, out, epochs=2, train_subset=300, checkpoint=checkpoint)
    done = run(args, prefix=mounted(f"mount -t tmpfs -o {mount} tmpfs {shlex.quote(str(results))}"))
    line = one_line_error(done)
    written = re.escape(str(results / "run."))  # RUN.csv, or its RUN.json where RUN.csv took the last inode
    assert re.search(rf"cannot write {written}(csv|json): No space left on device \({meaning}", line), line
    assert line.endswith("; then rerun the same command (it resumes where it stopped)")
    assert checkpoint.exists()  # epoch 1's

    again = run(args)  # the file system has room again (here: the directory under the mount)
    assert again.returncode == 0 and "resuming from checkpoint" in again.stderr, again.stderr
    assert len(read_csv(out)) == 3


@needs_mounts
def test_a_read_only_output_file_system_is_named_with_the_cause(fashion_mnist_dir, tmp_path):
    place = tmp_path / "ro"
    place.mkdir()
    out = place / "run.csv"
    done = run(long_run(fashion_mnist_dir, out, epochs=1, train_subset=300),
               prefix=mounted(f"mount --bind {place} {place} && mount -o remount,bind,ro {place}"))
    line = one_line_error(done)
    assert f"cannot write {place}: Read-only file system (a read-only file system: make it writable" in line


def test_an_unreadable_data_file_names_the_permission_not_damage(fashion_mnist_dir, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "fashion_mnist.pt").write_bytes((fashion_mnist_dir / "fashion_mnist.pt").read_bytes())
    (data_dir / "fashion_mnist.pt").chmod(0)
    done = run(train_args(data_dir, tmp_path / "run.csv"), prefix=without_permission_override())
    line = one_line_error(done)
    assert f"{data_dir / 'fashion_mnist.pt'}: Permission denied (permission denied: fix its permissions" in line
    assert "damaged" not in done.stderr and not (tmp_path / "run.csv").exists()


def test_an_unreadable_checkpoint_is_named_and_left_in_place(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    args, killed = killed_after_a_checkpoint(fashion_mnist_dir, out)
    checkpoint = out.with_suffix(".ckpt")
    checkpoint.chmod(0)
    line = one_line_error(run(args, prefix=without_permission_override()))
    assert f"{checkpoint}: Permission denied (permission denied: fix its permissions" in line
    assert checkpoint.exists() and not checkpoint.with_name("run.ckpt.rejected").exists()  # not moved aside
    checkpoint.chmod(0o644)
    again = run(args)
    assert again.returncode == 0 and "resuming from checkpoint" in again.stderr


@needs_mounts
def test_a_job_whose_log_cannot_be_written_ends_with_one_line(tmp_path):
    """The rule scripts' log (scripts/vrdl_env.py): a read-only logs/ is named, no traceback."""
    logs = tmp_path / "logs"
    logs.mkdir()
    code = ("import sys; sys.path.append(sys.argv[1]); from vrdl_env import run_logged; "
            "run_logged(['true'], sys.argv[2], 'vrdl train')")
    done = subprocess.run([*mounted(f"mount --bind {logs} {logs} && mount -o remount,bind,ro {logs}"),
                           sys.executable, "-c", code, str(SCRIPTS), str(logs / "job.log")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == (f"cannot write this job's log {logs / 'job.log'}: Read-only file system (a read-only "
                           "file system: make it writable or choose a writable location); then rerun snakemake\n")


# ---------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("command", ["train", "train-grid"])
def test_ctrl_c_is_one_line_exit_130_and_the_rerun_resumes(fashion_mnist_dir, tmp_path, command):
    reference = tmp_path / "reference.csv"
    assert run(long_run(fashion_mnist_dir, reference)).returncode == 0
    out = tmp_path / "run.csv"
    args = long_run(fashion_mnist_dir, out)
    checkpoint = out.with_suffix(".ckpt")
    if command == "train-grid":
        spec = tmp_path / "grid.json"
        spec.write_text(json.dumps({"runs": [[str(a) for a in args[1:]]]}))
        args = ["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir, "--threads", 1]  # the run's, grid-wide
        checkpoint = out.with_suffix(".grid.ckpt")
    interrupted = subprocess.Popen(vrdl(args), stderr=subprocess.PIPE, text=True)
    wait_for(checkpoint, interrupted)
    interrupted.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
    _, err = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130 and "Traceback" not in err, err
    epoch = re.fullmatch(rf"vrdl {command}: interrupted after epoch (\d); rerun the same command to resume",
                         err.splitlines()[-1])
    assert epoch and 1 <= int(epoch[1]) < 4, err
    assert not out.exists()

    done = run(args)
    assert done.returncode == 0 and f"from checkpoint {checkpoint} after epoch {epoch[1]}" in done.stderr
    if command == "train":  # the grid sums in another order (vmap): its own curves are compared in test_grid
        assert without_wall_time(read_csv(out)) == without_wall_time(read_csv(reference))


def test_ctrl_c_before_the_first_checkpoint_says_the_rerun_starts_again(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    proc = subprocess.Popen(vrdl(long_run(fashion_mnist_dir, out)), stderr=subprocess.PIPE, text=True)
    wait_for(files.lock_path(out), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.splitlines()[-1] == ("vrdl train: interrupted before the first epoch ended (no checkpoint yet); "
                                    "rerun the same command to start again")


# ---------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("change,message", [
    (dict(optimizer="sdg"), "vrdl train: error: argument --optimizer: invalid choice: 'sdg'"),
    (dict(optimizer="adam", lr=None), "vrdl train: error: --lr is required for --optimizer adam"),
])
def test_a_mistyped_argument_shows_the_commands_short_usage_and_one_line(fashion_mnist_dir, tmp_path, change,
                                                                         message):
    done = run(train_args(fashion_mnist_dir, tmp_path / "run.csv", **change))
    assert done.returncode == 2
    usage, error = done.stderr.splitlines()
    assert usage.startswith("usage: vrdl train --dataset DATASET --model MODEL --optimizer OPTIMIZER") and \
        usage.endswith("[OPTION ...] (vrdl train -h lists them)")
    assert error.startswith(message)


# ---------------------------------------------------------------------------- progress


def test_the_eta_of_an_svrg_epoch_is_timed_on_its_steps_not_its_snapshot_pass(fashion_mnist_dir, tmp_path):
    """A progress line after every step: the first one's ETA once counted the whole snapshot pass
    (as long as the epoch's steps) as one step, so it said about n_steps / 2 times too much."""
    out = tmp_path / "run.csv"
    code = ("import sys, vrdl.train; vrdl.train.PROGRESS_SECONDS = 0.0; from vrdl.cli import main; "
            "main(sys.argv[1:])")
    args = train_args(fashion_mnist_dir, out, optimizer="svrg", lr=0.01, epochs=1, batch_size=16, train_subset=3000,
                      threads=1)
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    first = re.search(r"step 1/188 .* eta (\d+)s", done.stderr)
    epoch_seconds = float(re.search(r"epoch 1/1 .* elapsed ([\d.]+)s", done.stderr)[1])
    assert first and int(first[1]) <= 3 * epoch_seconds + 1, done.stderr[:2000]


# ---------------------------------------------------------------------------- options that name other files


@pytest.mark.parametrize("name,content", [("notes.yaml", b"lr: 0.1\n"), ("fashion_mnist.pt", None)])
def test_a_checkpoint_option_naming_another_kind_of_file_is_refused_before_any_work(fashion_mnist_dir, tmp_path,
                                                                                    name, content):
    other = tmp_path / name
    other.write_bytes(content if content is not None else (fashion_mnist_dir / name).read_bytes())
    before = other.read_bytes()
    out = tmp_path / "run.csv"
    line = one_line_error(run(train_args(fashion_mnist_dir, out, checkpoint=other)))
    assert line == (f"vrdl train: error: --checkpoint {other} is an existing file that vrdl did not write (not a "
                    f"checkpoint): it is left as it is. Fix: choose another --checkpoint, or delete {other} if it "
                    "is not needed")
    assert other.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_an_out_option_naming_a_users_csv_is_refused(fashion_mnist_dir, tmp_path):
    mine = tmp_path / "measurements.csv"
    mine.write_text("a,b\n1,2\n")
    line = one_line_error(run(train_args(fashion_mnist_dir, mine)))
    assert f"--out {mine} is an existing file that vrdl did not write (not a run file)" in line
    assert "choose another --out" in line and mine.read_text() == "a,b\n1,2\n"


def test_a_grid_checkpoint_naming_another_kind_of_file_is_refused(fashion_mnist_dir, tmp_path):
    notes = tmp_path / "notes.yaml"
    notes.write_text("lr: 0.1\n")
    spec = tmp_path / "grid.json"
    spec.write_text(json.dumps({"runs": [[str(a) for a in train_args(fashion_mnist_dir, tmp_path / "r.csv",
                                                                    epochs=1)[1:]]]}))
    line = one_line_error(run(["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir, "--checkpoint", notes]),
                          "train-grid")
    assert f"--checkpoint {notes} is an existing file that vrdl did not write" in line
    assert notes.read_text() == "lr: 0.1\n" and not notes.with_name("notes.yaml.rejected").exists()


def test_a_rerun_over_its_own_outputs_is_not_refused(fashion_mnist_dir, tmp_path):
    out = tmp_path / "run.csv"
    for _ in range(2):
        done = run(train_args(fashion_mnist_dir, out, epochs=1, variance_epochs="1"))
        assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------- README's example


def test_readmes_runs_directory_is_ignored_by_git():
    """README's `vrdl train ... --out runs/svrg.csv` writes runs/ in the checkout: git ignores it, so
    `git status` stays clean (vrdl.provenance already counts only code paths as dirty)."""
    done = subprocess.run(["git", "check-ignore", "runs/svrg.csv", "runs/svrg.json"], cwd=REPO, capture_output=True,
                          text=True)
    assert done.stdout.split() == ["runs/svrg.csv", "runs/svrg.json"]


def test_an_oserror_that_has_its_errno_only_in_its_text_still_gets_its_fix():
    """pyarrow raises OSError("Failed to open local file 'x'. Detail: [errno 13] ...") with no errno."""
    err = OSError("Failed to open local file 'results/runs.parquet'. Detail: [errno 13] Permission denied")
    assert files.explain(err) == (f"{err} (permission denied: fix its permissions (chmod/chown) or choose a writable "
                                  "location)")


@pytest.mark.parametrize("option,value", [("--data-dir", "elsewhere"), ("--checkpoint", "run.ckpt"),
                                          ("--device", "cuda"), ("--threads", "3")])
def test_a_grid_spec_run_cannot_set_what_belongs_to_the_whole_grid(fashion_mnist_dir, tmp_path, option, value):
    """Once ignored: a run of the spec with its own data directory, device, checkpoint or threads."""
    runs = [train_args(fashion_mnist_dir, tmp_path / f"r{f}.csv", epochs=1, folds=2, fold=f)[1:] for f in (0, 1)]
    runs[1] += [option, str(tmp_path / value) if option != "--device" and option != "--threads" else value]
    spec = tmp_path / "grid.json"
    spec.write_text(json.dumps({"runs": [[str(a) for a in r] for r in runs]}))
    line = one_line_error(run(["train-grid", "--spec", spec, "--data-dir", fashion_mnist_dir]), "train-grid")
    assert f"run 2 of --spec {spec} gives {option} " in line and "give it to vrdl train-grid, not to a run" in line
    assert not (tmp_path / "r0.csv").exists()
