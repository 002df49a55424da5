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


def family(claims: Sequence[Mapping], groups: Mapping[str, Sequence[float]]) -> list[tuple[str, str]]:
    """The comparisons the table's claims make that have runs on both sides: the Bonferroni family."""
    pairs = dict.fromkeys(pair for claim in claims for pair in pairs_of(claim))
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


def check(claims: Sequence[Mapping], groups: Mapping[str, Sequence[float]], margin: float) -> list[dict]:
    """Each claim with its verdict, its comparisons and, unresolved, the seeds that would settle it."""
    compared = family(claims, groups)
    comparisons = stats.versus_pairs(groups, compared, margin)
    spread = stats.pooled(groups)
    results = []
    for claim in claims:
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
    return (
        f"The paper's claims, checked: {len(family(claims, groups))} comparisons, each at 95% simultaneous over "
        f"them (Bonferroni, pooled variance, df = {stats.pooled(groups).df}); margin ±{margin:g} top-1 points "
        "(see `report/conclusions.py` for when a claim holds or is contradicted)."
    )
