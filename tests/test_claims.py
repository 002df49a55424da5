"""A run is trained by one process at a time, and a dead process's claim does not block it forever."""

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time

import pytest
from helpers import SMALL, TINY

from senet_ablate.config import compose_config
from senet_ablate.engine.trainer import Trainer
from senet_ablate.records.claims import Claim, claim_path, claim_run, read_claim
from senet_ablate.records.processes import boot_id, identity, pid_namespace
from senet_ablate.records.store import iter_records
from senet_ablate.runs.run import run_job

RUN = [*TINY, *SMALL, "trainer.epochs=1"]
NO_SUCH_PID = 2**22 - 1  # above any pid_max (4194304 at most): never a process
ANOTHER_NODE = {"boot_id": "another-boot", "pid_ns": "pid:[4026531836]", "start_ticks": 1234}


def _foreign_claim(tmp_path, run, **holder):
    """A claim of node-7 pid 4242 (with no boot id or pid namespace, as an older version wrote
    it), with `holder`'s fields instead; a beat now."""
    path = claim_path(tmp_path, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": "node-7", "pid": 4242, "heartbeat": time.time(), "token": "theirs", **holder}))
    return path


class WatchClock:
    """`time` as claims.py sees it, where sleeping takes no time: each sleep moves both our wall
    clock and our monotonic clock on, then runs `on_sleep` (e.g. a holder elsewhere beating)."""

    def __init__(self):
        self.slept = 0.0
        self.on_sleep = lambda: None

    def time(self):
        return time.time() + self.slept

    def monotonic(self):
        return time.monotonic() + self.slept

    def sleep(self, seconds):
        self.slept += seconds
        self.on_sleep()


@pytest.fixture
def clock(monkeypatch):
    watch = WatchClock()
    monkeypatch.setattr("senet_ablate.records.claims.time", watch)
    return watch


def beating(path, clock, behind_s=0.0):
    """A holder that refreshes its heartbeat at every sleep of ours, by its clock `behind_s` behind ours."""

    def beat():
        holder = json.loads(path.read_text())
        path.write_text(json.dumps({**holder, "heartbeat": clock.time() - behind_s}))

    return beat


def test_a_live_claim_is_left_alone_and_released_claims_can_be_taken(tmp_path):
    mine = claim_run(tmp_path, "abc")
    assert isinstance(mine, Claim)
    holder = claim_run(tmp_path, "abc")  # a second claimant, while this (live) process holds it
    assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
    mine.release()
    assert isinstance(claim_run(tmp_path, "abc"), Claim)


def test_a_stale_heartbeat_of_this_machines_clock_is_taken_over_at_once(tmp_path, clock):
    """A process of this boot (the same clock) that has not beaten for the stale limit: suspended or hung."""
    here = {"host": socket.gethostname(), "pid": os.getpid(), **identity()}
    _foreign_claim(tmp_path, "abc", heartbeat=time.time() - 601, **here)
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert read_claim(claim_path(tmp_path, "abc"))["token"] != "theirs" and clock.slept == 0
    _foreign_claim(tmp_path, "def", heartbeat=time.time() - 30, **here)
    assert claim_run(tmp_path, "def")["token"] == "theirs" and clock.slept == 0  # fresh, its process runs: honoured


@pytest.mark.slow  # starts a process (for a pid that is gone)
def test_a_claim_whose_process_is_gone_in_this_boot_and_pid_namespace_is_taken_over(tmp_path, clock):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    mine = identity()
    _foreign_claim(tmp_path, "abc", host=socket.gethostname(), pid=int(finished.stdout), **mine)
    assert isinstance(claim_run(tmp_path, "abc"), Claim) and clock.slept == 0


def test_a_run_claimed_elsewhere_is_not_trained_here(tmp_path, monkeypatch):
    cfg = compose_config([*RUN, f"results_dir={tmp_path}"])
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("trained a run another process holds"))
    real_claim_run = claim_run

    def held_by_a_live_process(runs_dir, run):
        _foreign_claim(runs_dir, run, host=socket.gethostname(), pid=os.getpid(), **identity())
        return real_claim_run(runs_dir, run)

    monkeypatch.setattr("senet_ablate.runs.run.claim_run", held_by_a_live_process)
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
    # the sweep that ends first may see the other still training a row: it exits 4, naming it
    assert sorted(sweep.returncode for sweep in sweeps) in ([0, 0], [0, 4]), outputs
    for sweep, output in zip(sweeps, outputs, strict=True):
        assert sweep.returncode == 0 or "did not finish here (row " in output, output[-3000:]
    trained = sum(output.count("epoch 1/1  lr") for output in outputs)
    assert trained == 6, outputs  # six rows, each trained by one of the two sweeps
    records = list(iter_records(tmp_path))
    assert len(records) == 6 and all(record["status"] == "completed" for record in records)
    assert not list((tmp_path / "runs").glob("*.claim"))


