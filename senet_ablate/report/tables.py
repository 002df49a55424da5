"""Run records -> the paper's tables: `<out>/<exp>.md` and `<exp>.json` per experiment file, and an index.

One run is shared by every table that needs its config (`store.run_id` ignores `exp`), so records
are matched to rows by config, never by the `exp`/`label` that created them. A row's identity is
the value of every `se.*` key and of every key that any row of its file sets; a record belongs to
the rows whose identity it agrees with. The rest of its config (minus `seed` and the runtime-only
`store.RUNTIME_KEYS`) is its *setting*: runs of different settings are never averaged, each
setting gets its own section, newest first.
"""

import json
import logging
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from omegaconf import OmegaConf

from senet_ablate.atomic import atomic_file, check_writable_dir
from senet_ablate.complexity import Complexity, config_complexity
from senet_ablate.config import PAIRS, Config, compose_config, config_dirs, row_configs
from senet_ablate.errors import ConfigError
from senet_ablate.metrics import TOP5_UNDEFINED, top5_defined
from senet_ablate.report import conclusions, export, stats
from senet_ablate.report.plots import write_curves
from senet_ablate.status import STATES, RunState, live_holder, state_of
from senet_ablate.store import RUNTIME_KEYS, config_dict, iter_records, runs_dir

log = logging.getLogger(__name__)
PAPER_YAML = Path(__file__).with_name("paper.yaml")

FINGERPRINT = "data_fingerprint"  # a record's field, part of its setting like a config key
MEASURED = ("top1_err", "top5_err")
COMPLEXITY = ("params_m", "gflops")
HEADERS = {"top1_err": "top-1 err (%)", "top5_err": "top-5 err (%)", "params_m": "params (M)", "gflops": "GFLOPs"}
MIN_DECIMALS = {"params_m": 3, "gflops": 4}  # as `python -m senet_ablate.complexity` prints them
MAX_DECIMALS = 6


@dataclass(frozen=True)
class Unit:
    """How a table prints one complexity column: its header, a scale and enough decimals."""

    header: str
    scale: float
    decimals: int

    def format(self, value: float | None) -> str:
        return "n/a" if value is None else f"{value * self.scale:.{self.decimals}f}"


def complexity_unit(metric: str, values: list[float]) -> Unit:
    """The unit of a table's params or FLOPs column: MFLOPs when every model is under 1 GFLOP (CIFAR,
    mobile), and the fewest decimals (from MIN_DECIMALS) at which rows whose models differ print
    differently."""
    header, scale = HEADERS[metric], 1.0
    if metric == "gflops" and values and max(values) < 1:
        header, scale = "MFLOPs", 1000.0
    distinct = len({round(value * scale, 9) for value in values})
    decimals = MIN_DECIMALS[metric] - (3 if scale == 1000.0 else 0)
    while decimals < MAX_DECIMALS and len({round(value * scale, decimals) for value in values}) < distinct:
        decimals += 1
    return Unit(header, scale, decimals)


# Paper tables laid out per architecture, vanilla beside SE (rows `X` and `SE-X`), and what they measure.
PAIRED = {
    "cifar": ("top1_err",),
    "imagenet": ("top1_err", "top5_err"),
    "mobile": ("top1_err", "top5_err"),
    "places365": ("top1_err", "top5_err"),
    "recipe": ("top1_err", "top5_err"),
}
FOOTNOTE = (
    "Errors: mean ± sample std over the completed seeds (n); `n=k of m, ...`: only k of the m recorded "
    "seeds completed, the others counted by state (a diverged or failed run is never dropped silently). "
    "Δ = ours − paper. GFLOPs are multiply-adds of convolutions and linear layers at "
    "`data.image_size`, batch 1 (torch FlopCounterMode total / 2). Params count the SE FC biases "
    "(`se.bias`); the paper rounds its figures up (30.604M is printed 30.7) and trained its ablations "
    "without FC biases. "
    "Δ top-1 vs the reference row: mean(row) − mean(reference) over completed seeds (negative: fewer "
    "errors), with its 95% simultaneous interval and a verdict; the method, its degrees of freedom and "
    "the margin are stated under each table. paper Δ: the same difference between the paper's own "
    "figures, single runs with no interval."
)


class TablesFailed(Exception):
    """Some tables could not be written (each named, with why); `written` holds every file that was."""

    def __init__(self, failures: dict[str, str], written: list[Path]):
        self.failures, self.written = failures, written
        super().__init__("; ".join(f"table {name}: {why}" for name, why in failures.items()))


@dataclass
class Experiment:
    """An experiment file as the reporter needs it: which config values make each of its rows."""

    name: str
    table: str | None
    identities: dict[str, dict]  # row label -> {dotted key: value} a record must agree with
    identity_keys: set[str]  # the same for every row: all `se.*` keys and the keys rows set
    defaults: dict  # the file's own setting, shown (all rows pending) before any run exists
    reference: str | None = None  # exp.reference: a row label, or `pairs` (each SE-X against X)
    margin: float = 0.2  # exp.margin: the smallest difference of interest, top-1 points
    claims: list[dict] = field(default_factory=list)  # exp.claims: the paper's conclusions, as data
    paper_recipe: dict = field(default_factory=dict)  # RECIPE_KEYS as the paper trained the table (paper_recipe)


