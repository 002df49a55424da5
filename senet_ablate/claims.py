"""One claim per run id, so that two sweeps, or two nodes sharing a results dir, never train the
same run at the same time.

A claim is the file `<results_dir>/runs/<run_id>.claim`, created with O_CREAT | O_EXCL (atomic,
on NFS too), holding the claimant's host, pid and a heartbeat time that it refreshes while it
trains. Another process that finds the claim leaves the run alone, unless the claim is dead:
its heartbeat is older than `stale_after_s` (default 10 minutes; env SENET_ABLATE_CLAIM_STALE_S),
or it was made on this host by a process that no longer exists. A dead claim is taken over by
renaming it away first, which only one of several contenders can do.
"""

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from senet_ablate.atomic import atomic_file

log = logging.getLogger(__name__)
HEARTBEAT_EVERY_S = 30.0


def stale_after_s() -> float:
    return float(os.environ.get("SENET_ABLATE_CLAIM_STALE_S", 600))


def claim_path(runs_dir: Path, run: str) -> Path:
    return runs_dir / f"{run}.claim"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def read_claim(path: Path) -> dict | None:
    """The holder of a claim (host, pid, heartbeat), or None if there is no readable claim."""
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) and {"host", "pid", "heartbeat"} <= set(holder) else None
    except (OSError, ValueError):
        return None


def is_dead(holder: dict | None) -> bool:
    """A claim nobody keeps: unreadable, its heartbeat too old, or its process gone on this host."""
    if holder is None:
        return True
    if time.time() - holder["heartbeat"] > stale_after_s():
        return True
    return holder["host"] == socket.gethostname() and not _pid_alive(holder["pid"])


@dataclass
class Claim:
    """This process's claim on a run; `beat` keeps it alive, `release` gives it up."""

    path: Path
    last_beat: float = 0.0

    def _write(self) -> None:
        self.last_beat = time.time()
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": self.last_beat}
        with atomic_file(self.path) as tmp:
            tmp.write_text(json.dumps(holder))

    def beat(self) -> None:
        """Refresh the heartbeat, at most every HEARTBEAT_EVERY_S (cheap enough to call every step)."""
        if time.time() - self.last_beat >= HEARTBEAT_EVERY_S:
            self._write()

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def claim_run(runs_dir: Path, run: str) -> Claim | dict:
    """Claim `run`: a Claim if this process may train it now, else the live holder's details."""
    path = claim_path(runs_dir, run)
    runs_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # a contender may take over or release between our steps: look again
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            holder = read_claim(path)
            if holder is None and time.time() - _mtime(path) < HEARTBEAT_EVERY_S:
                time.sleep(0.1)  # just created by a contender, not yet written: look again
                continue
            if not is_dead(holder):
                return holder
            graveyard = path.with_name(f"{path.name}.dead.{socket.gethostname()}.{os.getpid()}")
            try:
                os.rename(path, graveyard)  # only one contender wins this rename
            except FileNotFoundError:
                continue
            log.warning("taking over the dead claim of %s: %s", run, holder)
            graveyard.unlink(missing_ok=True)
            continue
        claim = Claim(path)
        claim._write()
        return claim
    holder = read_claim(path)
    return holder if holder is not None else {"host": "?", "pid": -1, "heartbeat": _mtime(path)}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
