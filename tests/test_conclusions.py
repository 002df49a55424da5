"""The paper's claims checked on hand-made results: each verdict read off the family's intervals,
which are checked against statsmodels in test_stats.py and written out again here."""

import pytest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from senet_ablate.report import conclusions, stats
from senet_ablate.report.family import family

MARGIN = 0.2
E = stats.Evidence


def claim(says, relation, rows, than=()):
    return {"says": says, "relation": relation, "rows": list(rows), "than": list(than)}


def checked(claims, groups, reference=None, paper=None, counts=None):
    """The claims as the report checks them: on the family the file declares (its reference
    comparisons and its claims' pairs), whatever has run."""
    rows = {label: values if isinstance(values, E) else E(tuple(values)) for label, values in groups.items()}
    pairs = family(reference, list(rows), claims)
    comparisons = stats.compare(rows, pairs, MARGIN, chance=90.0)
    return conclusions.check(claims, comparisons, rows, MARGIN, counts, paper), len(pairs)


def welch(groups, row, other, family_size, confidence=0.95):
    compare = CompareMeans(DescrStatsW(groups[row]), DescrStatsW(groups[other]))
    return compare.tconfint_diff(alpha=(1 - confidence) / family_size, usevar="unequal")


def test_a_claim_that_holds_is_said_with_the_interval_it_rests_on():
    groups = {"16": [22.24, 22.33, 22.27], "32": [22.80, 22.65, 22.71]}
    (result,), _ = checked([claim("r = 32 is worse than r = 16", "worse", ["32"], ["16"])], groups)
    low, high = welch(groups, "32", "16", 1)
    (comparison,) = result["comparisons"]
    assert (comparison["low"], comparison["high"]) == pytest.approx((low, high)) and low > 0
    assert result["verdict"] == "holds"
    assert conclusions.describe(result, MARGIN) == (
        f"r = 32 is worse than r = 16: **holds** (32 − 16: +0.44 95% [{low:+.2f}, {high:+.2f}] worse)"
    )


def test_a_claim_the_runs_go_against_is_contradicted():
    groups = {"Sigmoid": [22.9, 23.0, 22.95], "Tanh": [22.3, 22.4, 22.35]}
    (result,), _ = checked([claim("Sigmoid is better than Tanh", "better", ["Sigmoid"], ["Tanh"])], groups)
    assert welch(groups, "Sigmoid", "Tanh", 1)[0] > 0 and result["verdict"] == "contradicted"


def test_a_better_claim_with_a_negligible_gain_is_contradicted_as_documented():
    """The issue's `-0.08 [-0.10, -0.06]` printed **holds**: a gain inside ±margin is no gain of interest."""
    groups = {"a": [22.27, 22.28, 22.29, 22.28], "b": [22.35, 22.36, 22.37, 22.36]}
    (result,), _ = checked([claim("a is better than b", "better", ["a"], ["b"])], groups)
    assert result["comparisons"][0]["outcome"] == "better but negligible"
    assert result["verdict"] == "contradicted"


def test_a_claim_over_several_pairs_is_an_intersection_union_test_at_the_familys_level():
    """Three pairs of one equivalence claim: each read at the family's level (m = 3), with no further
    split inside the claim; it holds because each pair does."""
    groups = {"2": [22.30, 22.32, 22.28], "4": [22.31, 22.29, 22.33], "8": [22.30, 22.34, 22.29]}
    claims = [claim("2, 4, 8 are equivalent", "equivalent", ["2", "4", "8"])]
    (result,), size = checked(claims, groups)
    assert size == 3 and [(c["row"], c["other"]) for c in result["comparisons"]] == [("2", "4"), ("2", "8"), ("4", "8")]
    for pair in result["comparisons"]:
        low, high = welch(groups, pair["row"], pair["other"], 3, confidence=0.90)
        assert (pair["equivalence_low"], pair["equivalence_high"]) == pytest.approx((low, high))
    assert result["verdict"] == "holds"
    groups["8"] = [22.9, 23.0, 22.95]  # one row far from the others: no longer equivalent
    (result,), _ = checked(claims, groups)
    assert result["verdict"] == "contradicted"


def test_the_family_is_the_files_not_the_rows_that_have_run():
    """`32 worse than 16` is one of 12 comparisons of the reduction table from its first run on: the
    interval is the same with two rows run as with all six, so finishing other rows changes nothing."""
    claims = [
        claim("r = 2, 4, 8 and 16 are equivalent", "equivalent", ["2", "4", "8", "16"]),
        claim("r = 32 is worse than r = 16", "worse", ["32"], ["16"]),
        claim("every r is better than the original", "better", ["2", "4", "8", "16", "32"], ["original"]),
    ]
    two = {"16": [22.24, 22.33, 22.27], "32": [22.60, 22.55, 22.66]}
    labels = ["2", "4", "8", "16", "32", "original"]
    early, size = checked(claims, {label: two.get(label, []) for label in labels}, reference="original")
    full = {
        **two,
        "2": [22.3, 22.2, 22.25],
        "4": [22.2, 22.3, 22.25],
        "8": [22.3, 22.2, 22.3],
        "original": [23.3, 23.2, 23.4],
    }
    late, _ = checked(claims, full, reference="original")
    assert size == 12
    assert early[1]["comparisons"] == late[1]["comparisons"] and early[1]["verdict"] == late[1]["verdict"]
    assert (early[1]["comparisons"][0]["low"], early[1]["comparisons"][0]["high"]) == pytest.approx(
        welch(two, "32", "16", 12)
    )