@dataclass
class Section:
    """The runs of one setting, by row label (each list sorted by seed)."""

    setting: dict
    runs: dict[str, list[dict]]


def experiment_names(overrides: Sequence[str] = ()) -> list[str]:
    """The experiment files of conf/exp/, and of the `exp/` of any `hydra.searchpath` directory."""
    return sorted({path.stem for directory in config_dirs(overrides) for path in (directory / "exp").glob("*.yaml")})


def _flat(tree: dict, prefix: str = "") -> dict:
    """Nested config -> {dotted key: leaf}; lists are leaves."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _nested(flat: dict) -> dict:
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
    row_keys = {item.split("=", 1)[0] for row in cfg.exp.rows for item in row.set}
    flats = {row_cfg.exp.row: _flat(config_dict(row_cfg)) for row_cfg in row_configs(cfg)}

    def differs(key: str) -> bool:
        return len({json.dumps(flat.get(key), sort_keys=True) for flat in flats.values()}) > 1

    def in_identity(key: str) -> bool:
        """se.*, the keys rows set, and of a group a row selects a preset of (`trainer=timm_a3`) the
        keys whose values differ between rows; the group's other keys (a typed `trainer.epochs=1`
        shared by all rows) stay in the setting, so such runs form a section of their own."""
        group = key.split(".", 1)[0]
        return key.startswith("se.") or key in row_keys or (group in row_keys and not _runtime(key) and differs(key))

    identities = {label: {key: flat[key] for key in flat if in_identity(key)} for label, flat in flats.items()}
    labels = list(identities)
    bases = [label for label in labels if not label.startswith("SE-")]
    if cfg.exp.table in PAIRED and sorted(labels) != sorted(bases + [f"SE-{base}" for base in bases]):
        raise ConfigError("exp.rows", labels, f"table {cfg.exp.table} needs a row SE-X beside each row X")
    keys = set(next(iter(identities.values())))
    defaults = _setting(_flat(config_dict(cfg)), keys)
    claims = OmegaConf.to_container(cfg.exp.claims)
    recipe = paper_recipe(name, cfg.exp.table, [o for o in overrides if o.startswith("hydra.searchpath=")])
    return Experiment(
        name, cfg.exp.table, identities, keys, defaults, cfg.exp.reference, cfg.exp.margin, claims, recipe
    )


def sections(experiment: Experiment, records: Iterable[dict]) -> list[Section]:
    """The records that match a row, grouped by setting, newest setting first; one all-pending
    section with the file's defaults if none does."""
    grouped: dict[str, Section] = {}
    for record in records:
        flat = _flat(record["config"]) if isinstance(record["config"], dict) else {}
        flat[FINGERPRINT] = record.get("data_fingerprint")  # two datasets under one config never average
        labels = [
            label
            for label, identity in experiment.identities.items()
            if all(key in flat and flat[key] == value for key, value in identity.items())
        ]
        if not labels:
            continue
        setting = _setting(flat, experiment.identity_keys)
        empty = Section(setting, {label: [] for label in experiment.identities})
        section = grouped.setdefault(json.dumps(setting, sort_keys=True), empty)
        for label in labels:
            section.runs[label].append(record)
    if not grouped:
        return [Section(experiment.defaults, {label: [] for label in experiment.identities})]
    for section in grouped.values():
        for runs in section.runs.values():
            runs.sort(key=lambda record: record.get("seed") or 0)
    return sorted(grouped.values(), key=lambda section: _last_update(_records(section)) or "", reverse=True)


def _records(section: Section) -> list[dict]:
    """Each run of the section once, though it may fill several rows."""
    return list({id(record): record for runs in section.runs.values() for record in runs}.values())


def _last_update(records: list[dict]) -> str | None:
    return max((record.get("updated_at") or "" for record in records), default=None) or None


@cache
def _paper() -> dict:
    return OmegaConf.to_container(OmegaConf.load(PAPER_YAML))


def paper_figures(table: str | None, data_name: str | None) -> dict[str, dict[str, float]]:
    """Row label -> the paper's figures for it; the CIFAR table is the one of the setting's dataset."""
    paper = _paper()
    if table == "cifar":
        entries = paper["cifar"].get(data_name, [])
        return {p + e["model"]: {"top1_err": e[k]} for e in entries for p, k in (("", "vanilla"), ("SE-", "se"))}
    if table == "imagenet":
        variants = (("", "base"), ("SE-", "se"))
        figures = {
            p + e["model"]: dict(zip(("top1_err", "top5_err", "gflops"), e[k], strict=True))
            for e in paper["imagenet"]
            for p, k in variants
        }
        for entry in paper["imagenet_original"]:  # what the architecture's own paper reported
            figures[entry["model"]]["original"] = entry["err"]
        return figures
    if table == "places365":
        return {e["model"]: {key: e[key] for key in MEASURED} for e in paper["other_tasks"]["places365"]}
    if table == "mobile":  # base / se: [top-1 err, top-5 err, MFLOPs, params (M)]
        figures = {
            p + e["model"]: {"top1_err": top1, "top5_err": top5, "gflops": mflops / 1000, "params_m": params}
            for e in paper["mobile"]
            for p, (top1, top5, mflops, params) in (("", e["base"]), ("SE-", e["se"]))
        }
        for entry in paper["mobile"]:
            figures[entry["model"]]["original"] = entry["original"]
        return figures
    rows = _figures_table(table).get("rows", [])
    return {row["label"]: {key: row[key] for key in MEASURED + COMPLEXITY if key in row} for row in rows}