def test_a_heartbeat_far_in_the_future_is_dead_once_unchanged_for_the_stale_limit(tmp_path, clock, monkeypatch):
    """A node whose clock runs a year ahead would otherwise hold the run forever; beating, it is live."""
    monkeypatch.setenv("SENET_ABLATE_CLAIM_STALE_S", "60")
    _foreign_claim(tmp_path, "abc", heartbeat=time.time() + 365 * 86400, **ANOTHER_NODE)
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert 60 <= clock.slept <= 62  # watched for the stale limit, by our own clock
    path = _foreign_claim(tmp_path, "def", heartbeat=time.time() + 365 * 86400, **ANOTHER_NODE)
    clock.on_sleep = beating(path, clock, behind_s=-365 * 86400)
    assert claim_run(tmp_path, "def")["token"] == "theirs"


@pytest.mark.parametrize(
    "fields",
    [{"pid": "4242"}, {"heartbeat": "soon"}, {"host": None}, {"heartbeat": float("nan")}, {"token": 7}, None],
    ids=["pid-str", "heartbeat-str", "host-null", "heartbeat-nan", "token-int", "empty"],
)
def test_an_empty_claim_or_one_with_a_field_of_the_wrong_type_is_taken_over_once_it_stays_so(
    tmp_path, monkeypatch, fields
):
    """Empty: what a node whose disk filled as it wrote its claim leaves (None here)."""
    monkeypatch.setattr("senet_ablate.records.claims.UNWRITTEN_GRACE_S", 0.3)
    if fields is None:
        _foreign_claim(tmp_path, "abc").write_text("")
    else:
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


# --- claims that survive containers, clock drift and requeues ----------------------------------


def test_a_live_claim_from_another_pid_namespace_on_this_host_is_not_taken_over(tmp_path, clock, caplog):
    """Containers (and some SLURM setups) share a hostname, and one's pids mean nothing in another:
    a pid that is no process here proves nothing. Simulated namespace id; see the unshare test below."""
    path = _foreign_claim(
        tmp_path,
        "abc",
        host=socket.gethostname(),
        pid=NO_SUCH_PID,
        boot_id=boot_id(),
        pid_ns="pid:[4026599999]",
        start_ticks=1,
    )
    clock.on_sleep = beating(path, clock)
    with caplog.at_level(logging.INFO, logger="senet_ablate.records.claims"):
        held = claim_run(tmp_path, "abc")
    assert isinstance(held, dict) and read_claim(path)["token"] == "theirs"
    assert "in another pid namespace of this machine" in caplog.text and "left to it" in caplog.text


def test_a_claim_from_another_pid_namespace_that_stops_beating_is_dead_by_this_machines_clock(tmp_path, clock):
    """The same boot is the same wall clock: its heartbeat's age is exact, so watching ends at its stale limit."""
    _foreign_claim(
        tmp_path, "abc", host=socket.gethostname(), pid=NO_SUCH_PID, heartbeat=time.time() - 590, boot_id=boot_id()
    )
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert 10 <= clock.slept <= 12  # 600 s after its last beat, not 600 s of watching


HOLDER = """
import sys, time
from pathlib import Path
from senet_ablate.records.claims import claim_run
claim = claim_run(Path(sys.argv[1]), "abc")
print(claim.path.read_text(), flush=True)
while sys.stdin.readline():  # one beat per line the test sends
    claim.last_beat = 0.0
    claim.beat()
    print("beat", flush=True)
"""


def _unshare_pid() -> list[str] | None:
    prefix = ["unshare", "--pid", "--fork", "--mount-proc"]
    try:
        allowed = subprocess.run([*prefix, "true"], capture_output=True).returncode == 0
    except OSError:
        return None
    return prefix if allowed else None


