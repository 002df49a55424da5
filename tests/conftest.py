import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

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