def _figures_table(table: str | None) -> dict:
    """A table of `ablations` (the SE paper's) or of `published` (other papers', with a `source`)."""
    paper = _paper()
    return paper["ablations"].get(table) or paper["published"].get(table) or {}


# The setting each paper table measured: its datasets and, for the ablation tables, its one model.
PAPER_DATASETS = {"cifar": ("cifar10", "cifar100"), "places365": ("places365",)}  # every other table: ImageNet
ABLATION_MODEL = "resnet50"  # the ablation tables' ResNet-50 (the paired tables set the model per row)
# What changes a result: a section shows the paper's figures only where all of these are the paper's.
RECIPE_KEYS = (
    "data.name",
    "model.name",
    "data.image_size",
    "trainer.epochs",
    "trainer.schedule",
    "trainer.lr",
    "trainer.batch_size",
    "trainer.label_smoothing",
    "se.bias",
)
PAPER_MODES = ("auto", "always")


def complexity_notes(table: str | None) -> list[str]:
    """Where the paper counted a row's FLOPs by another convention than ours, and what that gives."""
    return _paper()["complexity_notes"].get(table, [])


def paper_has_table(table: str | None) -> bool:
    """Whether the SE paper, or a paper of `published`, prints the table: experiments beyond them
    (`mbconv`) have no paper figures."""
    return table in PAIRED or bool(_figures_table(table))


def paper_setting(table: str | None) -> tuple[tuple[str, ...], str | None]:
    """(datasets, model) of a paper table; model None where each row names its own."""
    return PAPER_DATASETS.get(table, ("imagenet",)), None if table in PAIRED else ABLATION_MODEL


def paper_recipe(name: str, table: str | None, searchpath: Sequence[str] = ()) -> dict:
    """What the paper trained `table` with, for each of RECIPE_KEYS: the experiment file's own
    defaults (its presets follow the paper's recipe), except `se.bias`, false in the ablation
    tables, whose section 6 says they were trained without SE FC biases."""
    flat = _flat(config_dict(compose_config([f"+exp={name}", *searchpath])))
    recipe = {key: flat[key] for key in RECIPE_KEYS if key in flat}
    recipe["se.bias"] = False if table in _paper().get("ablations", {}) else recipe.get("se.bias")
    return recipe


def recipe_differences(experiment: Experiment, setting: dict) -> list[str]:
    """Each way a section's runs differ from the recipe the paper's figures come from ("key=ours
    (paper: theirs)"), over RECIPE_KEYS: anything that changes the result, not only names."""
    datasets, _ = paper_setting(experiment.table)
    differences = []
    if setting.get("data.name") not in datasets:
        differences.append(f"data.name={setting.get('data.name')} (paper: {' / '.join(datasets)})")
    for key, theirs in experiment.paper_recipe.items():
        if key == "data.name" or key not in setting:  # a row's own key (model.name of a paired table)
            continue
        if setting[key] != theirs:
            differences.append(f"{key}={setting[key]} (paper: {theirs})")
    biases = {identity["se.bias"] for identity in experiment.identities.values() if identity.get("se.enabled")}
    theirs = experiment.paper_recipe.get("se.bias")
    if theirs is not None and biases - {theirs}:
        differences.append(f"se.bias={sorted(biases)[-1]} (paper: {theirs}, section 6)")
    return differences


def paper_note(table: str | None, differences: list[str], shown: bool) -> str:
    if not paper_has_table(table):
        return f"paper figures: none, no paper prints a table `{table}`"
    datasets, model = paper_setting(table)
    theirs = " / ".join(datasets) + ("" if model is None else f" with {model}")
    source = _figures_table(table).get("source")
    if shown:
        also = f" (though this section differs in {', '.join(differences)})" if differences else ""
        return f"paper figures: table `{table}`, measured on {theirs}{also}" + (f"; source: {source}" if source else "")
    return (
        f"paper figures: not shown, this section's recipe differs from the paper's in {', '.join(differences)} "
        "(`paper=always` shows them anyway)"
    )


@cache
def _complexity(key: str) -> Complexity:
    return config_complexity(OmegaConf.merge(OmegaConf.structured(Config), json.loads(key)))


def row_complexity(setting: dict, identity: dict) -> Complexity:
    """Params and GFLOPs of a row under a setting (cached: many rows of many tables are one model).

    They depend on the model, its attention blocks and the input's class count and size only; the
    rest of a record's data keys (sizes of generated data, paths) stay out, so that records of any
    version can be counted."""
    config = _nested({**setting, **identity})
    data = {key: value for key, value in config.get("data", {}).items() if key in ("num_classes", "image_size")}
    counted = {key: config[key] for key in ("model", "se", "attention", "eca", "cbam") if key in config}
    return _complexity(json.dumps({**counted, "data": data}, sort_keys=True))


def _status_counts(statuses: dict[str, int]) -> str:
    return ", ".join(f"{statuses[state]} {state}" for state in STATES if statuses.get(state))


