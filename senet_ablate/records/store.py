"""Run records: one JSON file per run, `<results_dir>/runs/<run_id>.json`, written atomically.

A record is plain JSON so that any tool can read it; `RunRecord` is its one schema, shared by
the run, the reporter and the tests. The reporter reads only these files, the experiment files
and the per-image predictions each completed run keeps beside its checkpoint (`predictions.py`).
"""

import hashlib
import json
import logging
import re
import reprlib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

from omegaconf import DictConfig, OmegaConf

from senet_ablate.base.atomic import atomic_file
from senet_ablate.config import without_unused_groups

log = logging.getLogger(__name__)

# A record's status, the one declaration of them. A run ends `completed` or `diverged` (final: a
# diverged run would diverge again, training being deterministic) and is never trained again; an
# `interrupted` or `failed` one is resumed or tried again on its next start.
STATUSES = ("running", "interrupted", "completed", "failed", "diverged")
FINAL_STATUSES = ("completed", "diverged")
# The keys left out of a run's identity: they choose where a run's files go, where its data is
# read from and how it is watched, none of which can change what it computes. `exp` names the
# table that asked for a run, so one run is shared by every table that needs it (and `settle` how
# many seeds a settle sweep asks for). `data.root`
# may move: the data's *content* is in the id through `data_fingerprint` instead.
# `data.num_workers` cannot change a result because augmentations are seeded per image.
# `plugins` names the modules that registered a run's blocks; what they compute is in the id
# through the keys they read (a plugin's config group, `config/plugins.py`).
RUNTIME_KEYS = (
    "plugins",
    "results_dir",
    "exp",
    "settle",
    "logger",
    "data.root",
    "data.download",
    "data.num_workers",
    "trainer.progress",
    "trainer.dist_timeout_s",
)

# Keys added to the schema after runs were recorded, with the value every run before them computed
# with: left out of a run's identity while they hold it, so that adding a key changes the id of no
# config that leaves it alone (a sweep finds its completed runs, a planner its measured ones).
ADDED_KEYS = {"data.flip": "random", "trainer.ema_decay": 0.0, "trainer.tta_flip": False}


class StopPoint(TypedDict):
    """Where a run stopped, both 1-based (step 0: before the epoch's first step); typed so that a
    record is checked to the depth the status lines read it."""

    epoch: int
    step: int


class Interruption(StopPoint):
    signal: str


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
    top5_err: float | None  # null with 5 classes or fewer, where it is undefined: see metrics.top5_defined
    tta_top1_err: float | None  # final, % with flip TTA (trainer.tta_flip), apart from top1_err; else null
    params_m: float | None
    gflops: float | None
    wall_time_s: float | None
    images_per_s: float | None
    skipped_images: int  # unreadable images skipped over the whole run (data.skip_corrupt)
    diverged_at: StopPoint | None  # of the first non-finite loss
    interrupted_at: Interruption | None  # where a warning signal stopped the run
    error: str | None  # why a failed or diverged run stopped
    env: dict  # versions, device and code version
    started_at: str | None
    updated_at: str | None


_EMPTY: dict[str, Any] = {"epochs": [], "skipped_images": 0}
# What a status promises beyond the schema: the fields the reporter and the status lines read.
REQUIRED_BY_STATUS: dict[str, dict[str, Any]] = {
    "completed": {"top1_err": float},
    "interrupted": {"interrupted_at": Interruption},
    "diverged": {"diverged_at": StopPoint},
}


def new_record(**fields: Any) -> RunRecord:
    """A complete record: every field of RunRecord, `fields` over empty defaults; unknown names refused."""
    unknown = set(fields) - set(RunRecord.__annotations__)
    if unknown:
        raise TypeError(f"not fields of RunRecord: {sorted(unknown)}")
    defaults = {name: _EMPTY.get(name) for name in RunRecord.__annotations__}
    return RunRecord(**{**defaults, **fields})


def config_dict(cfg: DictConfig) -> dict:
    """A config as plain data, resolved, as a run's id hashes it and its record holds it: without
    the config groups of plugin blocks not in use, so that loading a plugin changes no other id."""
    return without_unused_groups(OmegaConf.to_container(cfg, resolve=True))


def literal(data: Any) -> Any:
    """A record's config (plain data) ready to become an OmegaConf object as data: each `${` is
    escaped (with the backslashes before it), so that OmegaConf reads every string back as it
    was, never as an interpolation to resolve."""
    if isinstance(data, dict):
        return {key: literal(value) for key, value in data.items()}
    if isinstance(data, list):
        return [literal(value) for value in data]
    if isinstance(data, str):
        return re.sub(r"(\\*)\$\{", lambda found: found.group(1) * 2 + "\\${", data)
    return data


def run_id(cfg: DictConfig, data_fingerprint: str | None, leave_out: tuple[str, ...] = ()) -> str:
    """16 hex digits of the SHA-256 of the config without RUNTIME_KEYS, plus the data's fingerprint.

    `leave_out` drops more keys: `("seed",)` gives the id that every seed of one config shares,
    by which the planner finds the runs that measured a row's throughput."""
    return config_id(config_dict(cfg), data_fingerprint, leave_out)


