"""One round of a settle sweep decided from the records alone: each comparison of the table's family
settled or open, the rows that need more seeds, and why the sweep stops.

A pure function of the records (row label -> seed -> run record) and the declared design
(`report/sequential.py`), so a driver killed at any point and started again decides the same:
nothing is remembered between rounds but the records. Each look k reads the seeds 0 .. n_k − 1 of
both rows of a comparison, and is reached only when every one of them is final (completed or
diverged; a failed or missing seed is run again first). The looks are replayed in order; a
comparison is settled at the first look whose repeated intervals give an outcome other than
unresolved (`stats.outcome_codes`: better, worse, equivalent or negligible) and keeps it, and it is
open until then. After the last look an open comparison is unresolved at the maximum seeds.

A row runs while any comparison needing it is open (so the reference row runs while any row is
still compared with it); a row whose comparisons are all settled gets no more seeds.

The table of a settle sweep (`comparisons`) shows each comparison as decided here: its Δ and
repeated intervals at the look that settled it (or the last look it reached), and why it stopped.
The cells and the claims read those same comparisons, so they and the driver never disagree.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from senet_ablate.records.store import FINAL_STATUSES, device_hours
from senet_ablate.report import stats
from senet_ablate.report.experiments import Section, section_evidence
from senet_ablate.report.sequential import Design, Settle

SETTLED, MAX_SEEDS, BUDGET = "settled", "max seeds", "budget"  # why a settle sweep stops


@dataclass(frozen=True)
class Decision:
    """A comparison after the looks its records reach: its outcome (unresolved while open), the look
    that settled it (0-based; None while open), the seeds per row it was read at and the comparison
    itself at that look (its repeated intervals; None before any look)."""

    pair: stats.Pair
    verdict: str
    look: int | None
    seeds: int
    comparison: stats.Comparison | None = None


@dataclass(frozen=True)
class Round:
    """What the records decide: every comparison, the rows to run next and up to how many seeds
    (seeds 0 .. seeds − 1 of each), or why the sweep stops (then no rows)."""

    decisions: dict[stats.Pair, Decision]
    rows: tuple[str, ...]
    seeds: int
    stop: str | None


def _reached(runs: Mapping[int, dict], seeds: int) -> bool:
    return all(runs.get(seed, {}).get("status") in FINAL_STATUSES for seed in range(seeds))


def _first(runs: Mapping[str, Mapping[int, dict]], seeds: int) -> Section:
    return Section({}, {label: [by_seed[s] for s in range(seeds)] for label, by_seed in runs.items()})


def decide(
    design: Design,
    runs: Mapping[str, Mapping[int, dict]],
    pairs: Sequence[stats.Pair],
    margin: float,
    chance: float,
) -> dict[stats.Pair, Decision]:
    """Every comparison of the family replayed over the looks its records reach (see the module)."""
    decisions = {pair: Decision(pair, "unresolved", None, 0) for pair in pairs}
    for look, seeds in enumerate(design.looks):
        reached = {label for label, by_seed in runs.items() if _reached(by_seed, seeds)}
        judged_now = [p for p in pairs if decisions[p].look is None and set(p) <= reached]
        if not judged_now:
            continue
        evidence = section_evidence(_first({label: runs[label] for label in reached}, seeds))
        compared = stats.compare(evidence, judged_now, margin, chance, levels=design.levels(look), size=design.family)
        for pair in judged_now:
            verdict = compared[pair].verdict
            decisions[pair] = Decision(pair, verdict, look if verdict != "unresolved" else None, seeds, compared[pair])
    return decisions


def next_round(
    design: Design,
    runs: Mapping[str, Mapping[int, dict]],
    pairs: Sequence[stats.Pair],
    margin: float,
    chance: float,
    budget_hours: float | None = None,
) -> Round:
    """The decisions and the next round: the seeds of the first look some open comparison has not
    reached, for the rows of the open comparisons short of them. Stops when every comparison is
    settled, when the open ones have had their last look (the maximum seeds), or when the device-hours
    spent plus the next round's (each run priced at the mean of the completed ones) would exceed
    `budget_hours`."""
    decisions = decide(design, runs, pairs, margin, chance)
    open_pairs = [pair for pair, decision in decisions.items() if decision.look is None]
    if not open_pairs:
        return Round(decisions, (), 0, SETTLED)
    if all(decisions[pair].seeds == design.looks[-1] for pair in open_pairs):
        return Round(decisions, (), 0, MAX_SEEDS)
    seeds = min(
        design.looks[design.looks.index(decisions[pair].seeds) + 1 if decisions[pair].seeds else 0]
        for pair in open_pairs
        if decisions[pair].seeds < design.looks[-1]
    )
    labels = dict.fromkeys(label for pair in open_pairs for label in pair)
    rows = tuple(label for label in labels if not _reached(runs.get(label, {}), seeds))
    if budget_hours is not None:
        done = [record for by_seed in runs.values() for record in by_seed.values()]
        hours = [device_hours(record) for record in done if record.get("status") == "completed"]
        missing = sum(
            runs.get(label, {}).get(seed, {}).get("status") not in FINAL_STATUSES
            for label in rows
            for seed in range(seeds)
        )
        spent = sum(device_hours(record) for record in done)
        if hours and spent + missing * sum(hours) / len(hours) > budget_hours:
            return Round(decisions, (), 0, BUDGET)
    return Round(decisions, rows, seeds, None)


def why(decision: Decision, step: Round, design: Design) -> str:
    """Why a comparison stopped where it did, or where it stands, in the words of its table cell."""
    if decision.look is not None:
        return f"settled after {decision.seeds} seeds per row (look {decision.look + 1} of {len(design.looks)})"
    if not decision.seeds:
        return f"its first look ({design.looks[0]} seeds per row) not reached yet"
    if decision.seeds == design.looks[-1]:
        return f"max seeds reached ({decision.seeds} per row)"
    if step.stop == BUDGET:
        return f"budget reached at {decision.seeds} seeds per row"
    return f"open at {decision.seeds} seeds per row: the next round runs {step.seeds}"


def comparisons(
    settle: Settle, section: Section, pairs: Sequence[stats.Pair], margin: float, chance: float
) -> dict[stats.Pair, stats.Comparison]:
    """The table's family on a section run by a settle sweep: each comparison as `decide` read it, at
    the look that settled it or the last it reached (its seeds 0 .. n − 1 of both rows), with why it
    stopped; one not at its first look yet has no interval."""
    design = settle.design(len(pairs))
    runs = {label: {run["seed"]: run for run in records} for label, records in section.runs.items()}
    step = next_round(design, runs, pairs, margin, chance, settle.budget_gpu_hours)
    evidence = section_evidence(section)
    shown = {}
    for pair, decision in step.decisions.items():
        comparison = decision.comparison
        if comparison is None:
            rows = [evidence.get(label, stats.Evidence(())) for label in pair]
            seeds, diverged = tuple(len(row.values) for row in rows), tuple(row.diverged for row in rows)
            comparison = stats.Comparison(*pair, *[None] * 7, "unresolved", seeds, diverged, False)
        shown[pair] = replace(comparison, stopped=why(decision, step, design))
    return shown