def measured(records: list[dict], metric: str, paper: float | None, states: list[str]) -> dict:
    """One error cell. Only completed runs give numbers; the others show their state (`status.py`)."""
    values = [r[metric] for r in records if r["status"] == "completed" and r.get(metric) is not None]
    mean = statistics.fmean(values) if values else None
    std = statistics.stdev(values) if len(values) > 1 else None
    if not records:
        cell = "pending"
    elif not values:
        counts = Counter(states)
        cell = next(iter(counts)) if len(counts) == 1 else _status_counts(counts)
    else:
        others = Counter(
            state for record, state in zip(records, states, strict=True) if record["status"] != "completed"
        )
        count = f"n={len(values)}" + (f" of {len(records)}, {_status_counts(others)}" if others else "")
        cell = f"{mean:.2f}" + ("" if std is None else f" ± {std:.2f}") + f" ({count})"
    diff = None if mean is None or paper is None else round(round(mean, 2) - paper, 2) + 0.0  # + 0.0: no "-0.00"
    return {"cell": cell, "mean": mean, "std": std, "n": len(values), "paper": paper, "diff": diff}


def summarize_section(
    experiment: Experiment, section: Section, holders: dict[str, dict | None], paper_mode: str = "auto"
) -> dict:
    """A section as data: what the markdown shows and `<exp>.json` stores. `holders`: the live
    claim of each run id that has one (a run in progress, here or on another node). The paper's
    figures are compared only in the paper's setting, unless `paper_mode` is `always`."""
    records = _records(section)
    states = {record["run_id"]: state_of(record, holders.get(record["run_id"])) for record in records}
    differences = recipe_differences(experiment, section.setting)
    show_paper = paper_has_table(experiment.table) and (paper_mode == "always" or not differences)
    paper = paper_figures(experiment.table, section.setting.get("data.name")) if show_paper else {}
    classes = section.setting.get("data.num_classes")
    has_top5 = not isinstance(classes, int) or top5_defined(classes)
    rows, unfinished = [], []
    for label, runs in section.runs.items():
        figures = paper.get(label, {})
        try:
            complexity, not_applicable = row_complexity(section.setting, experiment.identities[label]), None
        except ConfigError as error:  # e.g. SE_3x3 on a model of basic blocks: a fact, not a failure
            complexity, not_applicable = None, str(error)
        row_states = [states[run["run_id"]] for run in runs]
        row = {
            "label": label,
            "runs": [
                {"run_id": run["run_id"], "seed": run["seed"], "state": state, "claim": holders.get(run["run_id"])}
                for run, state in zip(runs, row_states, strict=True)
            ],
            "statuses": dict(Counter(row_states)),
            "not_applicable": not_applicable,
            "original": figures.get("original"),  # [top-1, top-5] err the architecture's own paper reported
        }
        row.update({metric: measured(runs, metric, figures.get(metric), row_states) for metric in MEASURED})
        row.update({m: {"value": getattr(complexity, m, None), "paper": figures.get(m)} for m in COMPLEXITY})
        for metric in MEASURED if not_applicable else () if has_top5 else ("top5_err",):
            row[metric]["cell"] = "n/a"
        rows.append(row)
        unfinished += [
            RunState(label, run["seed"], run["run_id"], state, run, holders.get(run["run_id"])).describe()
            for run, state in zip(runs, row_states, strict=True)
            if state != "completed"
        ]
    comparisons = compare_rows(rows, experiment, section)
    setting, defaults = section.setting, experiment.defaults
    differs = sorted(  # `auto` resolves on the machine that runs (data.loader, trainer.device): not typed
        key
        for key in setting.keys() | defaults.keys()
        if key != FINGERPRINT and setting.get(key) != defaults.get(key) and defaults.get(key) != "auto"
    )
    return {
        "setting": section.setting,
        "differs_from_defaults": {key: setting.get(key) for key in differs},
        "runs": len(records),
        "statuses": dict(Counter(states.values())),
        "unfinished": unfinished,
        "paper_shown": show_paper,
        "paper_note": paper_note(experiment.table, differences, show_paper),
        "recipe_differences": differences,
        "top5_note": None if has_top5 else f"{TOP5_UNDEFINED} ({classes} classes here)",
        "statistics": comparisons,
        "code_versions": sorted({str((record.get("env") or {}).get("code_version")) for record in records}),
        "updated_at": _last_update(records),
        "rows": rows,
    }


def references(experiment: Experiment) -> dict[str, str]:
    """Row label -> the row it is compared with (`exp.reference`): in the paired tables each SE-X's
    own X, elsewhere the one reference row for every other row."""
    if experiment.reference == PAIRS:
        return {label: label.removeprefix("SE-") for label in experiment.identities if label.startswith("SE-")}
    if experiment.reference is None:
        return {}
    return {label: experiment.reference for label in experiment.identities if label != experiment.reference}


