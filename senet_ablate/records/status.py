"""Where each run of a sweep stands, read from the run records and claims in `results_dir` alone.

Nothing here asks a launcher: jobs on other nodes write their records and claims into the shared
results dir, so the same answer comes from the machine that submitted a SLURM sweep, from a
laptop sweep, or from `python -m senet_ablate.report` later. Which runs a sweep has (their ids
depend on the data's fingerprint and the device) is `runs/listing.py`'s.

A run's state is its record's status, refined by its claim:
- `pending`: no record; nothing has started it, or a claim holds it whose process has not
  written its first record yet (said with the holder in the summary's line). The report's table,
  which knows a run only by its record, says `pending` then too.
- `running`: a live claim holds it, here or on another node; the record says how many epochs it
  has finished.
- `stopped`: the record says running but no live claim holds it: the process was killed
  (SIGKILL, node failure). The next start resumes from its last checkpoint.
- `interrupted`: stopped by a warning signal at a saved step; requeued or re-run, it resumes there.
- `completed`, `diverged` (final), `failed` (tried again on the next start).

A claim is live here as far as one look can tell (`claims.looks_live`): the listing cannot stop
to watch a heartbeat, as a start that would take the run over does, so another machine's claim
is judged by its heartbeat's age on our clock. Such a claim is still named with the run (its
holder), live-looking or not, until a look proves it dead: a node whose clock runs behind may
hold it, and the next start will watch it and tell.
"""

import time
from dataclasses import dataclass

from senet_ablate.base.metrics import percent
from senet_ablate.records.claims import DEAD, claim_path, look, looks_live, read_claim
from senet_ablate.records.store import FINAL_STATUSES, STATUSES, RunRecord, runs_dir

# A run's state: its record's status (store.STATUSES), or `pending` (no record) or
# `stopped` (a record that says running with no live claim: killed).
STATES = ("pending", "stopped", *STATUSES)


def claim_holder(results_dir: str, run: str) -> dict | None:
    """The host, pid and heartbeat of the claim on `run`, unless there is none or a look proves it dead."""
    holder = read_claim(claim_path(runs_dir(results_dir), run))
    return holder if holder is not None and look(holder)[0] != DEAD else None


def live_holder(results_dir: str, run: str) -> dict | None:
    """The host, pid and heartbeat of the claim on `run` if it looks live, or None."""
    holder = claim_holder(results_dir, run)
    return holder if holder is not None and looks_live(holder) else None


def state_of(record: RunRecord | None, holder: dict | None) -> str:
    """The state of a run from its record and the claim on it (`claim_holder`), if any."""
    if record is None:
        return "pending"
    if holder is not None and looks_live(holder) and record["status"] not in FINAL_STATUSES:
        return "running"
    return "stopped" if record["status"] == "running" else record["status"]


@dataclass
class RunState:
    label: str | None
    seed: int
    run_id: str
    state: str  # one of STATES
    record: RunRecord | None
    holder: dict | None  # the claim on the run, if one that no look proves dead holds it

    def where(self) -> str:
        """The holder of the run's claim: host, pid and its heartbeat's age by our clock."""
        age = time.time() - self.holder["heartbeat"]
        return f"{self.holder['host']} pid {self.holder['pid']}, heartbeat {age:.0f} s ago"

    def describe(self) -> str:
        """One line for a sweep's summary: row, seed, run id, state and what is known of it."""
        record = self.record or {}
        detail = ""
        if self.state == "completed":
            detail = f"top-1 err {percent(record['top1_err'])}  top-5 err {percent(record['top5_err'])}"
        elif self.state == "running":
            epochs = len(record.get("epochs") or [])
            detail = f"on {self.where()}, {epochs} epochs done"
        elif self.state == "pending" and self.holder is not None:
            detail = f"claimed on {self.where()}; no record yet"
        elif self.state == "interrupted":
            where = record["interrupted_at"]
            detail = f"by {where['signal']} at step {where['step']} of epoch {where['epoch']}; resumes there"
        elif self.state == "stopped" and self.holder is not None:
            detail = (
                f"after {len(record['epochs'])} epochs; its claim on {self.where()} looks dead by our clock: "
                "the next start watches it, and resumes from its checkpoint if it is"
            )
        elif self.state == "stopped":
            detail = f"no live claim after {len(record['epochs'])} epochs; resumes from its checkpoint"
        elif record.get("error"):
            detail = record["error"]
        return f"row {self.label!s:<12} seed {self.seed}  {self.run_id}  {self.state}" + (
            f"  ({detail})" if detail else ""
        )
