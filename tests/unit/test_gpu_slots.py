"""GPU slots without GPUs: which devices exist, exclusive slots, and slots the OS frees when
their holder is killed."""

import os
import signal
import subprocess
import sys
import time

import pytest

from vrdl import gpu_slots
from vrdl.gpu_slots import devices, for_job, try_acquire

FOUR = ["0", "1", "2", "3"]


def no_count():
    raise AssertionError("the device count must not be asked for here")


def test_devices_from_config_then_environment_then_count():
    env = {"CUDA_VISIBLE_DEVICES": "4,5"}
    assert devices(4, env, no_count) == FOUR  # compute.gpus: N wins over the environment
    assert devices([2, "GPU-ab12"], env, no_count) == ["2", "GPU-ab12"]
    assert devices(None, {"CUDA_VISIBLE_DEVICES": " 4, 5 ,6"}, no_count) == ["4", "5", "6"]
    assert devices(None, {"CUDA_VISIBLE_DEVICES": ""}, no_count) == []  # set but empty: none
    assert devices(None, {"CUDA_VISIBLE_DEVICES": "-1"}, no_count) == []  # CUDA's "hide all"
    assert devices(None, {"CUDA_VISIBLE_DEVICES": "1,-1,2"}, no_count) == ["1"]
    assert devices(None, {}, lambda: 3) == ["0", "1", "2"]
    assert devices(None, {}, lambda: 0) == []


def test_count_devices_works_without_a_gpu():
    assert gpu_slots.count_devices() >= 0


def test_lock_dir_is_overridable(tmp_path):
    assert gpu_slots.lock_dir({"VRDL_GPU_LOCK_DIR": str(tmp_path)}) == tmp_path
    assert gpu_slots.lock_dir({}).name == f"vrdl-gpu-slots-{os.getuid()}"


def test_slots_are_exclusive_and_first_free_first(tmp_path):
    held = [try_acquire(FOUR, 1, tmp_path) for _ in range(4)]
    assert [slot.visible for slot in held] == FOUR
    assert try_acquire(FOUR, 1, tmp_path) is None  # all four taken
    held[2].release()
    again = try_acquire(FOUR, 1, tmp_path)
    assert again.visible == "2"
    assert again.env({"PATH": "/bin"}) == {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "2"}


def test_several_gpus_per_job_all_or_nothing(tmp_path):
    first = try_acquire(FOUR, 1, tmp_path)
    pair = try_acquire(FOUR, 2, tmp_path)
    assert pair.visible == "1,2"
    assert try_acquire(FOUR, 2, tmp_path) is None
    # The failed attempt must not keep the one free slot it found.
    assert try_acquire(FOUR, 1, tmp_path).visible == "3"
    first.release()
    with pytest.raises(ValueError, match="compute.gpus_per_job"):
        gpu_slots.acquire(FOUR, 5, tmp_path)


def test_acquire_waits_for_a_slot_to_free(tmp_path):
    held = try_acquire(["0"], 1, tmp_path)
    notes = []

    def note(line):
        notes.append(line)
        held.release()  # the other job ends while this one waits

    slot = gpu_slots.acquire(["0"], 1, tmp_path, poll=0.01, on_wait=note)
    assert slot.visible == "0" and len(notes) == 1 and "waiting" in notes[0]


def test_for_job_leaves_the_environment_alone_where_it_should(tmp_path):
    notes = []
    kwargs = dict(configured=4, directory=tmp_path, log=notes.append)
    assert for_job(0, "auto", environ={}, **kwargs) is None  # gpus_per_job: 0
    assert for_job(1, "cpu", environ={}, **kwargs) is None  # compute.device: cpu
    slurm = {"SLURM_JOB_ID": "17", "CUDA_VISIBLE_DEVICES": "3"}
    assert for_job(1, "auto", environ=slurm, **kwargs) is None
    assert "SLURM" in notes[-1] and "CUDA_VISIBLE_DEVICES=3" in notes[-1]
    assert for_job(1, "auto", None, {"CUDA_VISIBLE_DEVICES": ""}, notes.append, tmp_path) is None
    assert "no CUDA device" in notes[-1]
    assert list(tmp_path.iterdir()) == []  # no slot was taken
    slot = for_job(1, "auto", environ={}, **kwargs)
    assert slot.visible == "0" and "CUDA_VISIBLE_DEVICES=0 held from" in notes[-1]
    slot.release(notes.append)
    assert "CUDA_VISIBLE_DEVICES=0 released at" in notes[-1]


