import hashlib
import io
import itertools
import logging
import os
import signal
from pathlib import Path

import pytest
import torch

from senet_ablate.engine.checkpoint import HEADER_BYTES, MAGIC, load_checkpoint, previous_path, save_checkpoint

CPU = torch.device("cpu")


def _state(epochs: int) -> dict:
    """A small trainer-like state whose weights and history both say which epoch it is from."""
    torch.manual_seed(epochs)
    return {
        "model": torch.nn.Linear(4, 3).state_dict(),
        "history": [{"epoch": e, "top1_err": 50.0 / e} for e in range(1, epochs + 1)],
    }


def _epochs(state: dict | None) -> int | None:
    return None if state is None else len(state["history"])


def _saved_twice(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    save_checkpoint(path, _state(2))
    return path


def _flip_middle_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def test_round_trip_restores_tensors_and_history(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(3))
    loaded = load_checkpoint(path, CPU)
    torch.testing.assert_close(loaded["model"], _state(3)["model"], rtol=0, atol=0)
    assert loaded["history"] == _state(3)["history"]
    assert all(tensor.device == CPU for tensor in loaded["model"].values())


def test_saves_keep_the_newest_and_the_previous_and_load_the_newest(tmp_path):
    path = _saved_twice(tmp_path)
    save_checkpoint(path, _state(3))
    assert _epochs(load_checkpoint(path, CPU)) == 3
    assert _epochs(load_checkpoint(previous_path(path), CPU)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


def test_the_file_is_magic_then_the_sha256_of_a_torch_save_payload(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    data = path.read_bytes()
    payload = data[HEADER_BYTES:]
    assert data[: len(MAGIC)] == MAGIC and data[len(MAGIC) : HEADER_BYTES] == hashlib.sha256(payload).digest()
    assert _epochs(torch.load(io.BytesIO(payload), weights_only=False)) == 1


@pytest.mark.parametrize(
    "damage,reason",
    [
        (lambda data: data[: len(data) // 2], "SHA-256 mismatch"),
        (lambda data: data[:20], "truncated: 20 bytes"),
        (lambda data: b"", "truncated: 0 bytes"),
        (_flip_middle_byte, "SHA-256 mismatch"),
        (lambda data: data[:-100] + bytes([data[-100] ^ 0x80]) + data[-99:], "SHA-256 mismatch"),
        (lambda data: bytes(range(256)) * 8, "no SENETCK1 header"),
        (lambda data: data[HEADER_BYTES:], "no SENETCK1 header"),  # what plain torch.save wrote
    ],
    ids=["half", "header-only", "empty", "middle-byte-flipped", "bit-near-the-end", "garbage", "plain-torch-save"],
)
def test_a_damaged_newest_is_named_with_its_reason_and_the_previous_one_loaded(tmp_path, caplog, damage, reason):
    path = _saved_twice(tmp_path)
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING):
        assert _epochs(load_checkpoint(path, CPU)) == 1
    (message,) = caplog.messages
    assert message.startswith(f"checkpoint {path} is damaged (") and reason in message
    assert message.endswith(f"); falling back to {previous_path(path)}")


def test_both_damaged_restarts_from_scratch_naming_both(tmp_path, caplog):
    path = _saved_twice(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    previous_path(path).write_bytes(_flip_middle_byte(previous_path(path).read_bytes()))
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, CPU) is None
    first, second = caplog.messages
    assert first.startswith(f"checkpoint {path} is damaged") and first.endswith(
        f"falling back to {previous_path(path)}"
    )
    assert second.startswith(f"checkpoint {previous_path(path)} is damaged") and second.endswith(
        "restarting from scratch"
    )


def test_only_a_plain_torch_save_file_restarts_from_scratch_with_a_warning(tmp_path, caplog):
    path = tmp_path / "checkpoint.pt"
    torch.save(_state(1), path)  # what versions before the header wrote
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, CPU) is None
    (message,) = caplog.messages
    assert f"checkpoint {path} is damaged (no SENETCK1 header" in message and message.endswith(
        "restarting from scratch"
    )


def test_a_missing_newest_loads_the_previous_one(tmp_path, caplog):
    path = _saved_twice(tmp_path)
    path.unlink()
    with caplog.at_level(logging.INFO):
        assert _epochs(load_checkpoint(path, CPU)) == 1
    (message,) = caplog.messages
    assert f"checkpoint {path} is missing" in message and message.endswith(f"using {previous_path(path)}")


def test_nothing_saved_yet_is_none_without_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        assert load_checkpoint(tmp_path / "checkpoint.pt", CPU) is None
    assert caplog.messages == []


def test_temporary_files_of_a_killed_save_are_cleared_when_the_run_restarts(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    stale = tmp_path / ".checkpoint.pt.x1y2.tmp"  # what a SIGKILL during the write leaves
    stale.write_bytes(b"half a checkpoint")
    assert _epochs(load_checkpoint(path, CPU)) == 1
    assert not stale.exists()


def _save_killed_at(path: Path, state: dict, step: int) -> bool:
    """Save in a forked child that SIGKILLs itself at its `step`-th file operation: the write (killed
    half-way through it) or a rename (killed just before it). True if killed, False if the save finished.

    A real SIGKILL, not an exception: no `finally` or `except` of the save runs after it."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            operations, real_replace, real_write = itertools.count(1), os.replace, Path.write_bytes

            def replace(source, target):
                if next(operations) == step:
                    os.kill(os.getpid(), signal.SIGKILL)
                real_replace(source, target)

            def write_bytes(self, data):
                if next(operations) == step:
                    real_write(self, data[: len(data) // 2])
                    os.kill(os.getpid(), signal.SIGKILL)
                return real_write(self, data)

            os.replace, Path.write_bytes = replace, write_bytes  # only in this child
            save_checkpoint(path, state)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    assert os.WEXITSTATUS(status) == 0, "the save failed in the child"
    return False


def _one_good(directory: Path) -> Path:
    path = directory / "checkpoint.pt"
    save_checkpoint(path, _state(1))
    return path


def _newest_damaged(directory: Path) -> Path:
    path = _saved_twice(directory)
    path.write_bytes(_flip_middle_byte(path.read_bytes()))
    return path


def _newest_missing(directory: Path) -> Path:  # as a save killed between its renames leaves it
    path = _saved_twice(directory)
    os.replace(path, previous_path(path))
    return path


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize(
    "setup,operations",
    [(_saved_twice, 3), (_one_good, 3), (_newest_damaged, 2), (_newest_missing, 2)],
    ids=["two-good", "one-good", "newest-damaged", "newest-missing"],
)
@pytest.mark.slow  # forks a process to kill
def test_a_kill_at_any_step_of_a_save_leaves_a_good_checkpoint(tmp_path, caplog, setup, operations):
    """Killed: the checkpoint the run resumed from still loads. Finished: it is kept as the previous one."""
    for step in itertools.count(1):
        path = setup(tmp_path / f"kill-at-{step}")
        resumed = _epochs(load_checkpoint(path, CPU))
        if not _save_killed_at(path, _state(resumed + 1), step):
            break
        assert _epochs(load_checkpoint(path, CPU)) == resumed, f"killed at operation {step}"
    assert step == operations + 1, "the save did a different number of file operations than expected"
    assert _epochs(load_checkpoint(path, CPU)) == resumed + 1
    assert _epochs(load_checkpoint(previous_path(path), CPU)) == resumed