def method_note(experiment: Experiment, spread: stats.Pooled, family: int) -> str:
    """The sentence under a table that says how its Δ column was computed."""
    if family == 0:
        return (
            f"Δ top-1 vs the reference: no row and reference with completed runs yet (margin ±{experiment.margin:g})."
        )
    pooled = f"a residual variance pooled over the section's {spread.rows} rows ({spread.runs} runs, df = {spread.df})"
    if spread.std is None:
        return (
            f"Δ top-1 vs the reference: one seed per row, so no spread to judge a difference by: every verdict is "
            f"unresolved until some row has two seeds (margin ±{experiment.margin:g} top-1 points)."
        )
    if experiment.reference == PAIRS:
        intervals = (
            f"pooled-variance t intervals at 95% simultaneous over the {family} pairs (Bonferroni), from {pooled}"
        )
    else:
        intervals = f"Dunnett's many-to-one 95% simultaneous intervals over {family} rows, from {pooled}"
    return (
        f"Δ top-1 vs the reference: {intervals}; pooled std {spread.std:.3f}. Seeds are not paired between rows. "
        f"better / worse: the interval lies below / above 0; equivalent: the 90% simultaneous interval lies within "
        f"±{experiment.margin:g} top-1 points (`exp.margin`; two one-sided tests at 5%); unresolved: neither, with "
        f"the seeds per row that give 80% power to detect ±{experiment.margin:g} (two-sided t at 5%/{family}) and "
        "the difference the current seeds detect with 80% power."
    )


def top1_groups(section: Section) -> dict[str, list[float]]:
    """Each row's top-1 errors over its completed seeds: what the statistics are computed from."""
    return {
        label: [run["top1_err"] for run in runs if run["status"] == "completed" and run.get("top1_err") is not None]
        for label, runs in section.runs.items()
    }


def compare_rows(rows: list[dict], experiment: Experiment, section: Section) -> dict:
    """Set each row's `vs_reference` (its top-1 Δ, interval, verdict and the paper's Δ) and return the
    section's statistics: method, pooled spread, per-seed values, Tukey's all-pairs intervals and
    the paper's claims checked."""
    top1 = top1_groups(section)
    compared = references(experiment)
    if experiment.reference == PAIRS:
        by_pair = stats.versus_pairs(top1, list(compared.items()), experiment.margin)
        comparisons = {row: comparison for (row, _), comparison in by_pair.items()}
    elif experiment.reference is not None:
        comparisons = stats.versus_reference(top1, experiment.reference, experiment.margin)
    else:
        comparisons = {}
    spread = stats.pooled(top1)
    by_label = {row["label"]: row for row in rows}
    for row in rows:
        base = compared.get(row["label"])
        row["is_reference"] = row["label"] in compared.values()
        row["top1_values"] = [
            {"seed": run["seed"], "top1_err": run["top1_err"]}
            for run in section.runs[row["label"]]
            if run["status"] == "completed" and run.get("top1_err") is not None
        ]
        interval = stats.prediction_interval(top1[row["label"]], spread)
        paper = row["top1_err"]["paper"]
        row["replication"] = (
            None
            if interval is None or paper is None
            else {"prediction_interval": list(interval), "paper_inside": interval[0] <= paper <= interval[1]}
        )
        if base is None:
            row["vs_reference"] = None
            continue
        ours, theirs = row["top1_err"]["paper"], by_label[base]["top1_err"]["paper"]
        comparison = comparisons.get(row["label"])
        paper_delta = None if ours is None or theirs is None else round(ours - theirs, 2) + 0.0
        row["vs_reference"] = {
            **(asdict(comparison) if comparison else {"reference": base, "delta": None}),
            "paper_delta": paper_delta,
            "paper_delta_inside": None
            if paper_delta is None or comparison is None or comparison.low is None
            else comparison.low <= paper_delta <= comparison.high,
        }
    return {
        "method": method_note(experiment, spread, len(comparisons)),
        "reference": experiment.reference,
        "margin": experiment.margin,
        "confidence": stats.CONFIDENCE,
        "pooled_std": spread.std,
        "df": spread.df,
        "runs": spread.runs,
        "rows": spread.rows,
        "family": len(comparisons),
        "all_pairs": {"method": "Tukey HSD, 95% simultaneous (rows with 2+ seeds)", "pairs": stats.all_pairs(top1)},
        "replication": replication_note(rows),
        "validation_noise": validation_noise(section, top1, spread),
        "claims": conclusions.check(experiment.claims, top1, experiment.margin),
        "claims_method": conclusions.method(experiment.claims, top1, experiment.margin),
    }


def validation_noise(section: Section, top1: dict[str, list[float]], spread: stats.Pooled) -> str | None:
    """The validation set's own noise floor beside the seed noise: the binomial standard error of one
    run's top-1 error on the section's validation images, at the section's mean error."""
    sizes = {
        run["epochs"][-1].get("val_images")
        for runs in section.runs.values()
        for run in runs
        if run["status"] == "completed" and run.get("epochs")
    } - {None}
    errors = [value for values in top1.values() for value in values]
    if len(sizes) != 1 or not errors:
        return None
    (images,) = sizes
    floor = stats.binomial_std(statistics.fmean(errors), images)
    seeds = "" if spread.std is None else f"; the seed-to-seed std pooled over the rows is {spread.std:.2f}"
    return (
        f"Validation noise: one run's top-1 error on these {images} images has a binomial standard error of "
        f"{floor:.2f} points at the section's mean error {statistics.fmean(errors):.2f}%{seeds}."
    )


