"""One claim per run id, so that two sweeps, or two nodes sharing a results dir, never train the
same run at the same time.

A claim is the file `<results_dir>/runs/<run_id>.claim`, created with O_CREAT | O_EXCL (atomic,
on NFS too), holding the claimant's host, pid, a token of its own and a heartbeat time that it
refreshes while it trains. Another process that finds the claim leaves the run alone, unless
the claim is dead:
- its heartbeat is more than `stale_after_s` old (default 10 minutes; env
  SENET_ABLATE_CLAIM_STALE_S), or as far in the future: a node whose clock runs that far ahead
  cannot be told apart from a dead one, and would otherwise block the run forever;
- it was made on this host by a process that no longer exists;
- it stays unreadable (empty, not JSON, fields of the wrong type) for UNWRITTEN_GRACE_S of our
  own watching: a claimant writes its claim milliseconds after creating the file, so one that
  stays empty was killed in between (or its disk was full).
A dead claim is taken over by renaming it away first, which only one of several contenders can do.

A claimant can lose its claim without knowing: suspended (Ctrl-Z) or cut off for longer than the
stale limit, it finds on waking that another process has taken the run over. So a claim is only
refreshed, released or trusted after checking that the file still holds this claimant's token
(`Claim.owned`); the trainer checks before every checkpoint, and a run that lost its claim stops
without writing anything (`runs/run.py`).
"""

import json
import logging
import math
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from senet_ablate.base.atomic import atomic_file
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.shared_dir import make_dirs

log = logging.getLogger(__name__)
HEARTBEAT_EVERY_S = 30.0
UNWRITTEN_GRACE_S = 2.0


def stale_after_s() -> float:
    return float(os.environ.get("SENET_ABLATE_CLAIM_STALE_S", 600))


def heartbeat_every_s() -> float:
    """HEARTBEAT_EVERY_S, or a quarter of a shorter stale limit: a live claim must never look stale."""
    return min(HEARTBEAT_EVERY_S, stale_after_s() / 4)


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


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_claim(path: Path) -> dict | None:
    """The holder of a claim (host, pid, heartbeat, token), or None if there is no readable claim:
    missing, not JSON, or a field missing or of the wrong type."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not (
        isinstance(holder, dict)
        and isinstance(holder.get("host"), str)
        and isinstance(holder.get("pid"), int)
        and not isinstance(holder.get("pid"), bool)
        and _is_number(holder.get("heartbeat"))
        and isinstance(holder.get("token", ""), str)
    ):
        return None
    return holder


def heartbeat_age_s(holder: dict) -> float:
    """Seconds since the holder's last heartbeat, by our clock (negative: its clock runs ahead of ours)."""
    return time.time() - holder["heartbeat"]


def is_dead(holder: dict | None) -> bool:
    """A claim nobody keeps: unreadable, its heartbeat too old (or too far ahead), or its process
    gone on this host."""
    if holder is None:
        return True
    if abs(heartbeat_age_s(holder)) > stale_after_s():
        return True
    return holder["host"] == socket.gethostname() and not _pid_alive(holder["pid"])


@dataclass
class Claim:
    """This process's claim on a run; `beat` keeps it alive, `release` gives it up. `lost` is
    set (to whoever holds it now) once another process has taken it over."""

    path: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    last_beat: float = 0.0
    lost: dict | None = None

    def _write(self) -> None:
        self.last_beat = time.time()
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": self.last_beat, "token": self.token}
        with atomic_file(self.path) as tmp:
            tmp.write_text(json.dumps(holder))

    def owned(self) -> bool:
        """Whether the claim file still holds this claimant's token; if not, note who has it now."""
        if self.lost is None:
            holder = read_claim(self.path)
            if holder is None or holder.get("token") != self.token:
                self.lost = holder or {"host": "?", "pid": -1, "heartbeat": time.time()}
        return self.lost is None

    def beat(self) -> None:
        """Refresh the heartbeat, at most every `heartbeat_every_s()` (cheap enough to call every step),
        unless another process has taken the claim over meanwhile."""
        if self.lost is None and time.time() - self.last_beat >= heartbeat_every_s() and self.owned():
            self._write()

    def release(self) -> None:
        """Give the claim up, if it is still ours: a claim taken over belongs to its new holder."""
        if self.owned():
            self.path.unlink(missing_ok=True)


def claim_run(runs_dir: Path, run: str) -> Claim | dict:
    """Claim `run`: a Claim if this process may train it now, else the live holder's details."""
    path = claim_path(runs_dir, run)
    make_dirs(runs_dir)
    unreadable_since = None
    for _ in range(100):  # a contender may take over or release between our steps: look again
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            if path.is_dir() and not path.is_symlink():  # never a claim of ours: no run would ever take it
                raise ConfigError(
                    "results_dir",
                    str(runs_dir.parent),
                    f"{path} is a folder, where the claim file of run {run} goes: remove it (rmdir) and run again",
                ) from None
            holder = read_claim(path)
            if holder is None and path.exists():
                unreadable_since = unreadable_since or time.monotonic()
                if time.monotonic() - unreadable_since < UNWRITTEN_GRACE_S:
                    time.sleep(0.1)  # just created by a contender, not yet written: look again
                    continue
            if not is_dead(holder):
                return holder
            graveyard = path.with_name(f"{path.name}.dead.{socket.gethostname()}.{os.getpid()}")
            try:
                os.rename(path, graveyard)  # only one contender wins this rename
            except FileNotFoundError:
                continue
            log.warning("taking over the dead claim of %s: %s", run, _why_dead(holder))
            graveyard.unlink(missing_ok=True)
            continue
        claim = Claim(path)
        try:
            claim._write()
        except BaseException:
            path.unlink(missing_ok=True)  # an empty claim would hold the run for nobody
            raise
        return claim
    holder = read_claim(path)
    return holder if holder is not None else {"host": "?", "pid": -1, "heartbeat": time.time()}


def _why_dead(holder: dict | None) -> str:
    if holder is None:
        return f"unreadable for {UNWRITTEN_GRACE_S:.0f} s (empty, not JSON, or a field of the wrong type)"
    age = heartbeat_age_s(holder)
    if age < -stale_after_s():
        return f"{holder['host']} pid {holder['pid']}, heartbeat {-age:.0f} s in the future (its clock runs ahead)"
    if age > stale_after_s():
        return f"{holder['host']} pid {holder['pid']}, heartbeat {age:.0f} s ago"
    return f"{holder['host']} pid {holder['pid']}, no such process on this host"
