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
from scipy.stats import binomtest

from senet_ablate.attention import attention_groups
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.metrics import TOP5_UNDEFINED, top5_defined
from senet_ablate.config import schema_node
from senet_ablate.models.complexity import Complexity, config_complexity
from senet_ablate.records.status import STATES, RunState, state_of
from senet_ablate.records.store import literal, world_size
from senet_ablate.report import conclusions, family, settle, stats
from senet_ablate.report.experiments import (
    Experiment,
    Section,
    last_update,
    records_of,
    section_evidence,
    setting_differences,
    unflatten,
)
from senet_ablate.report.paper import (
    COMPLEXITY,
    MEASURED,
    paper_figures,
    paper_has_table,
    paper_note,
    recipe_differences,
)
from senet_ablate.report.sequential import Settle


@cache
def _complexity(key: str) -> Complexity:
    return config_complexity(OmegaConf.merge(OmegaConf.structured(schema_node()), literal(json.loads(key))))


def row_complexity(setting: dict, identity: dict) -> Complexity:
    """Params and GFLOPs of a row under a setting (cached: many rows of many tables are one model).

    They depend on the model, its attention blocks and the input's class count and size only; the
    rest of a record's data keys (sizes of generated data, paths) stay out, so that records of any
    version can be counted. A record's values are data: a string `${...}` is never resolved."""
    config = unflatten({**setting, **identity})
    data = {key: value for key, value in config.get("data", {}).items() if key in ("num_classes", "image_size")}
    counted = {key: config[key] for key in ("model", "attention", *attention_groups()) if key in config}
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
        versions = {str((r.get("env") or {}).get("code_version")) for r in records if r["status"] == "completed"}
        if len(versions) > 1:  # pooled over code that may train differently: the reader must know
            count += f"; {len(versions)} code versions"
        cell = f"{mean:.2f}" + ("" if std is None else f" ± {std:.2f}") + f" ({count})"
    diff = None if mean is None or paper is None else round(round(mean, 2) - paper, 2) + 0.0  # + 0.0: no "-0.00"
    return {"cell": cell, "mean": mean, "std": std, "n": len(values), "paper": paper, "diff": diff}


def shown_paper(experiment: Experiment, section: Section, paper_mode: str = "auto") -> tuple[bool, dict, list[str]]:
    """Whether the paper's figures are shown beside a section (only in the paper's setting, unless
    `paper_mode` is `always`), its figures by row label, and how the setting differs from the paper's."""
    differences = recipe_differences(experiment.table, experiment.paper_recipe, experiment.identities, section.setting)
    show_paper = paper_has_table(experiment.table) and (paper_mode == "always" or not differences)
    paper = paper_figures(experiment.table, section.setting.get("data.name")) if show_paper else {}
    return show_paper, paper, differences