def replication_note(rows: list[dict]) -> str | None:
    """Under a table with the paper's figures: in how many rows the paper's top-1 falls in our 95%
    prediction interval for one more run, and its Δ vs the reference in our Δ interval."""
    figures = {row["label"]: row["replication"]["paper_inside"] for row in rows if row.get("replication")}
    deltas = {
        row["label"]: row["vs_reference"]["paper_delta_inside"]
        for row in rows
        if (row.get("vs_reference") or {}).get("paper_delta_inside") is not None
    }
    if not figures:
        return None

    def count(found: dict[str, bool]) -> str:
        outside = [label for label, inside in found.items() if not inside]
        return f"{len(found) - len(outside)} of {len(found)} rows" + (
            f" (not: {', '.join(outside)})" if outside else ""
        )

    note = f"Replication: the paper's top-1 lies in our 95% prediction interval for one more run in {count(figures)}"
    return note + (f"; its Δ vs the reference lies in our Δ interval in {count(deltas)}." if deltas else ".")


def _bound(value: float) -> str:
    """An interval bound signed, with a third decimal where two would print 0.00 for a nonzero bound:
    a verdict must never sit beside an interval that seems to say otherwise."""
    return _signed(value) if round(value, 2) or not value else f"{value:+.3f}"


def _delta_cell(row: dict, margin: float) -> str:
    vs = row.get("vs_reference")
    if vs is None:
        return "reference" if row.get("is_reference") else ""
    if vs["delta"] is None:
        return ""
    delta = _signed(vs["delta"])
    if vs["low"] is None:
        return f"{delta}, unresolved: one seed per row"
    cell = f"{delta} [{_bound(vs['low'])}, {_bound(vs['high'])}] {vs['verdict']}"
    if vs["verdict"] != "unresolved":
        return cell
    seeds = "more than 100" if vs["seeds_needed"] is None else str(vs["seeds_needed"])
    return f"{cell}: {seeds} seeds/row for ±{margin:g}; detects ±{vs['detectable']:.2f} now"


def _signed(value: float) -> str:
    return f"{round(value, 2) + 0.0:+.2f}"  # + 0.0: no "-0.00"


def _delta_columns(row: dict, name: str, show_paper: bool, margin: float) -> list[tuple[str, str]]:
    cells = [(f"Δ top-1 vs {name}", _delta_cell(row, margin))]
    if show_paper:
        paper = (row.get("vs_reference") or {}).get("paper_delta")
        cells.append(("paper Δ", "" if paper is None else f"{paper:+.2f}"))
    return cells


def _columns(
    row: dict, metrics: Sequence[str], units: dict[str, Unit], with_paper: set[str], show_paper: bool, prefix: str = ""
) -> list[tuple[str, str]]:
    """(header, cell) pairs for one row: each error with the paper's figure and Δ, then params and FLOPs."""
    cells = []
    for metric in metrics:
        cell = row[metric]
        cells.append((prefix + HEADERS[metric], cell["cell"]))
        if show_paper:
            paper = "" if cell["paper"] is None else f"{cell['paper']:.2f}"
            cells += [("paper", paper), ("Δ", "" if cell["diff"] is None else f"{cell['diff']:+.2f}")]
    for metric in COMPLEXITY:
        unit = units[metric]
        cells.append((prefix + unit.header, unit.format(row[metric]["value"])))
        if metric in with_paper:
            paper = row[metric]["paper"]
            cells.append(("paper", "" if paper is None else f"{paper * unit.scale:g}"))
    return cells


def _original_columns(original: list[float | None] | None) -> list[tuple[str, str]]:
    """Table 2's and 3's "original" column: the errors the architecture's own paper reported."""
    top1, top5 = original or (None, None)
    return [
        ("original top-1 err (%)", "" if top1 is None else f"{top1:g}"),
        ("original top-5 err (%)", "" if top5 is None else f"{top5:g}"),
    ]


def table_lines(table: str | None, rows: list[dict], show_paper: bool, margin: float) -> list[list[tuple[str, str]]]:
    """(header, cell) pairs for each line of the table, in the ablation layout (one line per row)
    or the paired one (one line per architecture, vanilla | SE): what every format renders."""
    with_paper = {metric for metric in COMPLEXITY for row in rows if row[metric]["paper"] is not None}
    units = {
        metric: complexity_unit(metric, [row[metric]["value"] for row in rows if row[metric]["value"] is not None])
        for metric in COMPLEXITY
    }
    if table in PAIRED:
        by_label = {row["label"]: row for row in rows}
        originals = any(row.get("original") for row in rows)
        lines = [
            [("model", base)]
            + (_original_columns(row["original"]) if originals else [])
            + _columns(row, PAIRED[table], units, with_paper, show_paper, "vanilla ")
            + _columns(by_label[f"SE-{base}"], PAIRED[table], units, with_paper, show_paper, "SE ")
            + _delta_columns(by_label[f"SE-{base}"], "vanilla", show_paper, margin)
            for base, row in by_label.items()
            if not base.startswith("SE-")
        ]
    else:
        compared = next((row["vs_reference"]["reference"] for row in rows if row.get("vs_reference")), None)
        lines = [
            [("row", row["label"])]
            + _columns(row, MEASURED, units, with_paper, show_paper)
            + (_delta_columns(row, compared, show_paper, margin) if compared else [])
            for row in rows
        ]
    return lines