def test_an_unresolved_claim_says_how_many_seeds_make_it_hold_simulated():
    groups = {"Avg": [22.2, 22.6, 22.1], "Max": [22.5, 22.3, 22.8]}
    (result,), _ = checked([claim("Avg is not worse than Max", "not_worse", ["Avg"], ["Max"])], groups)
    assert result["verdict"] == "unresolved" and result["seeds"] == 3
    assert result["planned_at"] == "no difference" and result["planned_power"] >= 0.8
    line = conclusions.describe(result, MARGIN)
    assert line.endswith(
        f"({result['seeds_needed']} seeds per row make it hold {100 * result['planned_power']:.0f}% of the time "
        "at no difference, simulated)"
    )


def test_a_better_claim_is_planned_at_the_papers_figures():
    groups = {"SE": [22.2, 22.6, 22.1], "vanilla": [22.5, 22.3, 22.8]}
    claims = [claim("SE is better", "better", ["SE"], ["vanilla"])]
    (at_paper,), _ = checked(claims, groups, paper={"SE": 22.0, "vanilla": 23.0})
    (at_margin,), _ = checked(claims, groups)
    assert at_paper["planned_at"] == "the paper's figures" and at_margin["planned_at"] == "a Δ of -0.2"
    assert at_paper["seeds_needed"] < at_margin["seeds_needed"]  # a 1-point gain needs fewer seeds than 0.2


def test_a_diverged_seed_leaves_a_claim_unresolved_not_decided_by_the_survivor():
    claims = [claim("r = 32 is worse than r = 16", "worse", ["32"], ["16"])]
    (result,), _ = checked(claims, {"16": [22.90, 22.95, 23.0], "32": E((22.55,), diverged=2)})
    assert result["verdict"] == "unresolved" and result["diverged"] == {"32": 2}
    assert "diverged seeds (32: 2)" in conclusions.describe(result, MARGIN)


def test_one_seed_per_row_or_a_row_without_runs_leaves_a_claim_unresolved():
    claims = [claim("NoSqueeze is worse than SE", "worse", ["NoSqueeze"], ["SE"])]
    (result,), _ = checked(claims, {"NoSqueeze": [22.9], "SE": [22.3]})
    assert result["verdict"] == "unresolved" and "one seed per row" in conclusions.describe(result, MARGIN)
    (result,), _ = checked(claims, {"NoSqueeze": [22.9, 23.0], "SE": []})
    assert "some of its rows have no completed run" in conclusions.describe(result, MARGIN)


def test_a_claim_on_parameters_is_checked_exactly_and_stays_out_of_the_family():
    counted = {"says": "SE_3x3 has fewer parameters than SE", "relation": "fewer", "metric": "params_m"}
    claims = [
        {**counted, "rows": ["SE_3x3"], "than": ["SE"]},
        claim("SE_3x3 is equivalent to SE", "equivalent", ["SE_3x3"], ["SE"]),
    ]
    groups = {"SE": [22.3, 22.4, 22.35], "SE_3x3": [22.36, 22.3, 22.4]}
    counts = {"SE": {"params_m": 28.09}, "SE_3x3": {"params_m": 26.23}}
    (params, equivalent), size = checked(claims, groups, counts=counts)
    assert size == 1 and params["verdict"] == "holds" and params["comparisons"][0]["row_value"] == 26.23
    assert conclusions.describe(params, MARGIN) == (
        "SE_3x3 has fewer parameters than SE: **holds**, counted (SE_3x3 26.23 vs SE 28.09 M params)"
    )
    (pair,) = equivalent["comparisons"]
    assert (pair["low"], pair["high"]) == pytest.approx(welch(groups, "SE_3x3", "SE", 1))
    more = {"SE": {"params_m": 26.23}, "SE_3x3": {"params_m": 28.09}}
    assert checked(claims[:1], groups, counts=more)[0][0]["verdict"] == "contradicted"
    assert checked(claims[:1], groups, counts={"SE": {"params_m": 28.09}})[0][0]["verdict"] == "unresolved"
    assert "checked exactly on the counted models" in conclusions.method(claims, size, MARGIN)


@pytest.mark.parametrize(
    ("relation", "outcome", "low", "high", "eq_low", "eq_high", "verdict"),
    [
        ("better", "better", -0.9, -0.3, -0.8, -0.4, "holds"),
        ("better", "equivalent", -0.15, 0.1, -0.1, 0.05, "contradicted"),
        ("worse", "better", -0.9, -0.3, -0.8, -0.4, "contradicted"),
        ("equivalent", "unresolved", 0.25, 0.9, 0.3, 0.8, "contradicted"),
        ("equivalent", "unresolved", -0.1, 0.5, -0.05, 0.4, "unresolved"),
        ("not_worse", "unresolved", -0.5, 0.22, -0.4, 0.15, "holds"),
        ("not_worse", "worse", 0.25, 0.5, 0.3, 0.45, "contradicted"),
        ("not_better", "unresolved", -0.22, 0.5, -0.15, 0.4, "holds"),
        ("not_better", "better", -0.5, -0.25, -0.45, -0.3, "contradicted"),
    ],
)
def test_each_relation_reads_the_interval_its_table_row_says(relation, outcome, low, high, eq_low, eq_high, verdict):
    comparison = stats.Comparison(
        "a", "b", (low + high) / 2, low, high, eq_low, eq_high, 4.0, 0.1, outcome, (3, 3), (0, 0), False
    )
    assert conclusions.judge(relation, comparison, MARGIN) == verdict
