"""Experiment files and run records matched to their rows and settings.

One run is shared by every table that needs its config (`store.run_id` ignores `exp`), so records
are matched to rows by config, never by the `exp`/`label` that created them. A row's identity is
only what the rows of its file set: the value of every key that any row sets, and `se.enabled`
(`IDENTITY`); a record belongs to
the rows whose identity it agrees with. The rest of its config (minus `seed` and the runtime-only
`store.RUNTIME_KEYS`) is its *setting*, `se.bias`, model, data and recipe included: runs of
different settings are never averaged, each setting gets its own section, newest first. So
`report exps=X` finds X's runs whatever they were launched with, and an override given to the
report narrows it to the runs that match (`narrowing`); where none does, it says which settings
exist instead of showing an empty table.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from omegaconf import OmegaConf

from senet_ablate.base.errors import ConfigError
from senet_ablate.config import (
    RESOLVED_BY_THE_MACHINE,
    check_experiment_names,
    compose_config,
    config_dirs,
    override_key,
    row_configs,
)
from senet_ablate.records.store import RUNTIME_KEYS, config_dict
from senet_ablate.report import stats
from senet_ablate.report.paper import PAIRED, paper_recipe
from senet_ablate.report.sequential import Settle

FINGERPRINT = "data_fingerprint"
# Part of every row's identity, set by its rows or not: without a block, no other `se.*` key means
# anything, so a network without SE is never a row of SE (the SE row of se3x3_sweep) in a setting
# `se.enabled=false`; it is a row only where a row sets it (`original`, `ResNet-50`).
IDENTITY = ("se.enabled",)  # a record's field, part of its setting like a config key


@dataclass
class Experiment:
    """An experiment file as the reporter needs it: which config values make each of its rows."""

    name: str
    table: str | None
    identities: dict[str, dict]  # row label -> {dotted key: value} a record must agree with
    identity_keys: set[str]  # the keys rows set, of any row
    defaults: dict  # the file's own setting, shown (all rows pending) before any run exists
    narrowing: dict = field(default_factory=dict)  # {dotted key: value} the report's overrides ask a setting for
    narrowed_by: list[str] = field(default_factory=list)  # those overrides as typed (`model=resnet20`), to name them
    reference: str | None = None  # exp.reference: a row label, or `pairs` (each SE-X against X)
    margin: float = 0.2  # exp.margin: the smallest difference of interest, top-1 points
    claims: list[dict] = field(default_factory=list)  # exp.claims: the paper's conclusions, as data
    paper_recipe: dict = field(default_factory=dict)  # RECIPE_KEYS as the paper trained the table (paper_recipe)


@dataclass
class Section:
    """The runs of one setting, by row label (each list sorted by seed)."""

    setting: dict
    runs: dict[str, list[dict]]
    elsewhere: list[dict] = field(default_factory=list)  # other settings, named in one line each (`_listed`)
    elsewhere_because: str | None = None  # "narrowed": no run matches the overrides; "one row": runs of one row only
    settle: Settle | None = None  # a settle sweep declared this setting: cells and claims read off its design


def section_evidence(section: Section) -> dict[str, stats.Evidence]:
    """Each row's top-1 errors over its completed seeds, and how many of its seeds diverged: what the
    statistics are computed from (a failed or unfinished run is not an outcome of the recipe)."""
    return {
        label: stats.Evidence(
            tuple(run["top1_err"] for run in runs if run["status"] == "completed" and run.get("top1_err") is not None),
            sum(run["status"] == "diverged" for run in runs),
        )
        for label, runs in section.runs.items()
    }


def experiment_names(overrides: Sequence[str] = ()) -> list[str]:
    """The experiment files of conf/exp/, and of the `exp/` of any `hydra.searchpath` directory."""
    return sorted({path.stem for directory in config_dirs(overrides) for path in (directory / "exp").glob("*.yaml")})


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested config -> {dotted key: leaf}; lists are leaves."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def unflatten(flat: dict) -> dict:
    tree: dict = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree


def _runtime(key: str) -> bool:
    return any(key == name or key.startswith(f"{name}.") for name in RUNTIME_KEYS)


def _setting(flat: dict, identity_keys: set[str]) -> dict:
    """What a run computes besides its row: the config minus the row's keys, `seed` and runtime-only keys."""
    return {k: v for k, v in flat.items() if k not in identity_keys and k != "seed" and not _runtime(k)}


