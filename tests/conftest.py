import multiprocessing.process
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from senet_ablate.engine.trainer import Trainer
from senet_ablate.records.claims import Claim

# Under pytest-xdist (`make test`: one worker per CPU) every worker, and every process a test
# starts, computes on one thread: more threads than CPUs make torch's small CPU ops many times slower.
THREADS = 1 if "PYTEST_XDIST_WORKER" in os.environ else 2
if THREADS == 1:
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Dataset fingerprints are cached per user; tests (and the CLIs they start) keep theirs apart."""
    monkeypatch.setenv("SENET_ABLATE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


# The slow rule. `pytest -m 'not slow'` is the inner loop: it must skip every test that trains or
# starts a process. So, in a test not marked slow, these raise (and the test fails at teardown
# even where the code under test swallowed the error, or raised it in another thread):
#   - Trainer.fit: a run, through run_job, the CLI in this process or a Trainer (run_job itself
#     cannot be guarded: each test file holds its own reference to it, and a run_job that refuses
#     a config or skips a completed run trains nothing);
#   - subprocess.Popen (so subprocess.run, check_output and os.popen too), os.fork, os.system,
#     os.posix_spawn(p): a process (run_job's `git describe` for the record among them, so an
#     in-process run is refused before it reaches Trainer.fit);
#   - multiprocessing's Process.start, which covers torch.multiprocessing and DataLoader workers
#     (data.num_workers > 0): a worker is a process (forked here, spawned elsewhere), and the tests
#     that need one are about processes (their signals, their seeds), not about the inner loop.
# The error is a BaseException, as pytest.fail's is, so run_job's `except Exception` (which
# records a failed run) does not hide it. Checked per test in the process that runs it, so
# the rule holds under pytest-xdist as in one process.
SLOW_ONLY = "this test {what}: mark it @pytest.mark.slow (`pytest -m 'not slow'` is the inner loop)"


class StartsSlowWork(BaseException):
    """Raised where a test not marked slow trains or starts a process."""


def _refuse(found: list[str], what):
    """A stand-in that records and raises; `what(*args)` (or the string `what`) says what was tried."""

    def refused(*args, **kwargs):
        found.append(what(*args) if callable(what) else what)
        raise StartsSlowWork(SLOW_ONLY.format(what=found[-1]))

    return refused


def _command(popen, args, *rest) -> str:
    program = args if isinstance(args, str | bytes | os.PathLike) else " ".join(map(str, args[:3]))
    return f"starts a process (subprocess: {program})"


def _process(process) -> str:
    target = getattr(process, "_target", None)
    if getattr(target, "__module__", "").startswith("torch.utils.data"):
        return "starts a process (a DataLoader worker: data.num_workers > 0)"
    return f"starts a process (multiprocessing: {getattr(target, '__qualname__', process.name)})"


@pytest.fixture(autouse=True)
def _slow_rule(request, monkeypatch):
    if request.node.get_closest_marker("slow"):
        yield
        return
    found: list[str] = []
    monkeypatch.setattr(Trainer, "fit", _refuse(found, "trains (Trainer.fit)"))
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _refuse(found, _command))
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", _refuse(found, _process))
    for name in ("fork", "system", "posix_spawn", "posix_spawnp"):
        monkeypatch.setattr(os, name, _refuse(found, f"starts a process (os.{name})"))
    yield
    if found:
        pytest.fail(SLOW_ONLY.format(what="; ".join(dict.fromkeys(found))), pytrace=False)


@pytest.fixture
def signal_at_heartbeat(monkeypatch):
    """`signal_at_heartbeat(beat, signum)`: deliver `signum` to this process at the `beat`-th
    heartbeat of a run (one per training step on the CPU); `monkeypatch.undo()` stops it."""

    def arm(beat: int, signum: int) -> None:
        calls = []

        def beat_and_signal(self):
            calls.append(1)
            if len(calls) == beat:
                os.kill(os.getpid(), signum)

        monkeypatch.setattr(Claim, "beat", beat_and_signal)

    return arm


@pytest.fixture
def children_of():
    """`children_of(pid)`: the pids of the processes whose parent is `pid`, read from /proc."""

    def children(pid: int) -> list[int]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
        return found

    return children


@pytest.fixture
def make_read_only():
    """`make_read_only(folder)`: this process may read `folder` but not write into it: mode 0555
    for a user, a read-only bind mount for root (whom modes do not stop); skipped where root may
    not mount. Undone after the test."""
    undo = []

    def read_only(folder: Path) -> Path:
        if os.geteuid() != 0:
            folder.chmod(0o555)
            undo.append(lambda: folder.chmod(0o755))
            return folder
        mount = shutil.which("mount")
        if not mount or subprocess.run([mount, "--bind", folder, folder], capture_output=True).returncode:
            pytest.skip("no read-only folder: root ignores modes, and a bind mount is not permitted here")
        undo.append(lambda: subprocess.run(["umount", folder], check=True))
        subprocess.run([mount, "-o", "remount,bind,ro", folder], check=True, capture_output=True)
        return folder

    yield read_only
    for step in reversed(undo):
        step()
