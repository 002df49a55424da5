"""A settle sweep's design, declared in the results dir before its first round, so that one question
gets one answer: every table of a setting a settle sweep runs (the driver's own, a later `report`'s,
one written after the driver was killed) reads its runs at the design's looks and levels
(`report/settle.py`), never at the fixed design's, which read after the rounds would be naive
re-testing.

The declaration is a small JSON file, `<results_dir>/settle/<exp>/<hash>.json`: the experiment, the
setting its runs have (`pinned`: each setting key at its value, as the driver composed it), the
maximum seeds, the looks (resolved), the budget, the spending (`rho`) and this version's levels. Its content says
what it covers, never its name: a section of a table reads it where its setting agrees with the
declared one on every declared key (`covers`), and the decisions are recomputed from the run
records alone. A design is fixed once declared: a settle command with another maximum or other looks
for a setting a declaration covers is refused (changing them mid-way breaks the error control), until
the user removes the file; a new budget is taken (a budget only stops a sweep early, never decides
a comparison).

The results dir is shared and untrusted (`base/shared_dir.py`): a file there is read as data only
(JSON without NaN or infinities, at most MAX_BYTES, every field checked), and a declaration that is
a link, a folder, or malformed is refused, never ignored: reading the table at the fixed design's
levels instead would be the very answer the declaration exists to prevent. The refusal is one line
naming the file, its field, the value and what is allowed; the report then leaves that table
unwritten (every other one is written), and the driver stops before it runs anything. Removing the
file is the way out, and the message says so.
"""

import errno
import hashlib
import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from senet_ablate.base.atomic import atomic_file
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.shared_dir import make_dirs
from senet_ablate.config.compose import RESOLVED_BY_THE_MACHINE
from senet_ablate.report.sequential import Settle
from senet_ablate.report.stats import CONFIDENCE, EQUIVALENCE_CONFIDENCE

FOLDER = "settle"
FORMAT = 1
MAX_BYTES = 1 << 20  # a declaration is a few kilobytes: anything larger is not one of ours
FIELDS = ("format", "experiment", "setting", "max_seeds", "looks", "budget_gpu_hours", "rho", "confidence")


@dataclass(frozen=True)
class Declared:
    """A settle design as declared: the experiment, the setting it covers, the design, and its file."""

    experiment: str
    setting: dict
    settle: Settle
    path: Path


def settle_problem(max_seeds: object, looks: object, budget: object, rho: object) -> tuple[str, object, str] | None:
    """The first field of a settle design that cannot be run or read, as (field, value, what is
    allowed), or None: the driver checks what was typed (`looks` None: the default, `Settle.rounds`),
    the report what a file declares (its looks resolved)."""
    if looks is not None and (not _integer(looks) or looks < 1):
        return "looks", looks, "a whole number of looks, at least 1, or null for the default"
    rounds = looks if looks is not None else Settle(max_seeds if _integer(max_seeds) else 0).rounds
    if not _integer(max_seeds) or max_seeds < 2 * rounds:
        return "max_seeds", max_seeds, f"a whole number of seeds per row, at least 2 per look ({2 * rounds})"
    if budget is not None and not (_number(budget) and 0 < budget < math.inf):
        return "budget_gpu_hours", budget, "a positive number of device-hours, or null"
    if rho is not None and not (_number(rho) and 0 < rho < math.inf):
        return "rho", rho, "a positive exponent (Kim-DeMets spending), or null for O'Brien-Fleming"
    return None


def pinned(defaults: dict) -> dict:
    """The setting a settle command's runs have, from its composed setting (`Experiment.defaults`):
    every key but those the machine resolves at run time and nobody typed (`trainer.device=auto`)."""
    return {
        key: value
        for key, value in defaults.items()
        if not (key in RESOLVED_BY_THE_MACHINE and value in ("auto", None))
    }


def covers(declared: dict, setting: dict) -> bool:
    """Whether a section of this setting is the declared one: equal on every declared key."""
    return all(setting.get(key) == value for key, value in declared.items())


def _overlap(one: dict, other: dict) -> bool:
    """Whether some section could be covered by both: equal on every key both declare."""
    return all(one[key] == other[key] for key in one.keys() & other.keys())


def folder(results_dir: str | Path, experiment: str) -> Path:
    return Path(results_dir) / FOLDER / experiment


def declarations(results_dir: str | Path, experiment: str) -> list[Declared]:
    """Every settle design declared for `experiment` in the results dir, each file checked (see the
    module): a ConfigError names the first that is not a declaration of ours."""
    where = folder(results_dir, experiment)
    for path in (where.parent, where):
        try:
            found = os.lstat(path)
        except FileNotFoundError:
            return []
        if not stat.S_ISDIR(found.st_mode):
            raise _refused(path, "file", _kind(found), "a folder of settle designs, not a link or a file")
    return [_read(path, experiment) for path in sorted(where.glob("*.json"))]