HOLDER = """
import subprocess, sys, time
from vrdl.gpu_slots import try_acquire
slot = try_acquire(["0", "1", "2", "3"], 1, sys.argv[1])
child = None
if sys.argv[2] == "pass":  # as the rule scripts do: the training process gets the descriptor
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=slot.fds)
print(slot.visible, child.pid if child else "", flush=True)
time.sleep(60)
"""


def start_holder(lock_dir, mode):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_dir), mode], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    visible, _, child = proc.stdout.readline().strip().partition(" ")
    return proc, visible, int(child) if child else None


def slot_free(lock_dir, device):
    slot = try_acquire([device], 1, lock_dir)
    if slot is None:
        return False
    slot.release()
    return True


def wait_free(lock_dir, device, seconds=10):
    deadline = time.monotonic() + seconds
    while not slot_free(lock_dir, device):
        assert time.monotonic() < deadline, f"slot {device} still taken {seconds} s after its holder died"
        time.sleep(0.05)


def test_a_sigkilled_jobs_slot_is_free_again(tmp_path):
    proc, visible, _ = start_holder(tmp_path, "alone")
    assert visible == "0" and not slot_free(tmp_path, "0")
    assert try_acquire(FOUR, 1, tmp_path).visible == "1"  # another job takes the next slot
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_free(tmp_path, "0")


def test_the_slot_lives_as_long_as_the_training_process(tmp_path):
    """The job script killed while its training process still runs: the GPU is still in use,
    so the slot stays taken until that process ends too."""
    proc, visible, child = start_holder(tmp_path, "pass")
    try:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(0.2)
        assert not slot_free(tmp_path, visible)
    finally:
        os.kill(child, signal.SIGKILL)
    wait_free(tmp_path, visible)


@pytest.mark.parametrize("value", ["garbage", "0,gpu1", "cuda:0", "0;1"])
def test_a_visible_devices_value_that_names_no_device_is_refused(value):
    with pytest.raises(gpu_slots.SlotError) as err:
        devices(None, {"CUDA_VISIBLE_DEVICES": value}, no_count)
    message = str(err.value)
    assert message.startswith(f"CUDA_VISIBLE_DEVICES={value}: ") and "not a CUDA device" in message
    assert "CUDA_VISIBLE_DEVICES=0,1" in message and "\n" not in message
    with pytest.raises(gpu_slots.SlotError, match="compute.gpus: 'garbage' is not a CUDA device"):
        devices(["0", "garbage"], {}, no_count)


def test_uuids_and_mig_devices_are_devices():
    env = {"CUDA_VISIBLE_DEVICES": "GPU-8f6e2a1c-1b2d-4c3e-9f00-1234567890ab,MIG-GPU-8f6e2a1c/1/0"}
    assert devices(None, env, no_count) == env["CUDA_VISIBLE_DEVICES"].split(",")


@pytest.mark.parametrize("where", ["locks", "locks/sub"])
def test_a_lock_directory_that_cannot_be_written_is_named(tmp_path, where):
    from tests.unit.test_integrity import read_only

    (tmp_path / "locks").mkdir()
    with read_only(tmp_path / "locks"), pytest.raises(gpu_slots.SlotError) as err:
        try_acquire(FOUR, 1, tmp_path / where)
    assert f"cannot use GPU slot lock {'directory ' if where.endswith('sub') else ''}{tmp_path / where}" in str(
        err.value)
    assert "VRDL_GPU_LOCK_DIR" in str(err.value)
