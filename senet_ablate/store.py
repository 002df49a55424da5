"""Run records: one JSON file per run, `<results_dir>/runs/<run_id>.json`, written atomically.

A record is plain JSON so that any tool can read it. Fields:
  run_id      stable hash of the resolved config minus runtime-only keys (RUNTIME_KEYS)
  status      running | completed | failed | diverged
  exp, label  the experiment file and row that asked for the run (null outside a sweep)
  seed, config (resolved), epochs (one dict of metrics per finished epoch)
  top1_err, top5_err (final, %), params_m, gflops, wall_time_s, images_per_s
  error       why a failed or diverged run stopped
  env         versions, device and code version
The reporter reads only these files and the experiment files.
"""

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from senet_ablate.atomic import atomic_file

log = logging.getLogger(__name__)

STATUSES = ("running", "completed", "failed", "diverged")
# Keys that change where or how fast a run happens, not what it computes; `exp` names the
# table that asked for a run, so the same run is shared by every table that needs it.
RUNTIME_KEYS = (
    "results_dir",
    "exp",
    "logger",
    "data.root",
    "data.download",
    "data.num_workers",
    "trainer.device",
    "trainer.progress",
)


def config_dict(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def run_id(cfg: DictConfig) -> str:
    """16 hex digits of the SHA-256 of the config without RUNTIME_KEYS, keys sorted."""
    identity = config_dict(cfg)
    for dotted in RUNTIME_KEYS:
        *parents, leaf = dotted.split(".")
        node = identity
        for parent in parents:
            node = node.get(parent, {})
        node.pop(leaf, None)
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def runs_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: str | Path, run: str) -> Path:
    return runs_dir(results_dir) / f"{run}.json"


def write_record(path: Path, record: dict) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def read_record(path: Path) -> dict | None:
    """The record at `path`, or None (with a warning naming the file) if it is damaged."""
    try:
        record = json.loads(Path(path).read_text())
        if not isinstance(record, dict) or record.get("status") not in STATUSES or "config" not in record:
            raise ValueError("not a run record")
        return record
    except (OSError, ValueError) as error:
        log.warning("skipping damaged run record %s: %s", path, error)
        return None


def iter_records(results_dir: str | Path) -> Iterator[dict]:
    """Every readable record under `<results_dir>/runs/`, in file-name order."""
    for path in sorted(runs_dir(results_dir).glob("*.json")):
        record = read_record(path)
        if record is not None:
            yield record


def is_completed(results_dir: str | Path, run: str) -> bool:
    path = record_path(results_dir, run)
    return path.exists() and (read_record(path) or {}).get("status") == "completed"
