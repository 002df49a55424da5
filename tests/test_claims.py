"""A run is trained by one process at a time, and a dead process's claim does not block it forever."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from senet_ablate.claims import Claim, claim_path, claim_run, read_claim
from senet_ablate.config import compose_config
from senet_ablate.engine.trainer import Trainer
from senet_ablate.run import run_job
from senet_ablate.store import iter_records

TINY = [
    "model=resnet20",
    "data=synthetic",
    "data.train_size=64",
    "data.val_size=32",
    "trainer=smoke",
    "trainer.epochs=1",
    "trainer.batch_size=32",
    "trainer.device=cpu",
    "trainer.progress=false",
]


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


def test_a_claim_whose_process_is_gone_on_this_host_is_taken_over(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _foreign_claim(tmp_path, "abc", host=socket.gethostname(), pid=int(finished.stdout))
    assert isinstance(claim_run(tmp_path, "abc"), Claim)


def test_a_run_claimed_elsewhere_is_not_trained_here(tmp_path, monkeypatch):
    cfg = compose_config([*TINY, f"results_dir={tmp_path}"])
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained a run another process holds"))
    real_claim_run = claim_run

    def held_by_node_7(runs_dir, run):
        _foreign_claim(runs_dir, run)
        return real_claim_run(runs_dir, run)

    monkeypatch.setattr("senet_ablate.run.claim_run", held_by_node_7)
    record = run_job(cfg)
    assert record["status"] == "running" and not list(iter_records(tmp_path))


def test_a_finished_run_releases_its_claim(tmp_path):
    record = run_job(compose_config([*TINY, f"results_dir={tmp_path}"]))
    assert record["status"] == "completed"
    assert not claim_path(tmp_path / "runs", record["run_id"]).exists()


def _sweep(results):
    args = ["+exp=reduction_sweep", *TINY, f"results_dir={results}"]
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
