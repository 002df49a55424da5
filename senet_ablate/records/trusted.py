"""The run records a table or a plan may count, read from a shared results dir as evidence.

Anyone in a group can copy, edit or plant a file in `<results_dir>/runs/`, and records outlive the
version of the code that wrote them. So a file's name never says which run it holds, and nothing
in it is taken on trust:
- a record is the run its content proves: the id of its config and data fingerprint
  (`store.config_id`) must be its `run_id`, or it is not that run and is not counted;
- its config is migrated to this version's schema: keys added since it was written are filled
  with the schema's defaults, keys this version does not know are left out, so that it still
  matches its rows and setting (its `run_id` stays the one it was written under); the config
  group of a plugin's block, which a record holds only where that block is in use, is kept as
  written, whether the plugin is imported yet or not (`config/plugins.py`);
- a completed run counts only with finite figures (JSON reads `NaN` and `Infinity`); a diverged
  run's figures are not counted anyway, so its record is left as it is;
- one run is counted once, however many files hold it (a copy `<id> (1).json`, or a record of
  an older version beside its run's rerun under this version's id), by `preference`.
Every file set aside or changed is a `Note`, which the report prints under the table the record
belongs to; a damaged file is skipped with a warning, as `store.read_record` says.
"""

import copy
import json
import logging
import math
import reprlib
from dataclasses import dataclass, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints

from omegaconf import MISSING, OmegaConf

