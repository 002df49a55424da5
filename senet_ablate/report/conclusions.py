"""The paper's conclusions from a table (`exp.claims`), checked on the runs: holds, contradicted, or
unresolved at n seeds with the seeds that would settle it.

A claim relates some rows to others in top-1 error (lower is better). Each (row, other) pair it
names is one comparison of the table's family (`report/family.py`), read off the very intervals the
table's Δ column shows (`stats.compare`): a claim and a cell about one pair cannot disagree. With the
pair's outcome, its 95% / 90% simultaneous intervals and m the margin (`exp.margin`):

  relation     holds when                          contradicted when
  better       outcome better                       outcome worse (negligible or not), equivalent or
                                                    better but negligible (no gain of interest)
  worse        outcome worse                        the mirror of better's
  equivalent   90% interval within ±m               95% interval beyond +m or below −m
  not_worse    90% interval below +m                95% interval above +m
  not_better   90% interval above −m                95% interval below −m

A claim over several pairs holds when every one of its comparisons does: an intersection-union
test, which needs no split of the level among its own pairs (the family's Bonferroni already covers
every pair); it is contradicted when any one is, and is otherwise unresolved.

A claim about a counted quantity of the models (`metric: params_m` or `gflops`, relation `fewer` or
`more`) is the same for every seed: it is checked exactly on the counted values, with no interval,
and stays out of the family. It is unresolved only where a row's model cannot be counted.
"""

from collections.abc import Mapping, Sequence

import numpy as np

from senet_ablate.report import stats
from senet_ablate.report.family import is_counted, oriented, pairs_of


def _as_judged(comparison: stats.Comparison) -> stats.Judged:
    """One comparison as the arrays `stats.relation_verdicts` reads (NaN where there is no bound)."""

    def array(value: float | None) -> np.ndarray:
        return np.array([np.nan if value is None else value])

    bounds = (comparison.low, comparison.high, comparison.equivalence_low, comparison.equivalence_high)
    return stats.Judged(
        array(comparison.delta),
        *map(array, bounds),
        array(comparison.df),
        array(comparison.p_value),
        np.array([stats.OUTCOMES.index(comparison.verdict)]),
    )


def judge(relation: str, comparison: stats.Comparison, margin: float) -> str:
    """One comparison's verdict for a relation (see the module docstring)."""
    holds, contradicted = stats.relation_verdicts(relation, _as_judged(comparison), margin)
    return "holds" if holds[0] else "contradicted" if contradicted[0] else "unresolved"


def check_counted(claim: Mapping, counts: Mapping[str, Mapping[str, float | None]]) -> dict:
    """A claim on params or FLOPs, checked exactly on each row's counted value (`counts`: row label
    -> {metric: value}, None where the row's model cannot be counted)."""
    metric, comparisons = claim["metric"], []
    for row, other in pairs_of(claim):
        ours, theirs = (counts.get(label, {}).get(metric) for label in (row, other))
        if ours is None or theirs is None:
            verdict = "unresolved"
        else:
            verdict = "holds" if (ours < theirs if claim["relation"] == "fewer" else ours > theirs) else "contradicted"
        comparisons.append({"row": row, "other": other, "verdict": verdict, "row_value": ours, "other_value": theirs})
    verdicts = {comparison["verdict"] for comparison in comparisons}
    verdict = "contradicted" if "contradicted" in verdicts else "holds" if verdicts == {"holds"} else "unresolved"
    return {
        "says": claim["says"],
        "relation": claim["relation"],
        "metric": metric,
        "verdict": verdict,
        "comparisons": comparisons,
    }


def plan(
    claim: Mapping, rows: Mapping[str, stats.Evidence], paper: Mapping[str, float], family: int, margin: float
) -> dict:
    """The seeds per row at which an unresolved claim holds with 80% probability, simulated for the
    exact rule at each row's own spread: for better / worse at the paper's own figures where it has
    them for every row of the claim (else at ±margin), for the others at no difference. Empty where
    a row has under two completed seeds or no spread."""
    labels = list(dict.fromkeys(label for pair in pairs_of(claim) for label in pair))
    if any(len(rows.get(label, stats.Evidence(())).values) < 2 for label in labels):
        return {}
    stds = {label: float(np.std(rows[label].values, ddof=1)) for label in labels}
    if not any(stds.values()):
        return {}
    relation, at = claim["relation"], "no difference"
    if relation in ("better", "worse") and all(label in paper for label in labels):
        means, at = {label: paper[label] for label in labels}, "the paper's figures"
    elif relation in ("better", "worse"):
        shift = -margin if relation == "better" else margin
        means, at = {label: shift if label in claim["rows"] else 0.0 for label in labels}, f"a Δ of {shift:+g}"
    else:
        means = dict.fromkeys(labels, 0.0)
    pairs = pairs_of(claim)

    def holds(judged: dict) -> np.ndarray:
        return np.all([stats.relation_verdicts(relation, judged[pair], margin)[0] for pair in pairs], axis=0)

    needed, chance = stats.plan_seeds(means, stds, pairs, family, margin, holds)
    return {"seeds_needed": needed, "planned_power": chance, "planned_at": at}