def _markdown_table(lines: list[list[tuple[str, str]]]) -> list[str]:
    headers = [header for header, _ in lines[0]]
    return [
        "| " + " | ".join(headers) + " |",
        "|---|" + "---:|" * (len(headers) - 1),
        *("| " + " | ".join(cell for _, cell in line) + " |" for line in lines),
    ]


def _pairs_matrix(pairs: list[dict]) -> list[str]:
    """Tukey's all-pairs intervals as a matrix: the cell of row A, column B is A − B."""
    labels = list(dict.fromkeys([pair[side] for pair in pairs for side in ("first", "second")]))
    cells = {(p["first"], p["second"]): (p["delta"], p["low"], p["high"]) for p in pairs}
    cells.update({(b, a): (-d, -high, -low) for (a, b), (d, low, high) in list(cells.items())})
    lines = [
        [("Tukey HSD: row − column", label)]
        + [
            (other, "" if label == other else "{:+.2f} [{:+.2f}, {:+.2f}]".format(*cells[(label, other)]))
            for other in labels
        ]
        for label in labels
    ]
    return ["All pairs (rows with 2+ seeds), 95% simultaneous:", "", *_markdown_table(lines), ""] if pairs else []


def _section_markdown(index: int, count: int, summary: dict, table: str | None, matrix: bool = False) -> list[str]:
    s = summary["setting"]
    shows_top5 = "top5_err" in PAIRED.get(table, MEASURED)
    statuses = _status_counts(summary["statuses"])
    differs = ", ".join(f"`{key}={value}`" for key, value in summary["differs_from_defaults"].items())
    not_applicable = [f"`{row['label']}`: {row['not_applicable']}" for row in summary["rows"] if row["not_applicable"]]
    return [
        f"## Setting {index} of {count}",
        "",
        f"- data: {s.get('data.name')} ({s.get('data.num_classes')} classes, {s.get('data.image_size')} px"
        + (f", fingerprint {s[FINGERPRINT]}" if s.get(FINGERPRINT) else "")
        + "); "
        f"model: {s.get('model.name', 'per row')}; "
        + (
            f"schedule: {s['trainer.schedule']}, {s.get('trainer.epochs')} epochs, "
            f"batch {s.get('trainer.batch_size')}, lr {s.get('trainer.lr')}"
            if "trainer.schedule" in s
            else "training recipe: per row"
        ),
        f"- runs: {summary['runs']}"
        + (f" ({statuses})" if statuses else " (every row pending)")
        + f"; code: {', '.join(summary['code_versions']) or '-'}; last update: {summary['updated_at'] or '-'}",
        "- differs from the experiment file's defaults in: " + (differs or "nothing"),
        f"- {summary['paper_note']}",
        "",
        *_markdown_table(table_lines(table, summary["rows"], summary["paper_shown"], summary["statistics"]["margin"])),
        "",
        summary["statistics"]["method"],
        "",
        *([summary["statistics"]["replication"], ""] if summary["statistics"]["replication"] else []),
        *([summary["statistics"]["validation_noise"], ""] if summary["statistics"]["validation_noise"] else []),
        *(_pairs_matrix(summary["statistics"]["all_pairs"]["pairs"]) if matrix else []),
        *_bullets(
            summary["statistics"]["claims_method"],
            [conclusions.describe(claim, summary["statistics"]["margin"]) for claim in summary["statistics"]["claims"]],
        ),
        *([f"Top-5 err n/a: {summary['top5_note']}.", ""] if summary["top5_note"] and shows_top5 else []),
        *_bullets("Rows that do not apply to this setting:", not_applicable),
        *_bullets("Runs not completed:", summary["unfinished"]),
    ]


def _bullets(title: str, lines: list[str]) -> list[str]:
    return [title, "", *(f"- {line}" for line in lines), ""] if lines else []


def write_experiment(
    out_dir: Path,
    experiment: Experiment,
    found: list[Section],
    generated_at: str,
    holders: dict[str, dict | None],
    paper_mode: str = "auto",
    formats: Sequence[str] = (),
    matrix: bool = False,
) -> list[Path]:
    """Write `<exp>.md`, `<exp>.json`, when some run has epochs `<exp>.png`, and `<exp>.csv` /
    `<exp>.tex` when `formats` asks; `matrix`: Tukey's all pairs as a matrix under each section.
    Return what was written."""
    summaries = [summarize_section(experiment, section, holders, paper_mode) for section in found]
    png = out_dir / f"{experiment.name}.png"
    panels = [(f"Setting {i}", section.runs) for i, section in enumerate(found, 1)]
    has_curves = write_curves(png, panels)
    curves = (
        f"![training curves: validation top-1 error and training loss per epoch, mean over seeds]({png.name})"
        if has_curves
        else "No training curves: no run has recorded an epoch yet."
    )
    lines = [
        f"# {experiment.name}",
        "",
        f"Paper table `{experiment.table}`, rows of `conf/exp/{experiment.name}.yaml`. Generated {generated_at}.",
        "",
        curves,
        "",
    ]
    for index, summary in enumerate(summaries, 1):
        lines += _section_markdown(index, len(summaries), summary, experiment.table, matrix)
    lines += _bullets("Complexity counted otherwise by the paper:", complexity_notes(experiment.table))
    lines.append(FOOTNOTE)
    md, data = out_dir / f"{experiment.name}.md", out_dir / f"{experiment.name}.json"
    report = {"exp": experiment.name, "table": experiment.table, "generated_at": generated_at, "sections": summaries}
    _write_text(md, "\n".join(lines) + "\n")
    _write_text(data, json.dumps(report, indent=2) + "\n")
    written = [md, data, png] if has_curves else [md, data]
    cells = [table_lines(experiment.table, s["rows"], s["paper_shown"], s["statistics"]["margin"]) for s in summaries]
    settings = [
        f"{experiment.name}, setting {i}: " + json.dumps(s["setting"], sort_keys=True)
        for i, s in enumerate(summaries, 1)
    ]
    for extension, text in (("csv", lambda: export.to_csv(cells)), ("tex", lambda: export.to_latex(cells, settings))):
        if extension in formats:
            written.append(out_dir / f"{experiment.name}.{extension}")
            _write_text(written[-1], text())
    return written


