"""A run is trained by one process at a time, and a dead process's claim does not block it forever."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from helpers import SMALL, TINY

from senet_ablate.config import compose_config
from senet_ablate.engine.trainer import Trainer
from senet_ablate.records.claims import Claim, claim_path, claim_run, read_claim
from senet_ablate.records.store import iter_records
from senet_ablate.runs.run import run_job

RUN = [*TINY, *SMALL, "trainer.epochs=1"]


def _foreign_claim(tmp_path, run, **holder):
    path = claim_path(tmp_path, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": "node-7", "pid": 4242, "heartbeat": time.time(), **holder}))


def test_a_live_claim_is_left_alone_and_released_claims_can_be_taken(tmp_path):
    mine = claim_run(tmp_path, "abc")
    assert isinstance(mine, Claim)
    holder = claim_run(tmp_path, "abc")  # a second claimant, while this (live) process holds it
    assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
    mine.release()
    assert isinstance(claim_run(tmp_path, "abc"), Claim)


def test_a_stale_heartbeat_is_taken_over(tmp_path, monkeypatch):
    _foreign_claim(tmp_path, "abc", heartbeat=time.time() - 601)
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert read_claim(claim_path(tmp_path, "abc"))["host"] == socket.gethostname()
    _foreign_claim(tmp_path, "def", heartbeat=time.time() - 30)
    monkeypatch.setenv("SENET_ABLATE_CLAIM_STALE_S", "60")
    assert claim_run(tmp_path, "def")["host"] == "node-7"  # fresh on another host: honoured


@pytest.mark.slow  # starts a process (for a pid that is gone)
def test_a_claim_whose_process_is_gone_on_this_host_is_taken_over(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _foreign_claim(tmp_path, "abc", host=socket.gethostname(), pid=int(finished.stdout))
    assert isinstance(claim_run(tmp_path, "abc"), Claim)


def test_a_run_claimed_elsewhere_is_not_trained_here(tmp_path, monkeypatch):
    cfg = compose_config([*RUN, f"results_dir={tmp_path}"])
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained a run another process holds"))
    real_claim_run = claim_run

    def held_by_node_7(runs_dir, run):
        _foreign_claim(runs_dir, run)
        return real_claim_run(runs_dir, run)

    monkeypatch.setattr("senet_ablate.runs.run.claim_run", held_by_node_7)
    record = run_job(cfg)
    assert record["status"] == "running" and not list(iter_records(tmp_path))


@pytest.mark.slow  # trains a run
def test_a_finished_run_releases_its_claim(tmp_path):
    record = run_job(compose_config([*RUN, f"results_dir={tmp_path}"]))
    assert record["status"] == "completed"
    assert not claim_path(tmp_path / "runs", record["run_id"]).exists()


def _sweep(results):
    args = ["+exp=reduction_sweep", *RUN, f"results_dir={results}"]
    return subprocess.Popen(
        [sys.executable, "-m", "senet_ablate", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.slow
def test_two_concurrent_sweeps_over_the_same_rows_train_each_row_once(tmp_path):
    sweeps = [_sweep(tmp_path), _sweep(tmp_path)]
    outputs = [sweep.communicate(timeout=600)[0] for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], outputs
    trained = sum(output.count("epoch 1/1  lr") for output in outputs)
    assert trained == 6, outputs  # six rows, each trained by one of the two sweeps
    records = list(iter_records(tmp_path))
    assert len(records) == 6 and all(record["status"] == "completed" for record in records)
    assert not list((tmp_path / "runs").glob("*.claim"))


def test_a_heartbeat_far_in_the_future_is_a_dead_claim_but_a_slightly_early_one_is_live(tmp_path, monkeypatch):
    """A node whose clock runs a year ahead would otherwise hold the run forever."""
    monkeypatch.setenv("SENET_ABLATE_CLAIM_STALE_S", "60")
    _foreign_claim(tmp_path, "abc", heartbeat=time.time() + 365 * 86400)
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    _foreign_claim(tmp_path, "def", heartbeat=time.time() + 30)  # within the stale limit: clocks drift a little
    assert claim_run(tmp_path, "def")["host"] == "node-7"


@pytest.mark.parametrize(
    "fields",
    [{"pid": "4242"}, {"heartbeat": "soon"}, {"host": None}, {"heartbeat": float("nan")}, {"token": 7}],
    ids=["pid-str", "heartbeat-str", "host-null", "heartbeat-nan", "token-int"],
)
def test_a_claim_with_a_field_of_the_wrong_type_is_unreadable_and_taken_over_once_it_stays_so(
    tmp_path, monkeypatch, fields
):
    monkeypatch.setattr("senet_ablate.records.claims.UNWRITTEN_GRACE_S", 0.3)
    _foreign_claim(tmp_path, "abc", **fields)
    assert read_claim(claim_path(tmp_path, "abc")) is None
    started = time.monotonic()
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert time.monotonic() - started >= 0.3  # it waited: a contender may have been about to write it


def test_a_claim_that_cannot_be_written_leaves_no_empty_claim_behind(tmp_path, monkeypatch):
    """A full disk: creating the file works (no data block needed), writing it does not."""

    def disk_full(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Claim, "_write", disk_full)
    with pytest.raises(OSError):
        claim_run(tmp_path, "abc")
    assert not claim_path(tmp_path, "abc").exists()
    monkeypatch.undo()
    started = time.monotonic()
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert time.monotonic() - started < 1  # not held up by an empty claim


def test_a_claim_taken_over_is_neither_refreshed_nor_released_by_its_old_holder(tmp_path):
    mine = claim_run(tmp_path, "abc")
    _foreign_claim(tmp_path, "abc", token="theirs")  # taken over while this process was suspended
    mine.last_beat = 0.0  # a heartbeat is due
    mine.beat()
    assert read_claim(claim_path(tmp_path, "abc"))["token"] == "theirs"
    assert not mine.owned() and mine.lost["host"] == "node-7"
    mine.release()
    assert read_claim(claim_path(tmp_path, "abc"))["token"] == "theirs"


@pytest.mark.slow
def test_a_run_whose_claim_was_taken_over_while_suspended_stops_without_writing(tmp_path, monkeypatch):
    """Ctrl-Z for longer than the stale limit, then `fg`: another start has taken the run over
    meanwhile. The old process must not write its checkpoint or record over the new holder's."""
    cfg = compose_config([*RUN, "trainer.epochs=2", "data.train_size=128", f"results_dir={tmp_path}"])
    beats = []

    def taken_over_at_the_third_beat(self):
        beats.append(1)
        if len(beats) == 3:
            _foreign_claim(self.path.parent, self.path.stem, token="theirs")

    monkeypatch.setattr(Claim, "beat", taken_over_at_the_third_beat)
    record = run_job(cfg)
    assert record["status"] == "running"  # left to the new holder: exit status 4
    (path,) = (tmp_path / "runs").glob("*.json")
    assert json.loads(path.read_text())["epochs"] == []  # its first epoch was never recorded
    assert not list((tmp_path / "runs").glob("*/checkpoint*.pt"))  # nor checkpointed
    assert read_claim(claim_path(tmp_path / "runs", record["run_id"]))["token"] == "theirs"