def summarize_section(
    experiment: Experiment,
    section: Section,
    holders: dict[str, dict | None],
    paper_mode: str = "auto",
    floors: Mapping[str, float] | None = None,
    all_pairs: bool = False,
) -> dict:
    """A section as data: what the markdown shows and `<exp>.json` stores. `holders`: the live
    claim of each run id that has one (a run in progress, here or on another node); `floors` and
    `all_pairs`: see `compare_rows`. The paper's
    figures are compared only in the paper's setting, unless `paper_mode` is `always`."""
    records = records_of(section)
    states = {record["run_id"]: state_of(record, holders.get(record["run_id"])) for record in records}
    show_paper, paper, differences = shown_paper(experiment, section, paper_mode)
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
        row["tta_top1_err"] = measured(runs, "tta_top1_err", None, row_states)  # a column apart: no paper, no test
        tta_flip = [((run.get("config") or {}).get("trainer") or {}).get("tta_flip") for run in runs]
        if runs and not row["tta_top1_err"]["n"] and not any(tta_flip):  # none to wait for, not a run state
            row["tta_top1_err"]["cell"] = "off"
        row.update({m: {"value": getattr(complexity, m, None), "paper": figures.get(m)} for m in COMPLEXITY})
        for metric in MEASURED if not_applicable else () if has_top5 else ("top5_err",):
            row[metric]["cell"] = "n/a"
        rows.append(row)
        unfinished += [
            RunState(label, run["seed"], run["run_id"], state, run, holders.get(run["run_id"])).describe()
            for run, state in zip(runs, row_states, strict=True)
            if state != "completed"
        ]
    comparisons = compare_rows(rows, experiment, section, floors, all_pairs)
    return {
        "setting": section.setting,
        "differs_from_defaults": setting_differences(section.setting, experiment.defaults),
        "narrowed_by": experiment.narrowed_by,
        "elsewhere": section.elsewhere,
        "elsewhere_because": section.elsewhere_because,
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


def chance_error(setting: dict) -> float:
    """The top-1 error of guessing, in points: the worst a diverged seed could have scored."""
    classes = setting.get("data.num_classes")
    return 100.0 * (1 - 1 / classes) if isinstance(classes, int) and classes > 0 else 100.0


def table_family(experiment: Experiment) -> list[stats.Pair]:
    return family.family(experiment.reference, list(experiment.identities), experiment.claims)


def section_comparisons(
    experiment: Experiment, section: Section, paper_top1: dict[str, float]
) -> dict[stats.Pair, stats.Comparison]:
    """The table's family judged on a section (`stats.compare`): one interval per pair, which the Δ
    column and the claims both read. `paper_top1`: the paper's top-1 per row where it is shown. Run
    by a settle sweep: each pair read at its look of the sweep's design instead (`settle.comparisons`)."""
    pairs = table_family(experiment)
    if section.settle is not None:
        return settle.comparisons(section.settle, section, pairs, experiment.margin, chance_error(section.setting))
    planned = {
        (row, other): paper_top1[row] - paper_top1[other]
        for row, other in pairs
        if row in paper_top1 and other in paper_top1
    }
    return stats.compare(section_evidence(section), pairs, experiment.margin, chance_error(section.setting), planned)


def method_note(experiment: Experiment, section: Section, comparisons: dict[stats.Pair, stats.Comparison]) -> str:
    """The sentence under a section that says how its Δ column (and its claims) were computed."""
    size = len(comparisons)
    seeds = "Seeds advice: simulated for this rule at each row's own spread."
    judged = [c for c in comparisons.values() if c.df is not None]
    dfs = f"df {min(c.df for c in judged):.1f} to {max(c.df for c in judged):.1f}" if judged else "no df yet"
    return (
        f"Δ top-1 vs the reference: mean(row) − mean(reference). Each comparison on its own two rows: Welch's t, "
        f"each row its own spread, Welch–Satterthwaite {dfs}; not blocked by seed (same-seed runs of different "
        f"rows are treated as independent: `results/seed_blocking.md`). A 95% and a 90% interval per comparison, "
        f"simultaneous over the table's family of {size} comparisons fixed by its experiment file (Bonferroni; its "
        f"reference comparisons and its claims' pairs, "
        f"whatever has run). better / worse: the 95% interval lies below / above 0 and the 90% is not within "
        f"±{experiment.margin:g}; … but negligible: it does and the 90% is; equivalent: the 95% holds 0 and the 90% "
        f"lies within ±{experiment.margin:g} top-1 points (`exp.margin`; two one-sided tests); unresolved: "
        f"neither. A comparison with diverged seeds must hold whatever they would have scored (from the section's "
        f"best completed run to chance). Each cell shows the interval(s) that decided its outcome. "
        + (settle_note(section.settle, size) if section.settle else seeds)
    )


def settle_note(run_by: Settle, size: int) -> str:
    """What a table run by a settle sweep reads instead of the fixed design's intervals."""
    return (
        f"Settle sweep, {run_by.design(size).describe()}"
        + (f", a budget of {run_by.budget_gpu_hours:g} device-hours" if run_by.budget_gpu_hours else "")
        + ": each comparison is read at the look that settled it (or the last it reached), on seeds 0 to n − 1 of "
        "both rows, with that look's repeated intervals (`report/sequential.py`) in place of the Bonferroni ones "
        "above, so its error holds however the rounds stopped; each cell says why it stopped. No seeds advice: "
        "the design decides the seeds; an open comparison shows its minimum detectable difference at its look."
    )


def _paper_top1(rows: list[dict]) -> dict[str, float]:
    return {row["label"]: row["top1_err"]["paper"] for row in rows if row["top1_err"]["paper"] is not None}


def checked_claims(experiment: Experiment, section: Section, paper_top1: dict[str, float] | None = None) -> list[dict]:
    """The paper's claims of the experiment file checked on a section: those on top-1 on the table's
    family of comparisons, those on params or FLOPs on each row's counted model (None where it
    cannot be counted). `paper_top1`: the paper's top-1 per row where shown, planned for (None:
    where the paper's figures are shown by default)."""
    counts = {}
    if any(family.is_counted(claim) for claim in experiment.claims):
        for label, identity in experiment.identities.items():
            try:
                counted = row_complexity(section.setting, identity)
                counts[label] = {"params_m": counted.params_m, "gflops": counted.gflops}
            except ConfigError:  # a row that does not apply to the setting: nothing to count
                counts[label] = {}
    if paper_top1 is None:
        _, paper, _ = shown_paper(experiment, section)
        paper_top1 = {
            label: figures["top1_err"] for label, figures in paper.items() if figures.get("top1_err") is not None
        }
    comparisons = section_comparisons(experiment, section, paper_top1)
    evidence = section_evidence(section)
    return conclusions.check(
        experiment.claims, comparisons, evidence, experiment.margin, counts, paper_top1, section.settle is None
    )


def compare_rows(
    rows: list[dict],
    experiment: Experiment,
    section: Section,
    floors: Mapping[str, float] | None = None,
    all_pairs: bool = False,
) -> dict:
    """Set each row's `vs_reference` (its top-1 Δ, intervals, outcome and the paper's Δ) and
    `replication`, and return the section's statistics: method, the family's comparisons, per-seed
    values, divergence, Games-Howell's all pairs and the paper's claims checked. `floors`: run id ->
    the bootstrap standard error of its top-1 error over the validation images, for the runs that
    kept their predictions; `all_pairs`: compute Games-Howell's all pairs too (seconds: scipy
    integrates the studentized range once per pair)."""
    floors = floors or {}
    evidence = section_evidence(section)
    paper_top1 = _paper_top1(rows)
    comparisons = section_comparisons(experiment, section, paper_top1)
    compared = family.references(experiment.reference, list(experiment.identities))
    checked = set(paper_top1)  # the rows whose figure the paper gives: the family, whatever has run
    with_paper_delta = {label for label, base in compared.items() if label in paper_top1 and base in paper_top1}
    for row in rows:
        label = row["label"]
        row["is_reference"] = label in compared.values()
        row["top1_values"] = [
            {"seed": run["seed"], "top1_err": run["top1_err"], "validation_std": floors.get(run["run_id"])}
            for run in section.runs[label]
            if run["status"] == "completed" and run.get("top1_err") is not None
        ]
        row["divergence"] = divergence(evidence[label])
        interval = stats.prediction_interval(evidence[label].values, len(checked)) if label in checked else None
        paper = row["top1_err"]["paper"]
        row["replication"] = (
            None
            if interval is None
            else {"prediction_interval": list(interval), "paper_inside": interval[0] <= paper <= interval[1]}
        )
        base = compared.get(label)
        if base is None:
            row["vs_reference"] = None
            continue
        comparison = family.oriented(comparisons, label, base)
        paper_delta = round(paper_top1[label] - paper_top1[base], 2) + 0.0 if label in with_paper_delta else None
        row["vs_reference"] = {
            **asdict(comparison),
            "reference": base,
            "paper_delta": paper_delta,
            **paper_delta_check(evidence[label], evidence[base], paper_delta, len(with_paper_delta), experiment.margin),
        }
    claims = checked_claims(experiment, section, paper_top1)
    return {
        "method": method_note(experiment, section, comparisons),
        "reference": experiment.reference,
        "margin": experiment.margin,
        "confidence": stats.CONFIDENCE,
        "equivalence_confidence": stats.EQUIVALENCE_CONFIDENCE,
        "family": len(comparisons),
        "comparisons": [asdict(comparison) for comparison in comparisons.values()],
        "zero_spread": zero_spread(evidence),
        "divergence": divergence_note(rows),
        "all_pairs": {
            "method": "Games-Howell (Tukey's all pairs, each row its own spread), nominally 95% simultaneous over "
            "all pairs (rows with 2+ seeds; 5.4-6.7% error measured at 3-5 seeds: results/statistics.md); another "
            "family than the table's, never read for a verdict",
            "pairs": stats.all_pairs({label: e.values for label, e in evidence.items()}) if all_pairs else [],
        },
        "replication": replication_note(rows, len(checked), len(with_paper_delta), experiment.margin),
        "validation_noise": validation_noise(section, evidence, floors),
        "batch_norm": batch_norm_note(section),
        "claims": claims,
        "claims_method": conclusions.method(experiment.claims, len(comparisons), experiment.margin),
    }


def paper_delta_check(
    row: stats.Evidence, base: stats.Evidence, paper_delta: float | None, rows: int, margin: float
) -> dict:
    """The paper's Δ (its own row − reference: two single runs) against ours: inside our 95%
    prediction interval for the Δ of one run of each row (simultaneous over the `rows` checked), and
    whether it agrees with ours within ±margin (the 90% prediction interval, moved by the paper's
    Δ, within ±margin: two one-sided tests on the paper's Δ − one run's)."""
    if paper_delta is None:
        return {"paper_delta_interval": None, "paper_delta_inside": None, "paper_delta_agrees": None}
    interval = stats.difference_prediction(row.values, base.values, rows)
    narrow = stats.difference_prediction(row.values, base.values, rows, stats.EQUIVALENCE_CONFIDENCE)
    if interval is None or narrow is None:
        return {"paper_delta_interval": None, "paper_delta_inside": None, "paper_delta_agrees": None}
    return {
        "paper_delta_interval": list(interval),
        "paper_delta_inside": interval[0] <= paper_delta <= interval[1],
        "paper_delta_agrees": -margin < narrow[0] - paper_delta and narrow[1] - paper_delta < margin,
    }


def divergence(evidence: stats.Evidence) -> dict | None:
    """A row's divergence rate with its 95% Clopper-Pearson interval (`scipy.stats.binomtest`)."""
    if not evidence.seeds:
        return None
    interval = binomtest(evidence.diverged, evidence.seeds).proportion_ci(stats.CONFIDENCE, method="exact")
    return {
        "diverged": evidence.diverged,
        "seeds": evidence.seeds,
        "rate": evidence.diverged / evidence.seeds,
        "low": interval.low,
        "high": interval.high,
    }


def divergence_note(rows: list[dict]) -> str | None:
    """Under a table where some seed diverged: each row's divergence rate, with its interval."""
    if not any((row.get("divergence") or {}).get("diverged") for row in rows):
        return None
    rates = "; ".join(
        f"{row['label']}: {d['diverged']} of {d['seeds']} ({100 * d['rate']:.0f}%, 95% CI {100 * d['low']:.0f}-"
        f"{100 * d['high']:.0f}%)"
        for row in rows
        if (d := row.get("divergence"))
    )
    return f"Divergence, seeds per row that diverged (an outcome of the recipe, counted in every comparison): {rates}."


def zero_spread(evidence: dict[str, stats.Evidence]) -> str | None:
    """A warning for rows whose seeds all gave the same top-1 error: no spread to judge by."""
    flat = [label for label, e in evidence.items() if len(e.values) > 1 and len(set(e.values)) == 1]
    if not flat:
        return None
    return (
        f"Warning: zero spread in {', '.join(flat)}: every completed seed gave the same top-1 error. Are these "
        "runs copies of one another (one seed, one cache)? A comparison between two such rows has no interval."
    )


def validation_noise(section: Section, evidence: dict[str, stats.Evidence], floors: Mapping[str, float]) -> str | None:
    """The validation set's own noise floor beside the seed noise: the standard error of one run's
    top-1 error on the section's validation images. From the runs' kept per-image predictions where
    there are some (`floors`: run id -> its bootstrap standard error), else binomial at the section's
    mean error."""
    completed = [run for runs in section.runs.values() for run in runs if run["status"] == "completed"]
    sizes = {run["epochs"][-1].get("val_images") for run in completed if run.get("epochs")} - {None}
    errors = [value for e in evidence.values() for value in e.values]
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
    spreads = [statistics.stdev(e.values) for e in evidence.values() if len(e.values) > 1]
    seeds = f"; the rows' seed-to-seed std ranges from {min(spreads):.2f} to {max(spreads):.2f}" if spreads else ""
    return f"Validation noise: one run's top-1 error on these {images} images has a standard error of {floor}{seeds}."


def batch_norm_note(section: Section) -> str | None:
    """Under a table whose runs normalised BatchNorm per process (`trainer.sync_bn=false`) on
    different numbers of processes: each process's statistics are over its share of the batch and
    evaluation uses rank 0's, so such runs differ in more than their seed, which neither the run id
    nor the setting shows (the number of processes is the record's `env.world_size`). A run with
    SyncBatchNorm, or of one process, normalises over the whole batch: it counts as one process.
    Only the runs the statistics read (completed or diverged) are counted; a record from before
    the key ran without SyncBatchNorm."""

    def per_process(run: dict) -> bool:
        return (run["config"].get("trainer") or {}).get("sync_bn") is not True and world_size(run) > 1

    counted = {
        label: [run for run in runs if run["status"] in ("completed", "diverged")]
        for label, runs in section.runs.items()
    }
    splits = {world_size(run) if per_process(run) else 1 for runs in counted.values() for run in runs}
    if len(splits) < 2:
        return None
    cuda = all(
        (run["config"].get("trainer") or {}).get("device") == "cuda" for runs in counted.values() for run in runs
    )
    one, unit = ("GPU", "GPUs") if cuda else ("process", "processes")
    rows = "; ".join(
        f"{label}: {' and '.join(str(size) for size in sizes)} {one if sizes == [1] else unit}"
        for label, runs in counted.items()
        if (sizes := sorted({world_size(run) for run in runs}))
    )
    return (
        f"BatchNorm per {one} (`trainer.sync_bn=false`) on different numbers of {unit}: each normalised over "
        f"its share of the batch and evaluation used rank 0's running statistics, so the BatchNorm batch differs "
        f"between runs that the table pools or compares ({rows}). Rerun on one number of {unit}, or with "
        f"`trainer.sync_bn=true` (CUDA)."
    )


def replication_note(rows: list[dict], checked: int, with_delta: int, margin: float) -> str | None:
    """Under a table with the paper's figures: in how many rows the paper's top-1 falls in our 95%
    prediction interval for one more run, and the paper's Δ (two single runs) in ours for the Δ of
    one run of each row, each simultaneous over the rows checked; and where the paper's Δ agrees
    with ours within ±margin."""
    figures = {row["label"]: row["replication"]["paper_inside"] for row in rows if row.get("replication")}
    deltas = {
        row["label"]: row["vs_reference"]["paper_delta_inside"]
        for row in rows
        if (row.get("vs_reference") or {}).get("paper_delta_inside") is not None
    }
    agree = [
        label for label in deltas if next(r for r in rows if r["label"] == label)["vs_reference"]["paper_delta_agrees"]
    ]
    if not figures:
        return None

    def count(found: dict[str, bool]) -> str:
        outside = [label for label, inside in found.items() if not inside]
        return f"{len(found) - len(outside)} of {len(found)} rows" + (
            f" (not: {', '.join(outside)})" if outside else ""
        )

    note = (
        f"Replication: the paper's top-1 (one run) lies in our 95% prediction interval for one more run in "
        f"{count(figures)} (simultaneous over the {checked} rows, Bonferroni)"
    )
    if not deltas:
        return note + "."
    return note + (
        f"; the paper's Δ vs the reference (a difference of two single runs) lies in our 95% prediction interval "
        f"for such a difference in {count(deltas)} (simultaneous over {with_delta}); it agrees with ours within "
        f"±{margin:g} (90% prediction interval, two one-sided tests) in {len(agree)} of {len(deltas)}"
        + (f" ({', '.join(agree)})" if agree else "")
        + "."
    )