def load_experiment(name: str, overrides: Sequence[str] = ()) -> Experiment:
    cfg = compose_config([f"+exp={name}", *overrides])
    check_experiment_names(cfg.exp)  # its name and labels become file names and table rows
    row_keys = {item.split("=", 1)[0] for row in cfg.exp.rows for item in row.set}
    flats = {row_cfg.exp.row: flatten(config_dict(row_cfg)) for row_cfg in row_configs(cfg)}

    def differs(key: str) -> bool:
        return len({json.dumps(flat.get(key), sort_keys=True) for flat in flats.values()}) > 1

    def in_identity(key: str) -> bool:
        """The keys rows set, and of a group a row selects a preset of (`trainer=timm_a3`) the keys
        whose values differ between rows; the group's other keys (a typed `trainer.epochs=1` shared
        by all rows) stay in the setting, so such runs form a section of their own."""
        group = key.split(".", 1)[0]
        return key in IDENTITY or key in row_keys or (group in row_keys and not _runtime(key) and differs(key))

    identities = {label: {key: flat[key] for key in flat if in_identity(key)} for label, flat in flats.items()}
    labels = list(identities)
    bases = [label for label in labels if not label.startswith("SE-")]
    if cfg.exp.table in PAIRED and sorted(labels) != sorted(bases + [f"SE-{base}" for base in bases]):
        raise ConfigError("exp.rows", labels, f"table {cfg.exp.table} needs a row SE-X beside each row X")
    keys = set().union(*identities.values())  # a plugin block's keys: only in the rows that use it
    defaults = _setting(flatten(config_dict(cfg)), keys)
    claims = OmegaConf.to_container(cfg.exp.claims)
    recipe = paper_recipe(name, cfg.exp.table, [o for o in overrides if o.startswith("hydra.searchpath=")])
    narrowing_overrides = [o for o in overrides if override_key(o) not in row_keys]
    asked = narrowing(defaults, narrowing_overrides)
    narrowed_by = [o for o in narrowing_overrides if narrowing(defaults, [o])]
    return Experiment(
        name,
        cfg.exp.table,
        identities,
        keys,
        defaults,
        asked,
        narrowed_by,
        cfg.exp.reference,
        cfg.exp.margin,
        claims,
        recipe,
    )


def narrowing(defaults: dict, overrides: Sequence[str]) -> dict:
    """The part of the setting the report's overrides ask for: every setting key an override names,
    or lies under the group it selects (`model=resnet20`: all of `model.*`), at its composed value;
    the caller leaves out the keys and groups rows set (a row's `trainer=timm_a3` replaces a typed
    `trainer=smoke`). A key the machine resolves (`trainer.device=auto`) narrows only where a value
    was asked for."""
    named = [override_key(override) for override in overrides]
    named = [key for key in named if key.split(".", 1)[0] != "hydra"]
    return {
        key: value
        for key, value in defaults.items()
        if key != FINGERPRINT
        and any(key == name or key.startswith(f"{name}.") for name in named)
        and not (key in RESOLVED_BY_THE_MACHINE and value in ("auto", None))
    }


def setting_differences(setting: dict, defaults: dict) -> dict:
    """{key: the setting's value} where it differs from `defaults`, leaving out the data's
    fingerprint and what the machine decided (data.loader=auto, channels_last=null) that nobody typed."""
    return {
        key: setting.get(key)
        for key in sorted(setting.keys() | defaults.keys())
        if key != FINGERPRINT
        and setting.get(key) != defaults.get(key)
        and not (key in RESOLVED_BY_THE_MACHINE and defaults.get(key) in ("auto", None))
    }