def check(
    claims: Sequence[Mapping],
    comparisons: Mapping[stats.Pair, stats.Comparison],
    rows: Mapping[str, stats.Evidence],
    margin: float,
    counts: Mapping[str, Mapping[str, float | None]] | None = None,
    paper: Mapping[str, float] | None = None,
    advise: bool = True,
) -> list[dict]:
    """Each claim with its verdict, its comparisons and, unresolved, the seeds that would settle it.
    `comparisons`: the table's family (`stats.compare`); `rows`: each row's evidence; `counts`: each
    row's params and FLOPs, for the claims about them (see `check_counted`); `paper`: the paper's
    top-1 per row where it is shown, planned for in the seeds advice. `advise=False`: no seeds advice
    (a settle sweep's design decides the seeds; an unresolved claim says where its comparisons stopped)."""
    results = []
    for claim in claims:
        if is_counted(claim):
            results.append(check_counted(claim, counts or {}))
            continue
        judged = [
            (comparison, judge(claim["relation"], comparison, margin)) for comparison in _read(claim, comparisons)
        ]
        verdicts = {verdict for _, verdict in judged}
        verdict = "contradicted" if "contradicted" in verdicts else "holds" if verdicts == {"holds"} else "unresolved"
        labels = {label for pair in pairs_of(claim) for label in pair}
        result = {
            "says": claim["says"],
            "relation": claim["relation"],
            "metric": "top1_err",
            "verdict": verdict,
            "seeds": min((len(rows.get(label, stats.Evidence(())).values) for label in labels), default=0),
            "diverged": {
                label: rows[label].diverged for label in sorted(labels) if label in rows and rows[label].diverged
            },
            "comparisons": [
                {
                    "row": comparison.row,
                    "other": comparison.other,
                    "verdict": pair_verdict,
                    "outcome": comparison.verdict,
                    "delta": comparison.delta,
                    "low": comparison.low,
                    "high": comparison.high,
                    "equivalence_low": comparison.equivalence_low,
                    "equivalence_high": comparison.equivalence_high,
                }
                for comparison, pair_verdict in judged
            ],
        }
        stopped = [comparison.stopped for comparison, pair_verdict in judged if pair_verdict == "unresolved"]
        if verdict == "unresolved" and any(stopped):
            result["stopped"] = "; ".join(dict.fromkeys(filter(None, stopped)))
        if verdict == "unresolved" and not result["diverged"] and advise:
            result.update(plan(claim, rows, paper or {}, len(comparisons), margin))
        results.append(result)
    return results


def _read(claim: Mapping, comparisons: Mapping[stats.Pair, stats.Comparison]) -> list[stats.Comparison]:
    return [oriented(comparisons, row, other) for row, other in pairs_of(claim)]


def _interval(comparison: Mapping, relation: str) -> str:
    """The interval that decided a comparison for a relation: 90% for equivalence, else 95%."""
    if comparison["low"] is None:
        return f"{comparison['row']} − {comparison['other']}: no interval"
    ninety = relation in ("equivalent", "not_worse", "not_better")
    low, high = (
        (comparison["equivalence_low"], comparison["equivalence_high"])
        if ninety
        else (comparison["low"], comparison["high"])
    )
    return (
        f"{comparison['row']} − {comparison['other']}: {comparison['delta']:+.2f} "
        f"{'90' if ninety else '95'}% [{low:+.2f}, {high:+.2f}] {comparison['outcome']}"
    )


def describe(result: Mapping, margin: float) -> str:
    """A claim's line under its table: its words, its verdict and what it rests on."""
    if result["metric"] != "top1_err":
        unit = {"params_m": "M params", "gflops": "GFLOPs"}[result["metric"]]
        evidence = "; ".join(
            f"{c['row']} {c['row_value']:.4g} vs {c['other']} {c['other_value']:.4g} {unit}"
            if c["verdict"] != "unresolved"
            else f"{c['row']} or {c['other']} cannot be counted in this setting"
            for c in result["comparisons"]
        )
        return f"{result['says']}: **{result['verdict']}**, counted ({evidence})"
    if result["verdict"] != "unresolved":
        shown = [c for c in result["comparisons"] if c["verdict"] == result["verdict"]]
        evidence = "; ".join(_interval(c, result["relation"]) for c in shown[:3])
        more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
        return f"{result['says']}: **{result['verdict']}** ({evidence}{more})"
    if not result["seeds"]:
        return f"{result['says']}: unresolved, some of its rows have no completed run"
    if result.get("stopped"):  # a settle sweep's: where its open comparisons stopped
        return f"{result['says']}: unresolved ({result['stopped']})"
    if result["diverged"]:
        gone = ", ".join(f"{label}: {count}" for label, count in result["diverged"].items())
        return (
            f"{result['says']}: unresolved at {result['seeds']} completed seed(s): diverged seeds ({gone}) "
            "could have scored anything, and the survivors alone decide nothing"
        )
    if "seeds_needed" not in result:
        why = "one seed per row: no spread yet" if result["seeds"] == 1 else "no spread to plan with"
        return f"{result['says']}: unresolved at {result['seeds']} seed(s) ({why})"
    chance = f"{100 * result['planned_power']:.0f}%"
    if result["seeds_needed"] is None:
        return (
            f"{result['says']}: unresolved at {result['seeds']} seed(s) (even {stats.MAX_SEEDS} seeds per row "
            f"make it hold only {chance} of the time at {result['planned_at']})"
        )
    return (
        f"{result['says']}: unresolved at {result['seeds']} seed(s) ({result['seeds_needed']} seeds per row make "
        f"it hold {chance} of the time at {result['planned_at']}, simulated)"
    )


def method(claims: Sequence[Mapping], family: int, margin: float) -> str:
    """The sentence above a table's claims."""
    counted = (
        " Claims on params or FLOPs are checked exactly on the counted models." if any(map(is_counted, claims)) else ""
    )
    return (
        f"The paper's claims, checked on the same intervals as the Δ column (the table's family of {family} "
        f"comparisons, fixed by its experiment file); a claim over several pairs holds when each of them does "
        f"(intersection-union); margin ±{margin:g} top-1 points (see `report/conclusions.py` for when a claim holds "
        "or is contradicted)." + counted
    )
