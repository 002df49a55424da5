"""Every stop a cluster or a user sends ends a run the same way: at a step boundary, that step
saved, the record `interrupted`, exit status 5, and no traceback, with DataLoader workers alive."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from senet_ablate.base.stop_signals import ignore_stop_signals
from senet_ablate.data.build import OnDevice
from senet_ablate.engine.checkpoint import load_checkpoint
from senet_ablate.engine.preemption import StopSignals

# 2 epochs of 128 steps: long enough on one thread for the signal to land mid-epoch.
RUN = [
    "model=resnet20",
    "data=synthetic",
    "data.train_size=4096",
    "data.val_size=64",
    "trainer=smoke",
    "trainer.device=cpu",
    "trainer.epochs=2",
    "trainer.batch_size=32",
    "trainer.progress=false",
    "data.num_workers=2",
]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the loader workers through /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_to_the_whole_process_group_stops_at_a_step_and_saves_it(tmp_path, children_of, signum):
    """SLURM signals every process of the job step and Ctrl-C the terminal's process group: the
    loader workers get the signal too, and must not die of it before the run saves its step."""
    results = tmp_path / "results"
    run = subprocess.Popen(
        [sys.executable, "-m", "senet_ablate", *RUN, f"results_dir={results}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a job step or a terminal gives it
    )
    deadline = time.monotonic() + 300
    while len(children_of(run.pid)) < 2:  # the training loader's two workers are up: it trains
        assert run.poll() is None and time.monotonic() < deadline, "the run never started its workers"
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(run.pid, signum)
    output, _ = run.communicate(timeout=300)

    assert run.returncode == 5, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    (path,) = (results / "runs").glob("*.json")
    record = json.loads(path.read_text())
    stopped_at = record["interrupted_at"]
    assert record["status"] == "interrupted" and stopped_at["signal"] == signal.Signals(signum).name
    assert stopped_at["epoch"] == 1 and 0 < stopped_at["step"] < 128  # at a step, not at the epoch's end
    checkpoint = load_checkpoint(path.with_suffix("") / "checkpoint.pt", torch.device("cpu"))
    assert checkpoint["partial_epoch"]["step"] == stopped_at["step"]


def test_a_second_ctrl_c_stops_at_once_and_sigint_is_not_handed_to_python():
    before = signal.getsignal(signal.SIGINT)  # Python's default_int_handler, or SIG_IGN in a pytest-xdist worker
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.received == signal.SIGINT  # noted: the run goes on to its step boundary
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # again: the user means now
    assert signal.getsignal(signal.SIGINT) is before  # the handler it found is back
    signals.hand_over()  # Python's own SIGINT handler would raise KeyboardInterrupt here


def test_a_second_cluster_signal_does_not_change_which_one_counts():
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGTERM)
    assert signals.received == signal.SIGUSR2


@pytest.mark.slow  # starts a process
def test_a_loader_worker_ignores_every_stop_signal():
    """What `data.build` gives its DataLoader workers as worker_init_fn, run in a child process."""
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal, sys; from senet_ablate.base.stop_signals import ignore_stop_signals\n"
            "ignore_stop_signals()\n"
            "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2): os.kill(os.getpid(), s)\n"
            "print('alive')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0 and child.stdout.strip() == "alive", child.stderr


def _slow_start(worker_id: int) -> None:
    """A worker whose init comes late (imports, a busy node): the window a stop signal can hit."""
    time.sleep(1.0)
    ignore_stop_signals(worker_id)


@pytest.mark.slow  # starts a loader worker process
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the loader worker through /proc")
def test_a_stop_signal_that_reaches_a_worker_before_its_init_does_not_kill_it(children_of):
    dataset = TensorDataset(torch.arange(8.0), torch.arange(8))
    loader = DataLoader(dataset, batch_size=2, num_workers=1, worker_init_fn=_slow_start)
    signalled = []

    def signal_the_newborn_worker():
        deadline = time.monotonic() + 30
        while not signalled and time.monotonic() < deadline:
            for pid in children_of(os.getpid()):
                os.kill(pid, signal.SIGTERM)  # as SLURM does, to every process of the step
                signalled.append(pid)
            time.sleep(0.01)

    sender = threading.Thread(target=signal_the_newborn_worker)
    sender.start()
    batches = [images for images, _ in OnDevice(loader, torch.device("cpu"))]
    sender.join()
    assert signalled and torch.cat(batches).tolist() == list(range(8))  # the worker lived and served all