def settle_of(found: list[Declared], setting: dict) -> Settle | None:
    """The design a section of `setting` is read by: that of the declarations covering it (None: no
    settle sweep declared it); two that differ are refused, naming both files."""
    covering = [declared for declared in found if covers(declared.setting, setting)]
    for other in covering[1:]:
        if other.settle != covering[0].settle:
            raise _refused(
                other.path,
                "design",
                _shown(other.settle),
                f"one design per setting, but {covering[0].path} declares {_shown(covering[0].settle)} for it too",
            )
    return covering[0].settle if covering else None


def declare(results_dir: str | Path, experiment: str, setting: dict, settle: Settle) -> Path:
    """Declare `settle` for `experiment`'s `setting` before its first round (again, unchanged, when
    the same command continues). Refused where a declaration that could cover the same runs has
    another maximum or other looks; a new budget replaces the declared one."""
    path = folder(results_dir, experiment) / f"{_digest(setting)}.json"
    for declared in declarations(results_dir, experiment):
        if not _overlap(declared.setting, setting):
            continue
        same = (declared.settle.max_seeds, declared.settle.looks, declared.settle.rho) == (
            settle.max_seeds,
            settle.looks,
            settle.rho,
        )
        if not same or (declared.path != path and declared.settle != settle):
            raise ConfigError(
                "settle",
                _shown(settle),
                f"{declared.path} declares {_shown(declared.settle)} for these runs before their first round; "
                "changing the design mid-way breaks its error control: type the declared one, or remove that "
                "file to start a new design (`rm` it; the runs so far then count at the new design's looks)",
            )
        if declared.path == path and declared.settle == settle:  # the same command again
            return path
    content = {
        "format": FORMAT,
        "experiment": experiment,
        "setting": setting,
        "max_seeds": settle.max_seeds,
        "looks": settle.looks,
        "budget_gpu_hours": settle.budget_gpu_hours,
        "rho": settle.rho,
        "confidence": [CONFIDENCE, EQUIVALENCE_CONFIDENCE],
    }
    make_dirs(path.parent, below=Path(results_dir))
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
    return path


def _read(path: Path, experiment: str) -> Declared:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link, a pipe, a folder
            raise _refused(path, "file", _kind(os.lstat(path)), "a plain file the settle command wrote") from None
        raise
    with os.fdopen(fd, "rb") as file:
        found = os.fstat(file.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise _refused(path, "file", _kind(found), "a plain file the settle command wrote")
        raw = file.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise _refused(path, "size", f"over {MAX_BYTES} bytes", "a settle design of a few kilobytes")
    try:
        content = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise _refused(path, "json", " ".join(str(error).split()), "JSON as the settle command writes it") from None
    if not isinstance(content, dict) or sorted(content) != sorted(FIELDS):
        shown = sorted(content) if isinstance(content, dict) else type(content).__name__
        raise _refused(path, "fields", shown, ", ".join(FIELDS))
    checks = {
        "format": (content["format"] == FORMAT, f"{FORMAT}, the format of this version"),
        "experiment": (content["experiment"] == experiment, f"{experiment!r}, the experiment of its folder"),
        "setting": (_setting(content["setting"]), "an object of setting keys and their JSON values"),
        "looks": (_integer(content["looks"]), "a whole number of looks, as the settle command resolves them"),
        "confidence": (
            content["confidence"] == [CONFIDENCE, EQUIVALENCE_CONFIDENCE],
            f"{[CONFIDENCE, EQUIVALENCE_CONFIDENCE]}, this version's levels",
        ),
    }
    for key, (ok, allowed) in checks.items():
        if not ok:
            raise _refused(path, key, content[key], allowed)
    problem = settle_problem(content["max_seeds"], content["looks"], content["budget_gpu_hours"], content["rho"])
    if problem is not None:
        raise _refused(path, *problem)
    settle = Settle(content["max_seeds"], content["looks"], content["budget_gpu_hours"], content["rho"])
    return Declared(experiment, content["setting"], settle, path)


def _refused(path: Path, key: str, value: object, allowed: str) -> ConfigError:
    return ConfigError(f"{path}: {key}", value, f"{allowed} (remove the file if it is not a settle command's)")


def _setting(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(key, str) for key in value)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _kind(found: os.stat_result) -> str:
    if stat.S_ISLNK(found.st_mode):
        return "a symbolic link"
    return "a folder" if stat.S_ISDIR(found.st_mode) else "not a plain file"


def _shown(settle: Settle) -> str:
    budget = "" if settle.budget_gpu_hours is None else f" settle.budget_gpu_hours={settle.budget_gpu_hours:g}"
    rho = "null" if settle.rho is None else f"{settle.rho:g}"
    return f"settle.max_seeds={settle.max_seeds} settle.looks={settle.looks} settle.rho={rho}{budget}"


def _digest(setting: dict) -> str:
    return hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:16]