def _write_text(path: Path, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def write_index(out_dir: Path, found: dict[str, tuple[Experiment, list[Section]]], generated_at: str) -> Path:
    """`<out>/README.md`: every experiment file with its run counts, linked where its table is written."""
    lines = [
        "# Results",
        "",
        f"Generated {generated_at}. One table per experiment file in `conf/exp/`.",
        "",
        "| experiment | paper table | runs | completed | settings |",
        "|---|---|---:|---:|---:|",
    ]
    claims = []
    for name, (experiment, experiment_sections) in found.items():
        records = [record for section in experiment_sections for record in _records(section)]
        link = f"[{name}]({name}.md)" if (out_dir / f"{name}.md").exists() else f"{name} (not written yet)"
        completed = sum(record["status"] == "completed" for record in records)
        settings = sum(bool(_records(section)) for section in experiment_sections)
        lines.append(f"| {link} | {experiment.table} | {len(records)} | {completed} | {settings} |")
        newest = experiment_sections[0]  # newest setting first
        for result in conclusions.check(experiment.claims, top1_groups(newest), experiment.margin):
            claims.append(f"| {name} | {conclusions.describe(result, experiment.margin)} |")
    if claims:
        lines += [
            "",
            "## The paper's claims",
            "",
            "Each claim of each table, checked on the newest setting of its runs (the table says how).",
            "",
            "| experiment | claim: verdict |",
            "|---|---|",
            *claims,
        ]
    path = out_dir / "README.md"
    _write_text(path, "\n".join(lines) + "\n")
    return path


def check_out_dir(out: Path, results_dir: str | Path) -> None:
    """Make sure the tables can be written to `out` before any is: otherwise each file would fail
    on its own, with a traceback, after some were written. Refused too: the records' own folder,
    where every table's JSON would be read back as a damaged run record."""
    if out.resolve() == runs_dir(results_dir).resolve():
        why = "it is the run records' folder, where each table's JSON would be read as a damaged record: give another"
        raise ConfigError("out", str(out), why)
    check_writable_dir("out", out)


def write_reports(
    results_dir: str | Path,
    out_dir: str | Path,
    exps: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    paper: str = "auto",
    formats: Sequence[str] = (),
    matrix: bool = False,
) -> list[Path]:
    """Write the tables of `exps` (default: every file in conf/exp) and refresh `<out>/README.md`.

    `overrides` are the plain config overrides the runs were launched with (not `+exp`, `exp.row`,
    `seed` or sweep lists): they fix the SE values of each row, e.g. `se.bias=false`, and the
    setting shown before any run exists. `paper`: `auto` compares with the paper's figures only in
    the paper's setting (its dataset and model), `always` in every section. Works inside a running
    Hydra app. `formats`: csv and/or tex besides markdown and JSON; `matrix`: Tukey's all-pairs
    intervals as a matrix under each section. Returns the files written. An `out` that cannot take
    the tables is a ConfigError before any file is written (see `check_out_dir`).
    """
    if paper not in PAPER_MODES:
        raise ConfigError("paper", paper, "choose one of " + ", ".join(PAPER_MODES))
    compose_config(list(overrides))  # a mistyped override is one error (a ConfigError), not one per table
    names = experiment_names(overrides)
    for name in exps or ():
        if name not in names:
            raise ConfigError("exps", name, "choose from " + ", ".join(names))
    out = Path(out_dir)
    check_out_dir(out, results_dir)
    records = list(iter_records(results_dir))
    unfinished = (record["run_id"] for record in records if record["status"] not in ("completed", "diverged"))
    holders = {run: live_holder(results_dir, run) for run in unfinished}
    generated_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    found, written, failures = {}, [], {}
    for name in names:
        try:  # one table's failure is reported, and every other table still written
            experiment = load_experiment(name, overrides)
            found[name] = (experiment, sections(experiment, records))
            if exps is None or name in exps:
                written += write_experiment(
                    out, experiment, found[name][1], generated_at, holders, paper, formats, matrix
                )
        except Exception as error:
            log.exception("table %s could not be written", name)
            failures[name] = f"{type(error).__name__}: {error}"
    written.append(write_index(out, found, generated_at))
    if failures:
        raise TablesFailed(failures, written)
    return written
