"""Where each run of a sweep stands, read from the run records and claims in `results_dir` alone.

Nothing here asks a launcher: jobs on other nodes write their records and claims into the shared
results dir, so the same answer comes from the machine that submitted a SLURM sweep, from a
laptop sweep, or from `python -m senet_ablate.report` later.

A run's state is its record's status, refined by its claim:
- `pending`: no record and no live claim; nothing has started it.
- `running`: a live claim holds it (host, pid and a heartbeat younger than the stale limit),
  here or on another node; the record says how many epochs it has finished.
- `stopped`: the record says running but no live claim holds it: the process was killed
  (SIGKILL, node failure). The next start resumes from its last checkpoint.
- `interrupted`: stopped by a warning signal at a saved step; requeued or re-run, it resumes there.
- `completed`, `diverged` (final), `failed` (tried again on the next start).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf

from senet_ablate.claims import claim_path, is_dead, read_claim
from senet_ablate.config import compose_config, for_device, row_configs
from senet_ablate.data.fingerprint import dataset_fingerprint
from senet_ablate.engine.trainer import resolve_device
from senet_ablate.metrics import percent
from senet_ablate.store import RunRecord, read_record, record_path, run_id, runs_dir

STATES = ("pending", "running", "stopped", "interrupted", "completed", "failed", "diverged")


def live_holder(results_dir: str, run: str) -> dict | None:
    """The host, pid and heartbeat of the live claim on `run`, or None."""
    holder = read_claim(claim_path(runs_dir(results_dir), run))
    return None if is_dead(holder) else holder


def state_of(record: RunRecord | None, holder: dict | None) -> str:
    if holder is not None and (record is None or record["status"] not in ("completed", "diverged")):
        return "running"
    if record is None:
        return "pending"
    return "stopped" if record["status"] == "running" else record["status"]


@dataclass
class RunState:
    label: str | None
    seed: int
    run_id: str
    state: str  # one of STATES
    record: RunRecord | None
    holder: dict | None  # the live claim, while `running`

    def describe(self) -> str:
        """One line for a sweep's summary: row, seed, run id, state and what is known of it."""
        record = self.record or {}
        detail = ""
        if self.state == "completed":
            detail = f"top-1 err {percent(record['top1_err'])}  top-5 err {percent(record['top5_err'])}"
        elif self.state == "running":
            age = time.time() - self.holder["heartbeat"]
            epochs = len(record.get("epochs") or [])
            detail = (
                f"on {self.holder['host']} pid {self.holder['pid']}, heartbeat {age:.0f} s ago, {epochs} epochs done"
            )
        elif self.state == "interrupted":
            where = record["interrupted_at"]
            detail = f"by {where['signal']} at step {where['step']} of epoch {where['epoch']}; resumes there"
        elif self.state == "stopped":
            detail = f"no live claim after {len(record['epochs'])} epochs; resumes from its checkpoint"
        elif record.get("error"):
            detail = record["error"]
        return f"row {self.label!s:<12} seed {self.seed}  {self.run_id}  {self.state}" + (
            f"  ({detail})" if detail else ""
        )


def run_ids(cfg: DictConfig, leave_out: tuple[str, ...] = ()) -> list[str]:
    """The ids `cfg` may run under, the one for this machine first. `trainer.device=auto` resolves
    on the machine that runs the job (cuda on a GPU node, cpu on a login node): both are looked up.
    `leave_out`: keys left out of the ids as well (see `store.run_id`)."""
    fingerprint = dataset_fingerprint(cfg.data)
    devices = [resolve_device(cfg.trainer.device).type]
    if cfg.trainer.device == "auto":
        devices += [device for device in ("cuda", "cpu") if device not in devices]
    return [run_id(for_device(cfg, device), fingerprint, leave_out) for device in devices]


def run_state(cfg: DictConfig) -> RunState:
    """The state of the run of a (row) config, from its record and claim."""
    ids = run_ids(cfg)
    for run in ids:
        path = record_path(cfg.results_dir, run)
        record = read_record(path) if path.exists() else None
        holder = live_holder(cfg.results_dir, run)
        if record is not None or holder is not None:
            return RunState(cfg.exp.row, cfg.seed, run, state_of(record, holder), record, holder)
    return RunState(cfg.exp.row, cfg.seed, ids[0], "pending", None, None)


def sweep_configs(
    exp: str, seeds: Sequence[int], overrides: Sequence[str] = (), rows: Sequence[str] | None = None
) -> list[DictConfig]:
    """The config of every (row, seed) run of experiment `exp` under `overrides` (only `rows`, if
    given), in the file's order."""
    base = compose_config([f"+exp={exp}", *overrides])
    chosen = [row for row in row_configs(base) if rows is None or row.exp.row in rows]
    return [OmegaConf.merge(row, {"seed": seed}) for row in chosen for seed in seeds]


def sweep_states(
    exp: str, seeds: Sequence[int], overrides: Sequence[str] = (), rows: Sequence[str] | None = None
) -> list[RunState]:
    """Every (row, seed) run of experiment `exp` under `overrides` (only `rows`, if given), in the file's order."""
    return [run_state(cfg) for cfg in sweep_configs(exp, seeds, overrides, rows)]