from senet_ablate.config import Config
from senet_ablate.records.store import (
    FINAL_STATUSES,
    RUNTIME_KEYS,
    RunRecord,
    config_id,
    conforms,
    content_id,
    read_record,
    record_files,
    type_name,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Note:
    """What was done to a record file on reading, and why: `says` is a sentence without the
    file's name, so that notes saying the same of several files print as one line."""

    file: str  # the file, relative to the results dir: runs/<name>.json
    record: RunRecord  # as migrated: the table it belongs to is found from its config
    says: str


@dataclass
class Records:
    counted: list[RunRecord]  # each run once, migrated
    notes: list[Note]


@cache
def schema_defaults() -> dict:
    """The schema's own defaults (config/schema.py, the `schema` node of Hydra's ConfigStore) as
    plain data; a key without one (`data.num_classes`, set by each dataset) reads MISSING."""
    return OmegaConf.to_container(OmegaConf.structured(Config))


def _runtime(dotted: str) -> bool:
    return dotted in RUNTIME_KEYS or dotted.split(".", 1)[0] in RUNTIME_KEYS


def migrate(config: dict, defaults: dict | None = None, prefix: str = "") -> tuple[dict, dict[str, Any], list[str]]:
    """`config` in this version's schema: (the config, {dotted key: default filled in}, [dotted keys
    left out]). Runtime keys (`store.RUNTIME_KEYS`) are kept as they are: they match nothing."""
    defaults = schema_defaults() if defaults is None else defaults
    migrated, filled, ignored = {}, {}, []
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if _runtime(dotted) or (not prefix and key not in defaults and key == config.get("attention")):
            migrated[key] = value  # the runtime keys, and a plugin block's group: as written
        elif key not in defaults:
            ignored.append(dotted)
        elif isinstance(defaults[key], dict) and isinstance(value, dict):
            migrated[key], more_filled, more_ignored = migrate(value, defaults[key], f"{dotted}.")
            filled.update(more_filled)
            ignored += more_ignored
        else:
            migrated[key] = value
    for key, default in defaults.items():
        dotted = f"{prefix}{key}"
        if key not in config and default != MISSING and not _runtime(dotted):
            migrated[key] = copy.deepcopy(default)  # the cached defaults stay as they are
            filled[dotted] = default
    return migrated, filled, ignored


def misfit(config: dict, schema: type = Config, prefix: str = "") -> str | None:
    """The first value of a (migrated) config that is not of its type in the schema, said, or None:
    a record edited by hand (`"image_size": "224"`, an interpolation `${...}` in a number) would
    otherwise stop every table it is in. Runtime keys are not checked: they match nothing."""
    hints = _hints(schema)
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        expected = hints.get(key, Any)
        if _runtime(dotted):
            continue
        if is_dataclass(expected):
            found = misfit(value, expected, f"{dotted}.") if isinstance(value, dict) else f"{dotted} is not a mapping"
            if found:
                return found
        elif expected is not Any and not conforms(value, expected):
            return f"{dotted}={reprlib.repr(value)} is not {type_name(expected)}"
    return None


@cache
def _hints(schema: type) -> dict[str, Any]:
    return get_type_hints(schema)


def non_finite(record: RunRecord) -> str | None:
    """Why a completed record's figures cannot be counted (the first that is NaN or infinite), or None."""
    if record["status"] != "completed":
        return None
    for field, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"{field}={json.dumps(value)} is not a finite number"
    return None


def why_not_counted(record: RunRecord, proven: str) -> str | None:
    """Why a (migrated) record cannot be counted, or None: `proven`, the id its content had as
    written (`store.content_id`), is not its `run_id`; its config does not fit the schema; a
    completed run's figure is not finite."""
    if proven != record["run_id"]:
        return f"its run_id is {record['run_id']}, but its config and data fingerprint are run {proven}"
    found = misfit(record["config"])
    return f"its config does not fit this version's schema: {found}" if found else non_finite(record)


def preference(file: str, record: RunRecord) -> tuple[bool, bool, str]:
    """Which of several files holding one run is counted, the greatest first: the file named after
    its run (where the run itself writes), then a final status, then the latest `updated_at`; of
    equals, the first in file-name order."""
    return Path(file).name == f"{record['run_id']}.json", record["status"] in FINAL_STATUSES, record["updated_at"] or ""


PREFERRED_FOR = ("the file named after its run", "a final status", "updated later")


def _why_kept(kept: tuple, other: tuple) -> str:
    for reason, mine, theirs in zip(PREFERRED_FOR, kept, other, strict=True):
        if mine != theirs:
            return reason
    return "the first in file-name order"


def _migration_note(filled: dict[str, Any], ignored: list[str]) -> str:
    said = []
    if filled:
        keys = ", ".join(f"`{key}={json.dumps(value)}`" for key, value in filled.items())
        said.append(f"filled with the schema's defaults: {keys}")
    if ignored:
        said.append("ignored, not keys of this version: " + ", ".join(f"`{key}`" for key in ignored))
    return "migrated from another version's schema: " + "; ".join(said)


def read_trusted(results_dir: str | Path) -> Records:
    """The records under `results_dir` that may be counted, and a Note for each file set aside or changed."""
    notes: list[Note] = []
    runs: dict[str, list[tuple[str, RunRecord, str | None]]] = {}  # identity -> [(file, record, migration)]
    for path in record_files(results_dir):
        record = read_record(path)
        if record is None:
            continue
        file = str(path.relative_to(results_dir))
        config, filled, ignored = migrate(record["config"])
        proven = content_id(record)  # before migration: the id the record was written under
        record = RunRecord(**{**record, "config": config})
        refused = why_not_counted(record, proven)
        if refused:
            log.warning("not counting run record %s: %s", path, refused)
            notes.append(Note(file, record, f"not counted: {refused}"))
            continue
        migration = _migration_note(filled, ignored) if filled or ignored else None
        identity = config_id(config, record["data_fingerprint"]) if migration else proven
        runs.setdefault(identity, []).append((file, record, migration))
    counted = []
    for holders in runs.values():
        file, record, migration = max(holders, key=lambda holder: preference(*holder[:2]))  # the first of equals
        counted.append(record)
        if migration:
            notes.append(Note(file, record, migration))
        for other_file, other, _ in holders:
            if other is not record:
                why = _why_kept(preference(file, record), preference(other_file, other))
                says = f"not counted: the same run as `{file}`, which is counted ({why})"
                log.warning(
                    "not counting run record %s: %s", Path(results_dir, other_file), says.removeprefix("not counted: ")
                )
                notes.append(Note(other_file, other, says))
    return Records(counted, sorted(notes, key=lambda note: note.file))