def sections(experiment: Experiment, records: Iterable[dict]) -> list[Section]:
    """The records that match a row and the report's narrowing, grouped by setting, newest setting
    first.

    A setting gets a section of its own where runs fill two rows or more, or where it is the file's
    own (no difference from its defaults): a setting with runs of one row only is most often another
    table's runs sharing that row's config (gate_sweep's ReLU run is the reduction table's r = 16
    with `se.gate=relu`), so such settings are listed, one line each, under the first section
    instead. Where no setting has two rows, the one closest to the file's defaults (the newest of
    those) gets the section: the demo's r = 16 run is se3x3_sweep's SE row, its r = 2 run is that
    row under `se.reduction=2`. Where the narrowing leaves no run, one all-pending section with
    the file's defaults names the settings that exist."""
    grouped: dict[str, Section] = {}
    for record in records:
        flat = _flat_config(record)
        labels = _labels(experiment, flat)
        if not labels:
            continue
        setting = _setting(flat, experiment.identity_keys)
        empty = Section(setting, {label: [] for label in experiment.identities})
        section = grouped.setdefault(json.dumps(setting, sort_keys=True), empty)
        for label in labels:
            section.runs[label].append(record)
    matching = _newest_first(section for section in grouped.values() if _narrowed(experiment, section.setting))
    if not matching:
        elsewhere = [_listed(section, experiment.defaults) for section in _newest_first(grouped.values())]
        return [Section(experiment.defaults, {label: [] for label in experiment.identities}, elsewhere, "narrowed")]
    for section in matching:
        for runs in section.runs.values():
            runs.sort(key=lambda record: record.get("seed") or 0)
    shown = [section for section in matching if _own_section(experiment, section)] or [
        min(matching, key=lambda section: len(setting_differences(section.setting, experiment.defaults)))
    ]
    listed = [_listed(section, shown[0].setting) for section in matching if all(section is not own for own in shown)]
    if listed:
        shown[0].elsewhere, shown[0].elsewhere_because = listed, "one row"
    return shown


def _own_section(experiment: Experiment, section: Section) -> bool:
    filled = sum(bool(runs) for runs in section.runs.values())
    return filled >= 2 or not setting_differences(section.setting, experiment.defaults)


def _listed(section: Section, against: dict) -> dict:
    """A setting named in one line: how it differs from `against`, its runs and the rows they fill."""
    return {
        "differs": setting_differences(section.setting, against),
        "runs": len(records_of(section)),
        "rows": [label for label, runs in section.runs.items() if runs],
    }


def _narrowed(experiment: Experiment, setting: dict) -> bool:
    return all(setting.get(key) == value for key, value in experiment.narrowing.items())


def _newest_first(found: Iterable[Section]) -> list[Section]:
    return sorted(found, key=lambda section: last_update(records_of(section)) or "", reverse=True)


def _flat_config(record: dict) -> dict:
    flat = flatten(record["config"]) if isinstance(record["config"], dict) else {}
    flat[FINGERPRINT] = record.get("data_fingerprint")  # two datasets under one config never average
    return flat


def row_labels(experiment: Experiment, record: dict) -> list[str]:
    """The rows of `experiment` a record belongs to."""
    return _labels(experiment, _flat_config(record))


def _labels(experiment: Experiment, flat: dict) -> list[str]:
    return [
        label
        for label, identity in experiment.identities.items()
        if all(key in flat and flat[key] == value for key, value in identity.items())
    ]


def records_of(section: Section) -> list[dict]:
    """Each run of the section once, though it may fill several rows."""
    return list({id(record): record for runs in section.runs.values() for record in runs}.values())


def last_update(records: list[dict]) -> str | None:
    return max((record.get("updated_at") or "" for record in records), default=None) or None
