"""One claim per run id, so that two sweeps, or two nodes sharing a results dir, never train the
same run at the same time.

A claim is the file `<results_dir>/runs/<run_id>.claim`, created with O_CREAT | O_EXCL (atomic,
on NFS too), holding the claimant's host, pid, boot id, pid namespace and start time
(`processes.py`), a token of its own and a heartbeat time that it refreshes while it trains.
Another process that finds the claim leaves the run alone unless it can show the claim dead. What
one look proves (`look`):
- dead: its process is gone, or its pid now belongs to another process, and the claim was made in
  our own boot and pid namespace (a hostname alone proves nothing: containers share one);
- dead: made in our boot (the same kernel, the same clock), with a heartbeat more than
  `stale_after_s()` old (default 10 minutes; env SENET_ABLATE_CLAIM_STALE_S): its process is
  suspended or hung;
- live: made in our boot and pid namespace by a process that still runs, its heartbeat fresh.
Anything else (another machine, another pid namespace, a claim without these fields from an older
version, a machine without /proc) cannot be judged by comparing clocks: a node whose clock runs 11
minutes behind, or a year ahead, writes heartbeats that look that old, or that new. Such a claim is
watched (`_watch`), with our own monotonic clock: it is live as soon as its heartbeat changes, and
dead once it has not changed for `stale_after_s()` of our watching. A requeued job that finds the
claim of its dead node thus waits for it to go stale, unless it can prove the holder dead at once,
and says in one line which happened. A SLURM requeue of the same job id proves nothing: SLURM
requeues the job of a node it cannot reach, which may still be training on the shared disk.

A claim that stays unreadable (empty, not JSON, fields of the wrong type) for UNWRITTEN_GRACE_S of
our own watching is dead too: a claimant writes its claim milliseconds after creating the file, so
one that stays empty was killed in between (or its disk was full). A dead claim is taken over by
renaming it away first, which only one of several contenders can do.

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
from senet_ablate.records.processes import identity, process_verdict, shares_our_clock

log = logging.getLogger(__name__)
HEARTBEAT_EVERY_S = 30.0
UNWRITTEN_GRACE_S = 2.0
LIVE, DEAD, UNKNOWN = "live", "dead", "unknown"  # what a look at a claim proves (see `look`)


def stale_after_s() -> float:
    return float(os.environ.get("SENET_ABLATE_CLAIM_STALE_S", 600))


def heartbeat_every_s() -> float:
    """HEARTBEAT_EVERY_S, or a quarter of a shorter stale limit: a live claim must never look stale."""
    return min(HEARTBEAT_EVERY_S, stale_after_s() / 4)


def claim_path(runs_dir: Path, run: str) -> Path:
    return runs_dir / f"{run}.claim"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_claim(path: Path) -> dict | None:
    """The holder of a claim (host, pid, heartbeat, token, and its identity if a version that writes
    one made it), or None if there is no readable claim: missing, not JSON, or a field missing or
    of the wrong type."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not (
        isinstance(holder, dict)
        and isinstance(holder.get("host"), str)
        and _is_int(holder.get("pid"))
        and _is_number(holder.get("heartbeat"))
        and isinstance(holder.get("token", ""), str)
        and all(isinstance(holder.get(key), (str, type(None))) for key in ("boot_id", "pid_ns"))
        and (holder.get("start_ticks") is None or _is_int(holder["start_ticks"]))
    ):
        return None
    return holder


def heartbeat_age_s(holder: dict) -> float:
    """Seconds since the holder's last heartbeat, by our clock (negative: its clock runs ahead of
    ours); meaningful only for a claim made under our own clock (`processes.shares_our_clock`)."""
    return time.time() - holder["heartbeat"]


def look(holder: dict) -> tuple[str, str]:
    """What one look at a readable claim proves: (LIVE or DEAD, why), or (UNKNOWN, why) when only
    watching its heartbeat can tell (see the module's docstring)."""
    alive, why = process_verdict(holder)
    if alive is False:
        return DEAD, f"{holder['host']} pid {holder['pid']}: {why}"
    if shares_our_clock(holder):
        age = heartbeat_age_s(holder)
        if abs(age) > stale_after_s():
            return DEAD, f"{holder['host']} pid {holder['pid']}: no heartbeat for {age:.0f} s (this machine's clock)"
        if alive:
            return LIVE, f"{holder['host']} pid {holder['pid']}: {why}, heartbeat {age:.0f} s ago"
    return UNKNOWN, f"{holder['host']} pid {holder['pid']}, {why}"


def looks_live(holder: dict) -> bool:
    """One look's best guess, for the status listing and the report, which cannot stop to watch:
    what `look` proves, else a heartbeat within the stale limit of our clock. Nothing is ever
    taken over on this guess: `claim_run` watches."""
    verdict, _ = look(holder)
    if verdict == UNKNOWN:
        return abs(heartbeat_age_s(holder)) <= stale_after_s()
    return verdict == LIVE


def _watch(path: Path, holder: dict, run: str) -> tuple[str, str]:
    """Watch a claim that one look cannot judge, with our own monotonic clock: (LIVE, why) once its
    heartbeat changes, (DEAD, why) once it has not changed for `stale_after_s()` of our watching
    (or a look proves it either way meanwhile), or (UNKNOWN, "") if it was released or taken over
    by another claimant meanwhile: look again. Time this process spent stopped is not watching."""
    poll = min(1.0, stale_after_s() / 20)
    watched, last = 0.0, time.monotonic()
    verdict, why = look(holder)
    if verdict == UNKNOWN:
        log.info(
            "run %s is claimed by %s: watching its heartbeat for up to %.0f s before taking it over",
            run,
            why,
            stale_after_s(),
        )
    while verdict == UNKNOWN:
        if watched >= stale_after_s():
            return DEAD, f"{why}: its heartbeat did not change in {watched:.0f} s of watching"
        time.sleep(poll)
        now = time.monotonic()
        watched, last = watched + min(now - last, 2 * poll), now
        current = read_claim(path)
        if current is None or current.get("token") != holder.get("token"):
            return UNKNOWN, ""
        if current != holder:
            return LIVE, f"{why}: its heartbeat changed while we watched"
        verdict, why = look(holder)
    return verdict, why


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
        holder = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            **identity(),
            "heartbeat": self.last_beat,
            "token": self.token,
        }
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
            if holder is not None:
                verdict, why = _watch(path, holder, run)
                if verdict == UNKNOWN:
                    continue  # released or taken over while we watched
                if verdict == LIVE:
                    log.info("run %s is claimed by %s: left to it", run, why)
                    return holder
            else:
                why = f"unreadable for {UNWRITTEN_GRACE_S:.0f} s (empty, not JSON, or a field of the wrong type)"
            graveyard = path.with_name(f"{path.name}.dead.{socket.gethostname()}.{os.getpid()}")
            try:
                os.rename(path, graveyard)  # only one contender wins this rename
            except FileNotFoundError:
                continue
            log.warning("taking over the dead claim of %s: %s", run, why)
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
