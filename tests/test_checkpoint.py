import logging
import os

import pytest
import torch

from senet_ablate.engine import checkpoint
from senet_ablate.engine.checkpoint import load_checkpoint, previous_path, save_checkpoint

CPU = torch.device("cpu")


def _state(epochs: int) -> dict:
    torch.manual_seed(epochs)
    return {"model": torch.nn.Linear(4, 3).state_dict(), "history": [{"epoch": e} for e in range(1, epochs + 1)]}


def _epochs(state):
    return None if state is None else len(state["history"])


def test_round_trip_and_the_previous_one_is_kept(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    loaded = load_checkpoint(path, CPU)
    torch.testing.assert_close(loaded["model"], _state(2)["model"])
    assert loaded["history"] == _state(2)["history"]
    assert _epochs(load_checkpoint(previous_path(path), CPU)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


@pytest.mark.parametrize(
    "damage,reason",
    [
        (lambda data: data[: len(data) // 2], "checksum mismatch"),
        (lambda data: data[:20], "truncated"),
        (lambda data: data[:-300] + bytes([data[-300] ^ 1]) + data[-299:], "checksum mismatch"),  # one bit, deep inside
        (lambda data: b"", "truncated"),
        (lambda data: os.urandom(len(data)), "no senet-ablate checkpoint header"),
    ],
    ids=["half", "header-only", "one-bit", "empty", "garbage"],
)
def test_a_damaged_newest_checkpoint_is_named_and_the_previous_one_used(tmp_path, caplog, damage, reason):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING):
        assert _epochs(load_checkpoint(path, CPU)) == 1
    (message,) = caplog.messages
    assert message.startswith(f"checkpoint {path} is damaged (") and reason in message
    assert message.endswith(f"; falling back to {previous_path(path)}")


def test_both_damaged_restart_from_scratch_with_both_named(tmp_path, caplog):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    for damaged in (path, previous_path(path)):
        damaged.write_bytes(damaged.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, CPU) is None
    assert str(path) in caplog.messages[0] and str(previous_path(path)) in caplog.messages[1]
    assert caplog.messages[1].endswith("restarting from scratch")


def test_a_checkpoint_without_our_header_is_damaged_not_a_traceback(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save(_state(1), path)  # what an older version wrote
    assert load_checkpoint(path, CPU) is None


def test_nothing_saved_yet_is_none(tmp_path):
    assert load_checkpoint(tmp_path / "checkpoint.pt", CPU) is None


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even `except Exception` blocks."""


@pytest.mark.parametrize("kill_at", [1, 2])  # the rename of the newest to previous, the rename of the new file
def test_a_kill_between_any_two_file_operations_leaves_a_good_checkpoint(tmp_path, monkeypatch, kill_at):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    real_replace, calls = os.replace, []

    def replace(source, target):
        calls.append(target)
        if len(calls) == kill_at:
            raise Killed
        real_replace(source, target)

    monkeypatch.setattr(checkpoint.os, "replace", replace)
    with pytest.raises(Killed):
        save_checkpoint(path, _state(3))
    monkeypatch.undo()
    assert _epochs(load_checkpoint(path, CPU)) == 2  # the newest complete one, never none


def test_temporary_files_of_a_killed_save_are_cleared_when_the_run_restarts(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    stale = tmp_path / ".checkpoint.pt.x1y2.tmp"  # what SIGKILL during the write leaves
    stale.write_bytes(b"half a checkpoint")
    assert _epochs(load_checkpoint(path, CPU)) == 1
    assert not stale.exists()
