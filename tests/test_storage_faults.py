"""Storage faults of a shared cluster: a full disk, a team's umask, a results dir nobody may write."""

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import SMALL, TINY

from senet_ablate.__main__ import check_command_line
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.engine import trainer as trainer_module
from senet_ablate.engine.checkpoint import load_checkpoint, save_checkpoint
from senet_ablate.records.claims import claim_run
from senet_ablate.records.store import new_record, write_record
from senet_ablate.runs.run import run_job

RUN = [*TINY, *SMALL, "trainer.epochs=3"]


def _disk_full_at(call: int, real):
    calls = []

    def write(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    return write


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_leaves_the_record_no_ahead_of_the_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "save_checkpoint", _disk_full_at(2, save_checkpoint))
    record = run_job(compose_config([*RUN, f"results_dir={tmp_path}"]))
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    (path,) = (tmp_path / "runs").glob("*.json")
    on_disk = json.loads(path.read_text())
    checkpoint = load_checkpoint(path.with_suffix("") / "checkpoint.pt", torch.device("cpu"))
    assert len(on_disk["epochs"]) == len(checkpoint["history"]) == 1  # epoch 2 was never saved


@pytest.mark.slow
def test_a_run_whose_final_record_cannot_be_written_does_not_count_as_completed(tmp_path, monkeypatch):
    def full_when_completed(path, record):
        if record["status"] == "completed":
            raise OSError(errno.ENOSPC, "No space left on device")
        write_record(path, record)

    monkeypatch.setattr("senet_ablate.runs.run.write_record", full_when_completed)
    record = run_job(compose_config([*RUN, f"results_dir={tmp_path}"]))
    assert record["status"] == "failed" and record["error"].startswith("record not written")
    (path,) = (tmp_path / "runs").glob("*.json")
    assert json.loads(path.read_text())["status"] == "running"  # what it said last: the next start looks again


@pytest.mark.parametrize(("umask", "mode"), [(0o002, 0o664), (0o022, 0o644), (0o077, 0o600)])
def test_records_checkpoints_and_claims_follow_the_umask(tmp_path, umask, mode):
    """A team sharing a results dir sets umask 002; mkstemp would have made every file 0600."""
    previous = os.umask(umask)
    try:
        write_record(tmp_path / "r.json", new_record(run_id="r", status="running", config={}, seed=0))
        save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})
        claim_run(tmp_path, "r")
    finally:
        os.umask(previous)
    for name in ("r.json", "checkpoint.pt", "r.claim"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_a_results_dir_that_is_a_file_is_one_line_before_anything_runs(tmp_path):
    taken = tmp_path / "results"
    taken.write_text("not a folder")
    with pytest.raises(ConfigError, match="results_dir=.* is not allowed: a directory to write into, but it is a file"):
        check_command_line([*RUN, f"results_dir={taken}"])


@pytest.mark.slow
def test_a_read_only_results_dir_is_one_line_with_exit_status_2(tmp_path, make_read_only):
    read_only_dir = make_read_only(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "senet_ablate", *RUN, f"results_dir={read_only_dir}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        f"error: results_dir='{read_only_dir}' is not allowed: cannot write there (Read-only file system): "
        "choose a directory you can write to"
        if os.geteuid() == 0
        else f"error: results_dir='{read_only_dir}' is not allowed: cannot write there (Permission denied): "
        "choose a directory you can write to"
    ]
    assert not list(Path(read_only_dir).iterdir())


@pytest.mark.slow
def test_a_claim_the_full_disk_refuses_is_one_line_and_leaves_no_claim(tmp_path):
    """The disk fills between the start's check and the claim: one line, exit 1, and no empty
    claim to hold the run for nobody; the same command then runs."""
    full_at_the_claim = (
        "import errno, runpy, sys\n"
        "from senet_ablate.records.claims import Claim\n"
        "def full(self): raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "Claim._write = full\n"
        "sys.argv = ['senet_ablate', *sys.argv[1:]]\n"
        "runpy.run_module('senet_ablate', run_name='__main__', alter_sys=True)\n"
    )
    args = [*RUN, "trainer.epochs=1", f"results_dir={tmp_path}"]
    result = subprocess.run(
        [sys.executable, "-c", full_at_the_claim, *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: cannot write under {tmp_path.resolve()}: [Errno 28] No space left on device"
    )
    assert not list((tmp_path / "runs").glob("*.claim"))
    rerun = subprocess.run([sys.executable, "-m", "senet_ablate", *args], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