@pytest.mark.slow  # starts a process in a pid namespace of its own
@pytest.mark.skipif(_unshare_pid() is None, reason="this user may not create a pid namespace (unshare)")
def test_a_live_claim_from_a_real_second_pid_namespace_on_this_host_is_not_taken_over(tmp_path, clock):
    """`unshare --pid`: the holder's pid (30000 in its namespace) is no process in ours."""
    inner = "echo 29999 > /proc/sys/kernel/ns_last_pid; " + f'"{sys.executable}" -c "$0" "$1"; exit $?'
    holder = subprocess.Popen(
        [*_unshare_pid(), "sh", "-c", inner, HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        written = json.loads(holder.stdout.readline())
        assert written["host"] == socket.gethostname() and written["pid_ns"] != pid_namespace()
        assert written["boot_id"] == boot_id() and not os.path.exists(f"/proc/{written['pid']}")

        def beat():
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.stdout.readline() == "beat\n"

        clock.on_sleep = beat
        held = claim_run(tmp_path, "abc")
        assert isinstance(held, dict) and held["token"] == written["token"]
        assert read_claim(claim_path(tmp_path, "abc"))["token"] == written["token"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_a_live_claim_from_a_node_whose_clock_runs_11_minutes_behind_is_not_taken_over(tmp_path, clock, caplog):
    path = _foreign_claim(tmp_path, "abc", heartbeat=time.time() - 660, **ANOTHER_NODE)
    clock.on_sleep = beating(path, clock, behind_s=660)
    with caplog.at_level(logging.INFO, logger="senet_ablate.records.claims"):
        held = claim_run(tmp_path, "abc")
    assert isinstance(held, dict) and read_claim(path)["token"] == "theirs"
    assert clock.slept <= 2 and "its heartbeat changed while we watched: left to it" in caplog.text


def test_a_dead_node_whose_clock_runs_behind_is_taken_over_after_the_stale_limit_of_watching(tmp_path, clock):
    _foreign_claim(tmp_path, "abc", heartbeat=time.time() - 660, **ANOTHER_NODE)
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert 600 <= clock.slept <= 602


def test_a_requeued_job_takes_over_at_once_the_claim_of_a_holder_provably_dead(tmp_path, clock, caplog):
    """Requeued onto the node that died and rebooted... or the same node, where the claim's pid is
    now another process's (its start time differs): dead, whatever its heartbeat, 30 s old here."""
    mine = identity()
    path = _foreign_claim(
        tmp_path,
        "abc",
        host=socket.gethostname(),
        pid=os.getpid(),
        heartbeat=time.time() - 30,
        **{**mine, "start_ticks": mine["start_ticks"] - 1},
    )
    with caplog.at_level(logging.INFO, logger="senet_ablate.records.claims"):
        assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert clock.slept == 0 and read_claim(path)["token"] != "theirs"
    (line,) = [record.getMessage() for record in caplog.records]
    assert line.startswith("taking over the dead claim of abc:") and "now belongs to another process" in line


def test_a_requeued_job_waits_for_the_claim_of_a_dead_node_to_go_stale_then_takes_it_over(tmp_path, clock, caplog):
    """Another node's claim, 30 s old: nothing proves it dead from here, so it is watched, not left."""
    path = _foreign_claim(tmp_path, "abc", heartbeat=time.time() - 30, **ANOTHER_NODE)
    with caplog.at_level(logging.INFO, logger="senet_ablate.records.claims"):
        assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert 600 <= clock.slept <= 602 and read_claim(path)["token"] != "theirs"
    watching, taken = [record.getMessage() for record in caplog.records]
    assert "on another machine (another boot id): watching its heartbeat for up to 600 s" in watching
    assert taken.startswith("taking over the dead claim of abc: node-7 pid 4242")
    assert re.search(r"its heartbeat did not change in 60[0-2] s of watching$", taken)  # a loaded machine: +1-2 s


@pytest.mark.parametrize("machine", ["older version", "no /proc"])
def test_a_claim_without_a_boot_id_is_never_taken_over_by_its_pid_alone(tmp_path, clock, monkeypatch, machine):
    """An older version's claim (host and pid only), or any claim where there is no /proc: a pid
    that is gone here proves nothing, so only its heartbeat, watched, can show it dead."""
    if machine == "no /proc":
        monkeypatch.setattr("senet_ablate.records.processes.boot_id", lambda: None)
        monkeypatch.setattr("senet_ablate.records.processes.pid_namespace", lambda: None)
    _foreign_claim(tmp_path, "abc", host=socket.gethostname(), pid=NO_SUCH_PID)
    assert isinstance(claim_run(tmp_path, "abc"), Claim)
    assert clock.slept >= 600


def test_a_claim_without_a_record_is_pending_in_the_summary_as_in_the_table(tmp_path):
    """The table knows a run by its record only: a run claimed before its first record is `pending`
    in both, and the summary's line names the holder."""
    from senet_ablate.records.store import runs_dir
    from senet_ablate.runs.listing import run_state

    cfg = compose_config([*RUN, f"results_dir={tmp_path}"])
    state = run_state(cfg)
    claim_run(runs_dir(tmp_path), state.run_id)  # held by this (live) process, which wrote no record yet
    state = run_state(cfg)
    assert state.state == "pending"
    assert f"claimed on {socket.gethostname()} pid {os.getpid()}, heartbeat 0 s ago; no record yet" in state.describe()


@pytest.mark.slow  # the sweep's report composes every experiment file (~20 s), though it starts no process
def test_a_sweep_whose_row_was_left_to_another_process_exits_4_naming_it(tmp_path, caplog):
    """Never exit 0 with a row untrained: the row held by another node (no record yet) is `pending`
    in the summary as in the table, and one line names its holder."""
    from omegaconf import OmegaConf

    from senet_ablate.runs.listing import sweep_states
    from senet_ablate.runs.sweep import SweepSummary

    overrides = [*RUN, f"results_dir={tmp_path}"]
    (relu,) = sweep_states("gate_sweep", [0], overrides, rows=["ReLU"])
    _foreign_claim(tmp_path / "runs", relu.run_id, heartbeat=time.time() - 30, **ANOTHER_NODE)
    task = ["+exp=gate_sweep", "exp.row=ReLU", *overrides]
    hydra = {"overrides": {"task": task}, "runtime": {"choices": {"exp": "gate_sweep"}}, "searchpath": []}
    config = OmegaConf.create(
        {
            "results_dir": str(tmp_path),
            "settle": {"max_seeds": 0},
            "hydra": {**hydra, "sweeper": {"params": {"seed": 0}}},
        }
    )
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as exited:
        SweepSummary().on_multirun_end(config)
    assert exited.value.code == 4
    (line,) = [record.getMessage() for record in caplog.records if "did not finish here" in record.getMessage()]
    assert line.startswith("1 of 1 runs of this sweep did not finish here (row ReLU seed 0 pending on node-7 pid 4242")
    table = (tmp_path / "gate_sweep.md").read_text().splitlines()
    assert any(row.startswith("| ReLU | pending |") for row in table), table


@pytest.mark.slow  # the sweep's report composes every experiment file (~20 s), though it starts no process
def test_a_sweep_whose_table_is_refused_says_why_in_one_line_and_exits_1(tmp_path, caplog):
    """A results dir holding a README.md the report did not write (a user's project folder): the
    sweep's table is refused, with one error line, not a traceback, and the file is left as it was."""
    from omegaconf import OmegaConf

    from senet_ablate.runs.sweep import SweepSummary

    (tmp_path / "README.md").write_text("# my project\n")
    task = ["+exp=gate_sweep", "exp.row=ReLU", *RUN, f"results_dir={tmp_path}"]
    hydra = {"overrides": {"task": task}, "runtime": {"choices": {"exp": "gate_sweep"}}, "searchpath": []}
    config = OmegaConf.create(
        {
            "results_dir": str(tmp_path),
            "settle": {"max_seeds": 0},
            "hydra": {**hydra, "sweeper": {"params": {"seed": 0}}},
        }
    )
    with caplog.at_level(logging.INFO), pytest.raises(SystemExit) as exited:
        SweepSummary().on_multirun_end(config)
    assert exited.value.code == 1
    (line,) = [record.getMessage() for record in caplog.records if "the table was not written" in record.getMessage()]
    assert "README.md, which the report did not write" in line
    assert (tmp_path / "README.md").read_text() == "# my project\n"
