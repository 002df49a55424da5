import os
import signal

import pytest
from helpers import TINY

from senet_ablate.config import compose_config
from senet_ablate.engine.checkpoint import load_checkpoint
from senet_ablate.engine.preemption import StopSignals
from senet_ablate.records.store import runs_dir
from senet_ablate.runs.run import run_job

# 8 steps of 16 images per epoch, 2 epochs.
SMALL = ["data.train_size=128", "data.val_size=32", "trainer.batch_size=16", "trainer.epochs=2"]
RESULT_KEYS = ("train_loss", "train_top1_err", "val_loss", "top1_err", "top5_err", "val_images", "lr")


def _cfg(results_dir, *overrides):
    return compose_config([*TINY, *SMALL, f"results_dir={results_dir}", *overrides])


def _results(record):
    return [{key: epoch[key] for key in RESULT_KEYS} for epoch in record["epochs"]]


@pytest.mark.parametrize(
    ("signum", "overrides", "beat", "stopped_at"),
    [
        (signal.SIGUSR1, [], 3, {"epoch": 1, "step": 3}),  # mid-epoch, at the step the signal came
        # 16 steps of 8 images, an optimiser step every 3rd: never inside an accumulation
        (signal.SIGTERM, ["trainer.batch_size=8", "trainer.accumulate_steps=3"], 4, {"epoch": 1, "step": 6}),
        (signal.SIGUSR2, [], 10, {"epoch": 2, "step": 0}),  # in evaluation (8 steps, then 2 val batches): at its end
    ],
)
@pytest.mark.slow  # trains a run
def test_a_warning_signal_checkpoints_the_step_and_a_restart_ends_like_an_uninterrupted_run(
    tmp_path, monkeypatch, signal_at_heartbeat, signum, overrides, beat, stopped_at
):
    whole = run_job(_cfg(tmp_path / "whole", *overrides))
    assert whole["status"] == "completed"

    cfg = _cfg(tmp_path / "split", *overrides)
    signal_at_heartbeat(beat, signum)
    stopped = run_job(cfg)
    assert stopped["status"] == "interrupted"
    assert stopped["interrupted_at"] == {**stopped_at, "signal": signal.Signals(signum).name}
    assert len(stopped["epochs"]) == stopped_at["epoch"] - 1 and stopped["top1_err"] is None
    checkpoint = load_checkpoint(runs_dir(tmp_path / "split") / stopped["run_id"] / "checkpoint.pt", "cpu")
    assert (checkpoint["partial_epoch"] or {"step": 0})["step"] == stopped_at["step"]
    assert not list(runs_dir(tmp_path / "split").glob("*.claim"))  # given up for whoever resumes

    monkeypatch.undo()
    resumed = run_job(cfg)
    assert resumed["status"] == "completed" and resumed["run_id"] == whole["run_id"]
    assert _results(resumed) == _results(whole)  # bit for bit on the CPU
    assert (resumed["top1_err"], resumed["top5_err"]) == (whole["top1_err"], whole["top5_err"])


def test_stop_signals_are_noted_then_handed_to_their_previous_handler():
    received = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: received.append(signum))
    try:
        with StopSignals() as signals:
            os.kill(os.getpid(), signal.SIGUSR1)
            assert signals.requested and not received  # noted, not acted on, while training
        assert signal.getsignal(signal.SIGUSR1) is not signals._note
        signals.hand_over()
        assert received == [signal.SIGUSR1]  # e.g. submitit's handler, which requeues the job
    finally:
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.slow  # trains a run
def test_a_resumed_imagenet_ablation_run_makes_the_same_plateau_decisions(tmp_path, monkeypatch, signal_at_heartbeat):
    """Section 6's recipe (lr /10 at each val-loss plateau, at most 3 times) on a tiny run with
    patience 0 and 2 drops allowed, interrupted in epoch 3: the same lr per epoch and metrics."""
    recipe = ["trainer=imagenet_ablation", "trainer.plateau_patience=0", "trainer.plateau_drops=2"]
    overrides = [*recipe, "trainer.epochs=6", "trainer.label_smoothing=0.1"]
    whole = run_job(_cfg(tmp_path / "whole", *overrides))
    cfg = _cfg(tmp_path / "split", *overrides)
    signal_at_heartbeat(25, signal.SIGUSR1)  # 10 heartbeats per epoch: 8 steps, 2 validation batches
    assert run_job(cfg)["interrupted_at"]["epoch"] == 3
    monkeypatch.undo()
    resumed = run_job(cfg)
    lrs = [epoch["lr"] for epoch in whole["epochs"]]
    assert len(set(lrs)) == 3 and lrs[-1] == pytest.approx(lrs[0] / 100)  # two drops, then no lower
    assert _results(resumed) == _results(whole)  # lr per epoch included
