"""Run records: one JSON file per run, `<results_dir>/runs/<run_id>.json`, written atomically.

A record is plain JSON so that any tool can read it; `RunRecord` is its one schema, shared by
the run, the reporter and the tests. The reporter reads only these files and the experiment files.
"""

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

from omegaconf import DictConfig, OmegaConf

from senet_ablate.atomic import atomic_file

log = logging.getLogger(__name__)

STATUSES = ("running", "interrupted", "completed", "failed", "diverged")
# The keys left out of a run's identity: they choose where a run's files go, where its data is
# read from and how it is watched, none of which can change what it computes. `exp` names the
# table that asked for a run, so one run is shared by every table that needs it. `data.root`
# may move: the data's *content* is in the id through `data_fingerprint` instead.
# `data.num_workers` cannot change a result because augmentations are seeded per image.
RUNTIME_KEYS = (
    "results_dir",
    "exp",
    "logger",
    "data.root",
    "data.download",
    "data.num_workers",
    "trainer.progress",
)


class RunRecord(TypedDict):
    run_id: str  # run_id(config, data_fingerprint)
    status: str  # one of STATUSES; `completed` only once the last epoch has been evaluated
    exp: str | None  # the experiment file and row that asked for the run (null outside a sweep)
    label: str | None
    seed: int
    config: dict  # resolved; `trainer.device` is the device type the run used (cpu | cuda)
    data_fingerprint: str | None  # content of the dataset (data/fingerprint.py), not its path
    lr: float | None  # peak lr used, as resolved (typed, or from a preset's linear rule)
    effective_batch: int | None  # images per optimiser step: batch_size x accumulate_steps
    epochs: list[dict]  # metrics of every finished epoch
    top1_err: float | None  # final, %
    top5_err: float | None
    params_m: float | None
    gflops: float | None
    wall_time_s: float | None
    images_per_s: float | None
    skipped_images: int  # unreadable images skipped over the whole run (data.skip_corrupt)
    diverged_at: dict | None  # {"epoch", "step"} of the first non-finite loss
    interrupted_at: dict | None  # {"epoch", "step", "signal"} where a warning signal stopped the run
    error: str | None  # why a failed or diverged run stopped
    env: dict  # versions, device and code version
    started_at: str | None
    updated_at: str | None


_EMPTY: dict[str, Any] = {"epochs": [], "skipped_images": 0}


def new_record(**fields: Any) -> RunRecord:
    """A complete record: every field of RunRecord, `fields` over empty defaults; unknown names refused."""
    unknown = set(fields) - set(RunRecord.__annotations__)
    if unknown:
        raise TypeError(f"not fields of RunRecord: {sorted(unknown)}")
    defaults = {name: _EMPTY.get(name) for name in RunRecord.__annotations__}
    return RunRecord(**{**defaults, **fields})


def config_dict(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def run_id(cfg: DictConfig, data_fingerprint: str | None) -> str:
    """16 hex digits of the SHA-256 of the config without RUNTIME_KEYS, plus the data's fingerprint."""
    identity = config_dict(cfg)
    for dotted in RUNTIME_KEYS:
        *parents, leaf = dotted.split(".")
        node = identity
        for parent in parents:
            node = node.get(parent, {})
        node.pop(leaf, None)
    identity["data_fingerprint"] = data_fingerprint
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def runs_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: str | Path, run: str) -> Path:
    return runs_dir(results_dir) / f"{run}.json"


def write_record(path: Path, record: RunRecord) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_record(path: Path) -> RunRecord | None:
    """The record at `path` (fields it lacks, from older versions, empty), or None with a warning
    naming the file if it is damaged."""
    try:
        on_disk = json.loads(Path(path).read_text())
        if not isinstance(on_disk, dict) or on_disk.get("status") not in STATUSES or "config" not in on_disk:
            raise ValueError("not a run record")
        return new_record(**{key: value for key, value in on_disk.items() if key in RunRecord.__annotations__})
    except (OSError, ValueError) as error:
        log.warning("skipping damaged run record %s: %s", path, error)
        return None


def iter_records(results_dir: str | Path) -> Iterator[RunRecord]:
    """Every readable record under `<results_dir>/runs/`, in file-name order."""
    for path in sorted(runs_dir(results_dir).glob("*.json")):
        record = read_record(path)
        if record is not None:
            yield record
