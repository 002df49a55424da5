"""The paper's conclusions from a table (`exp.claims`), checked on the runs: holds, contradicted, or
unresolved at n seeds with the seeds that would settle it.

A claim relates some rows to others in top-1 error (lower is better). Each (row, other) pair it
names is one comparison; all the comparisons of a table's claims form one family, judged with
pooled-variance t intervals Bonferroni-corrected over it (`stats.versus_pairs`), so that a table
of many claims does not find one by chance. With Δ = mean(row) − mean(other), 95% / 90% the
family's simultaneous intervals and m the margin (`exp.margin`):

  relation     holds when                          contradicted when
  better       95% interval below 0                 95% above 0, or 90% within ±m (no real gain)
  worse        95% interval above 0                 95% below 0, or 90% within ±m
  equivalent   90% interval within ±m (TOST)        95% interval beyond m or below −m
  not_worse    90% interval below +m                95% interval above +m
  not_better   90% interval above −m                95% interval below −m

A claim holds when every one of its comparisons does, is contradicted when any one is, and is
otherwise unresolved.

A claim about a counted quantity of the models (`metric: params_m` or `gflops`, relation `fewer` or
`more`) is the same for every seed: it is checked exactly on the counted values, with no interval,
and stays out of the family. It is unresolved only where a row's model cannot be counted.
"""

from collections.abc import Mapping, Sequence
from itertools import combinations

from senet_ablate.report import stats


def pairs_of(claim: Mapping) -> list[tuple[str, str]]:
    """The (row, other) comparisons a claim makes: each row with each `than`, or, for rows said to
    be equivalent to each other, each pair of them."""
    if claim["than"]:
        return [(row, other) for row in claim["rows"] for other in claim["than"]]
    return list(combinations(claim["rows"], 2))


def is_counted(claim: Mapping) -> bool:
    """Whether a claim is about a counted quantity (params, FLOPs), not about measured top-1 error."""
    return claim.get("metric", "top1_err") != "top1_err"


def family(claims: Sequence[Mapping], groups: Mapping[str, Sequence[float]]) -> list[tuple[str, str]]:
    """The comparisons the table's claims on top-1 make that have runs on both sides: the Bonferroni family."""
    pairs = dict.fromkeys(pair for claim in claims if not is_counted(claim) for pair in pairs_of(claim))
    return [(row, other) for row, other in pairs if groups.get(row) and groups.get(other)]


def judge(relation: str, comparison: stats.Comparison, margin: float) -> str:
    """One comparison's verdict for a relation (see the module docstring)."""
    if comparison.low is None:
        return "unresolved"
    low, high, eq_low, eq_high = (
        comparison.low,
        comparison.high,
        comparison.equivalence_low,
        comparison.equivalence_high,
    )
    within = -margin < eq_low and eq_high < margin
    holds, contradicted = {
        "better": (high < 0, low > 0 or within),
        "worse": (low > 0, high < 0 or within),
        "equivalent": (within, low > margin or high < -margin),
        "not_worse": (eq_high < margin, low > margin),
        "not_better": (eq_low > -margin, high < -margin),
    }[relation]
    return "holds" if holds else "contradicted" if contradicted else "unresolved"


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


def check(
    claims: Sequence[Mapping],
    groups: Mapping[str, Sequence[float]],
    margin: float,
    counts: Mapping[str, Mapping[str, float | None]] | None = None,
) -> list[dict]:
    """Each claim with its verdict, its comparisons and, unresolved, the seeds that would settle it.
    `counts`: each row's params and FLOPs, for the claims about them (see `check_counted`)."""
    compared = family(claims, groups)
    comparisons = stats.versus_pairs(groups, compared, margin)
    spread = stats.pooled(groups)
    results = []
    for claim in claims:
        if is_counted(claim):
            results.append(check_counted(claim, counts or {}))
            continue
        pairs = pairs_of(claim)
        judged = [
            (row, other, comparisons.get((row, other)), judge(claim["relation"], comparisons[(row, other)], margin))
            if (row, other) in comparisons
            else (row, other, None, "unresolved")
            for row, other in pairs
        ]
        verdicts = {verdict for *_, verdict in judged}
        verdict = "contradicted" if "contradicted" in verdicts else "holds" if verdicts == {"holds"} else "unresolved"
        seeds = min((len(groups.get(label) or ()) for pair in pairs for label in pair), default=0)
        needed = None
        if verdict == "unresolved" and spread.std:
            needed = stats.seeds_needed(margin, spread.std, spread.rows, max(len(compared), 1))
        results.append(
            {
                "says": claim["says"],
                "relation": claim["relation"],
                "metric": "top1_err",
                "verdict": verdict,
                "seeds": seeds,
                "seeds_needed": needed,
                "comparisons": [
                    {
                        "row": row,
                        "other": other,
                        "verdict": pair_verdict,
                        **(
                            {"delta": None}
                            if comparison is None
                            else {"delta": comparison.delta, "low": comparison.low, "high": comparison.high}
                        ),
                    }
                    for row, other, comparison, pair_verdict in judged
                ],
            }
        )
    return results


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
        evidence = "; ".join(
            f"{c['row']} − {c['other']}: {c['delta']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]" for c in shown[:3]
        )
        more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
        return f"{result['says']}: **{result['verdict']}** ({evidence}{more})"
    if not result["seeds"]:
        return f"{result['says']}: unresolved, some of its rows have no completed run"
    if result["seeds_needed"] is None:
        why = "one seed per row: no spread yet" if result["seeds"] == 1 else "more than 100 seeds per row to settle it"
        return f"{result['says']}: unresolved at {result['seeds']} seed(s) ({why})"
    return (
        f"{result['says']}: unresolved at {result['seeds']} seed(s) "
        f"({result['seeds_needed']} seeds per row give 80% power at ±{margin:g})"
    )


def method(claims: Sequence[Mapping], groups: Mapping[str, Sequence[float]], margin: float) -> str:
    """The sentence above a table's claims: the family its intervals hold over, as `check` forms it."""
    counted = (
        " Claims on params or FLOPs are checked exactly on the counted models." if any(map(is_counted, claims)) else ""
    )
    return (
        f"The paper's claims, checked: {len(family(claims, groups))} comparisons of top-1, each at 95% simultaneous "
        f"over them (Bonferroni, pooled variance, df = {stats.pooled(groups).df}); margin ±{margin:g} top-1 points "
        "(see `report/conclusions.py` for when a claim holds or is contradicted)."
        + (" Claims on params or FLOPs are checked exactly on the counted models." if counted else "")
    )
