"""A section of runs as data: each row's cells, its Δ against its reference with an interval and a
verdict, the paper's claims checked, and the noise the conclusions rest on. What the markdown
shows and `<exp>.json` stores; the statistics themselves are `stats.py` and `conclusions.py`.
"""

import json
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from functools import cache

from omegaconf import OmegaConf

from senet_ablate.base.errors import ConfigError
from senet_ablate.base.metrics import TOP5_UNDEFINED, top5_defined
from senet_ablate.config import ATTENTION_GROUPS, PAIRS, RESOLVED_BY_THE_MACHINE, Config
from senet_ablate.models.complexity import Complexity, config_complexity
from senet_ablate.records.status import STATES, RunState, state_of
from senet_ablate.records.store import literal
from senet_ablate.report import conclusions, stats
from senet_ablate.report.experiments import FINGERPRINT, Experiment, Section, last_update, records_of, unflatten
from senet_ablate.report.paper import (
    COMPLEXITY,
    MEASURED,
    paper_figures,
    paper_has_table,
    paper_note,
    recipe_differences,
)


@cache
def _complexity(key: str) -> Complexity:
    return config_complexity(OmegaConf.merge(OmegaConf.structured(Config), literal(json.loads(key))))


def row_complexity(setting: dict, identity: dict) -> Complexity:
    """Params and GFLOPs of a row under a setting (cached: many rows of many tables are one model).

    They depend on the model, its attention blocks and the input's class count and size only; the
    rest of a record's data keys (sizes of generated data, paths) stay out, so that records of any
    version can be counted. A record's values are data: a string `${...}` is never resolved."""
    config = unflatten({**setting, **identity})
    data = {key: value for key, value in config.get("data", {}).items() if key in ("num_classes", "image_size")}
    counted = {key: config[key] for key in ("model", "attention", *ATTENTION_GROUPS) if key in config}
    return _complexity(json.dumps({**counted, "data": data}, sort_keys=True))


def status_counts(statuses: dict[str, int]) -> str:
    return ", ".join(f"{statuses[state]} {state}" for state in STATES if statuses.get(state))


def measured(records: list[dict], metric: str, paper: float | None, states: list[str]) -> dict:
    """One error cell. Only completed runs give numbers; the others show their state (`records/status.py`)."""
    values = [r[metric] for r in records if r["status"] == "completed" and r.get(metric) is not None]
    mean = statistics.fmean(values) if values else None
    std = statistics.stdev(values) if len(values) > 1 else None
    if not records:
        cell = "pending"
    elif not values:
        counts = Counter(states)
        cell = next(iter(counts)) if len(counts) == 1 else status_counts(counts)
    else:
        others = Counter(
            state for record, state in zip(records, states, strict=True) if record["status"] != "completed"
        )
        count = f"n={len(values)}" + (f" of {len(records)}, {status_counts(others)}" if others else "")
        cell = f"{mean:.2f}" + ("" if std is None else f" ± {std:.2f}") + f" ({count})"
    diff = None if mean is None or paper is None else round(round(mean, 2) - paper, 2) + 0.0  # + 0.0: no "-0.00"
    return {"cell": cell, "mean": mean, "std": std, "n": len(values), "paper": paper, "diff": diff}