def config_id(config: dict, data_fingerprint: str | None, leave_out: tuple[str, ...] = ()) -> str:
    """`run_id` of a config as plain data, such as a record's: its values are hashed as they are
    (a string that looks like an OmegaConf interpolation is a string, never resolved)."""
    identity = dict(config)
    unchanged = [dotted for dotted, before in ADDED_KEYS.items() if _lookup(config, dotted) == before]
    for dotted in (*RUNTIME_KEYS, *leave_out, *unchanged):
        *parents, leaf = dotted.split(".")
        node = identity
        for parent in parents:  # copied on the way down: the caller's config is left as it is
            child = node.get(parent)
            if not isinstance(child, dict):
                break
            node[parent] = dict(child)
            node = node[parent]
        else:
            node.pop(leaf, None)
    identity["data_fingerprint"] = data_fingerprint
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _lookup(config: dict, dotted: str) -> Any:
    """The value at a dotted key of a nested dict, or a marker that equals nothing where it is absent."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return object()
        node = node[part]
    return node


def runs_dir(results_dir: str | Path) -> Path:
    return Path(results_dir) / "runs"


def record_path(results_dir: str | Path, run: str) -> Path:
    return runs_dir(results_dir) / f"{run}.json"


def write_record(path: Path, record: RunRecord) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def conforms(value: Any, expected: Any) -> bool:
    """Whether a JSON value fits a type annotation (unions, None, list[...], dict, TypedDicts).
    JSON has one number type, so an int is a float; a bool is not a number."""
    origin = get_origin(expected)
    if origin in (Union, types.UnionType):
        return any(conforms(value, option) for option in get_args(expected))
    if origin is list:
        (item,) = get_args(expected)
        return isinstance(value, list) and all(conforms(element, item) for element in value)
    if is_typeddict(expected):
        fields = get_type_hints(expected)
        return isinstance(value, dict) and all(key in value and conforms(value[key], t) for key, t in fields.items())
    if isinstance(value, bool) and expected in (int, float):
        return False
    if expected is float:
        return isinstance(value, int | float)
    return isinstance(value, expected)


def type_name(expected: Any) -> str:
    """An annotation as a warning prints it: `float | None`, `{epoch: int, step: int}`."""
    if is_typeddict(expected):
        return "{" + ", ".join(f"{key}: {type_name(t)}" for key, t in get_type_hints(expected).items()) + "}"
    if get_origin(expected) in (Union, types.UnionType):
        return " | ".join(type_name(option) for option in get_args(expected))
    if get_origin(expected) is list:
        return f"list[{type_name(get_args(expected)[0])}]"
    return "None" if expected is type(None) else expected.__name__


def check_record(record: RunRecord) -> None:
    """Raise ValueError naming the first field that is not what `RunRecord` (and, for its status,
    REQUIRED_BY_STATUS) says: a record that only looks whole would stop the whole table it is in."""
    if record["status"] not in STATUSES:
        raise ValueError(f"status={record['status']!r} is not one of {', '.join(STATUSES)}")
    needed = REQUIRED_BY_STATUS.get(record["status"], {})
    for field, annotation in get_type_hints(RunRecord).items():
        expected = needed.get(field, annotation)
        if not conforms(record[field], expected):
            why = f" (status {record['status']!r} needs it)" if field in needed else ""
            raise ValueError(f"{field}={reprlib.repr(record[field])} is not {type_name(expected)}{why}")


def content_id(record: RunRecord) -> str:
    """The run a record's content proves it is: the id of its config and data fingerprint, which
    is its `run_id` unless the file was edited, or planted (a file's name proves nothing)."""
    return config_id(record["config"], record["data_fingerprint"])


def world_size(record: RunRecord) -> int:
    """The processes (devices) a run trained on."""
    return (record.get("env") or {}).get("world_size") or 1


def device_hours(record: RunRecord) -> float:
    """What a run cost: its training time on each of its devices, in device-hours (0 if not timed)."""
    return (record.get("wall_time_s") or 0.0) * world_size(record) / 3600


def read_record(path: Path, run: str | None = None) -> RunRecord | None:
    """The record at `path` (fields it lacks, from older versions, empty), or None with a warning
    naming the file and its first bad field if it is damaged, or, given `run`, if its content is
    not that run's (`content_id`)."""
    try:
        on_disk = json.loads(Path(path).read_text())
        if not isinstance(on_disk, dict):
            raise ValueError(f"not a run record but {reprlib.repr(on_disk)}")
        record = new_record(**{key: value for key, value in on_disk.items() if key in RunRecord.__annotations__})
        check_record(record)
        if run is not None and content_id(record) != run:
            raise ValueError(f"it holds run {content_id(record)}, not run {run}")
        return record
    except (OSError, ValueError) as error:
        log.warning("skipping damaged run record %s: %s", path, error)
        return None


def record_files(results_dir: str | Path) -> list[Path]:
    """The record files under `<results_dir>/runs/`, readable or not, in file-name order."""
    return sorted(runs_dir(results_dir).glob("*.json"))


def iter_records(results_dir: str | Path) -> Iterator[RunRecord]:
    """Every readable record under `<results_dir>/runs/`, in file-name order."""
    for path in record_files(results_dir):
        record = read_record(path)
        if record is not None:
            yield record