def summarize_section(
    experiment: Experiment,
    section: Section,
    holders: dict[str, dict | None],
    paper_mode: str = "auto",
    floors: Mapping[str, float] | None = None,
) -> dict:
    """A section as data: what the markdown shows and `<exp>.json` stores. `holders`: the live
    claim of each run id that has one (a run in progress, here or on another node); `floors`: see
    `compare_rows`. The paper's
    figures are compared only in the paper's setting, unless `paper_mode` is `always`."""
    records = records_of(section)
    states = {record["run_id"]: state_of(record, holders.get(record["run_id"])) for record in records}
    differences = recipe_differences(experiment.table, experiment.paper_recipe, experiment.identities, section.setting)
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
    comparisons = compare_rows(rows, experiment, section, floors)
    setting, defaults = section.setting, experiment.defaults
    differs = sorted(  # what the machine decided (data.loader=auto, channels_last=null) nobody typed
        key
        for key in setting.keys() | defaults.keys()
        if key != FINGERPRINT
        and setting.get(key) != defaults.get(key)
        and not (key in RESOLVED_BY_THE_MACHINE and defaults.get(key) in ("auto", None))
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
        "updated_at": last_update(records),
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


def checked_claims(experiment: Experiment, section: Section) -> list[dict]:
    """The paper's claims of the experiment file checked on a section: those on top-1 on its completed
    seeds, those on params or FLOPs on each row's counted model (None where it cannot be counted)."""
    counts = {}
    if any(conclusions.is_counted(claim) for claim in experiment.claims):
        for label, identity in experiment.identities.items():
            try:
                counted = row_complexity(section.setting, identity)
                counts[label] = {"params_m": counted.params_m, "gflops": counted.gflops}
            except ConfigError:  # a row that does not apply to the setting: nothing to count
                counts[label] = {}
    return conclusions.check(experiment.claims, top1_groups(section), experiment.margin, counts)


def top1_groups(section: Section) -> dict[str, list[float]]:
    """Each row's top-1 errors over its completed seeds: what the statistics are computed from."""
    return {
        label: [run["top1_err"] for run in runs if run["status"] == "completed" and run.get("top1_err") is not None]
        for label, runs in section.runs.items()
    }


def compare_rows(
    rows: list[dict], experiment: Experiment, section: Section, floors: Mapping[str, float] | None = None
) -> dict:
    """Set each row's `vs_reference` (its top-1 Δ, interval, verdict and the paper's Δ) and return the
    section's statistics: method, pooled spread, per-seed values, Tukey's all-pairs intervals and
    the paper's claims checked. `floors`: run id -> the bootstrap standard error of its top-1 error
    over the validation images, for the runs that kept their predictions."""
    floors = floors or {}
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
            {"seed": run["seed"], "top1_err": run["top1_err"], "validation_std": floors.get(run["run_id"])}
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
        "validation_noise": validation_noise(section, top1, spread, floors),
        "claims": checked_claims(experiment, section),
        "claims_method": conclusions.method(experiment.claims, top1, experiment.margin),
    }


def validation_noise(
    section: Section, top1: dict[str, list[float]], spread: stats.Pooled, floors: Mapping[str, float]
) -> str | None:
    """The validation set's own noise floor beside the seed noise: the standard error of one run's
    top-1 error on the section's validation images. From the runs' kept per-image predictions where
    there are some (`floors`: run id -> its bootstrap standard error), else binomial at the section's
    mean error."""
    completed = [run for runs in section.runs.values() for run in runs if run["status"] == "completed"]
    sizes = {run["epochs"][-1].get("val_images") for run in completed if run.get("epochs")} - {None}
    errors = [value for values in top1.values() for value in values]
    if len(sizes) != 1 or not errors:
        return None
    (images,) = sizes
    mean_error = statistics.fmean(errors)
    binomial = stats.binomial_std(mean_error, images)
    bootstrapped = [floors[run["run_id"]] for run in completed if run["run_id"] in floors]
    if bootstrapped:
        floor = f"{statistics.fmean(bootstrapped):.2f} points (per-image bootstrap, {stats.BOOTSTRAP_RESAMPLES} "
        floor += f"resamples, mean over the {len(bootstrapped)} runs that kept their predictions; binomial: "
        floor += f"{binomial:.2f})"
    else:
        floor = f"{binomial:.2f} points (binomial, at the section's mean error {mean_error:.2f}%: no run kept "
        floor += "usable per-image predictions)"
    seeds = "" if spread.std is None else f"; the seed-to-seed std pooled over the rows is {spread.std:.2f}"
    return f"Validation noise: one run's top-1 error on these {images} images has a standard error of {floor}{seeds}."


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
