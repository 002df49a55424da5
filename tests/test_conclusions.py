"""The paper's claims checked on hand-made results, each verdict against the interval written out here."""

import math
import statistics

import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestIndPower

from senet_ablate.report import conclusions

MARGIN = 0.2


def claim(says, relation, rows, than=()):
    return {"says": says, "relation": relation, "rows": list(rows), "than": list(than)}


def bonferroni_interval(groups, row, other, family, confidence=0.95):
    """Δ ± t(1 − (1 − confidence) / (2 · family), df) · s_p · √(1/n1 + 1/n2), s_p pooled over every group."""
    df = sum(len(v) for v in groups.values()) - len(groups)
    pooled = math.sqrt(sum(sum((x - statistics.fmean(v)) ** 2 for x in v) for v in groups.values()) / df)
    delta = statistics.fmean(groups[row]) - statistics.fmean(groups[other])
    half = scipy_stats.t.ppf(1 - (1 - confidence) / 2 / family, df) * pooled
    half *= math.sqrt(1 / len(groups[row]) + 1 / len(groups[other]))
    return delta - half, delta + half


def test_a_claim_that_holds_is_said_with_the_interval_it_rests_on():
    groups = {"16": [22.24, 22.33, 22.27], "32": [22.80, 22.65, 22.71]}
    (result,) = conclusions.check([claim("r = 32 is worse than r = 16", "worse", ["32"], ["16"])], groups, MARGIN)
    low, high = bonferroni_interval(groups, "32", "16", family=1)
    (comparison,) = result["comparisons"]
    assert (comparison["low"], comparison["high"]) == pytest.approx((low, high)) and low > 0
    assert result["verdict"] == "holds"
    assert conclusions.describe(result, MARGIN) == (
        f"r = 32 is worse than r = 16: **holds** (32 − 16: +0.44 [{low:+.2f}, {high:+.2f}])"
    )


def test_a_claim_the_runs_go_against_is_contradicted():
    groups = {"Sigmoid": [22.9, 23.0, 22.95], "Tanh": [22.3, 22.4, 22.35]}
    (result,) = conclusions.check(
        [claim("Sigmoid is better than Tanh", "better", ["Sigmoid"], ["Tanh"])], groups, MARGIN
    )
    low, _ = bonferroni_interval(groups, "Sigmoid", "Tanh", family=1)
    assert low > 0 and result["verdict"] == "contradicted"  # significantly worse, not better


def test_equivalence_of_several_rows_holds_only_when_every_pair_is_within_the_margin():
    groups = {"2": [22.30, 22.32, 22.28], "4": [22.31, 22.29, 22.33], "8": [22.30, 22.34, 22.29]}
    (result,) = conclusions.check([claim("2, 4, 8 are equivalent", "equivalent", ["2", "4", "8"])], groups, MARGIN)
    assert [(c["row"], c["other"]) for c in result["comparisons"]] == [("2", "4"), ("2", "8"), ("4", "8")]
    for pair in result["comparisons"]:  # the TOST reads the 90% interval, over the family of 3
        low, high = bonferroni_interval(groups, pair["row"], pair["other"], family=3, confidence=0.90)
        assert -MARGIN < low and high < MARGIN
    assert result["verdict"] == "holds"
    groups["8"] = [22.9, 23.0, 22.95]  # one row far from the others: no longer equivalent
    (result,) = conclusions.check([claim("2, 4, 8 are equivalent", "equivalent", ["2", "4", "8"])], groups, MARGIN)
    assert result["verdict"] == "contradicted"


def test_an_unresolved_claim_says_how_many_seeds_would_settle_it():
    groups = {"Avg": [22.2, 22.6, 22.1], "Max": [22.5, 22.3, 22.8]}
    (result,) = conclusions.check([claim("Avg is not worse than Max", "not_worse", ["Avg"], ["Max"])], groups, MARGIN)
    assert result["verdict"] == "unresolved" and result["seeds"] == 3
    spread = math.sqrt(sum(statistics.variance(v) for v in groups.values()) / 2)
    needed = TTestIndPower().solve_power(effect_size=MARGIN / spread, alpha=0.05, power=0.8)
    assert result["seeds_needed"] == math.ceil(needed)
    assert conclusions.describe(result, MARGIN).endswith(f"({math.ceil(needed)} seeds per row give 80% power at ±0.2)")


def test_one_seed_per_row_or_a_row_without_runs_leaves_a_claim_unresolved():
    claims = [claim("NoSqueeze is worse than SE", "worse", ["NoSqueeze"], ["SE"])]
    (result,) = conclusions.check(claims, {"NoSqueeze": [22.9], "SE": [22.3]}, MARGIN)
    assert result["verdict"] == "unresolved" and "one seed per row" in conclusions.describe(result, MARGIN)
    (result,) = conclusions.check(claims, {"NoSqueeze": [22.9, 23.0], "SE": []}, MARGIN)
    assert "some of its rows have no completed run" in conclusions.describe(result, MARGIN)


def test_the_claims_of_a_table_are_one_family():
    """Two claims of three comparisons: each interval is Bonferroni over all three, not over its own claim."""
    groups = {
        "ResNet-50": [23.3, 23.4, 23.2],
        "S2": [22.9, 23.0, 22.8],
        "S3": [22.8, 22.9, 22.85],
        "ALL": [22.3, 22.2, 22.25],
    }
    claims = [
        claim("each stage is better than ResNet-50", "better", ["S2", "S3"], ["ResNet-50"]),
        claim("SE_ALL is better than S2", "better", ["ALL"], ["S2"]),
    ]
    results = conclusions.check(claims, groups, MARGIN)
    low, high = bonferroni_interval(groups, "ALL", "S2", family=3)
    assert (results[1]["comparisons"][0]["low"], results[1]["comparisons"][0]["high"]) == pytest.approx((low, high))
    assert [result["verdict"] for result in results] == ["holds", "holds"]


def test_the_method_line_counts_the_family_the_intervals_were_corrected_for():
    """Comparisons whose rows have no runs yet are not in the Bonferroni family, nor in its count."""
    claims = [claim("2 and 4 are better than the original", "better", ["2", "4"], ["original"])]
    groups = {"2": [22.3, 22.4], "4": [], "original": [23.3, 23.2]}
    (result,) = conclusions.check(claims, groups, MARGIN)
    low, high = bonferroni_interval({"2": groups["2"], "original": groups["original"]}, "2", "original", family=1)
    assert (result["comparisons"][0]["low"], result["comparisons"][0]["high"]) == pytest.approx((low, high))
    assert conclusions.method(claims, groups, MARGIN).startswith("The paper's claims, checked: 1 comparisons of top-1,")


def test_a_claim_on_parameters_is_checked_exactly_and_stays_out_of_the_family():
    counted = {"says": "SE_3x3 has fewer parameters than SE", "relation": "fewer", "metric": "params_m"}
    claims = [
        {**counted, "rows": ["SE_3x3"], "than": ["SE"]},
        claim("SE_3x3 is equivalent to SE", "equivalent", ["SE_3x3"], ["SE"]),
    ]
    groups = {"SE": [22.3, 22.4, 22.35], "SE_3x3": [22.36, 22.3, 22.4]}
    counts = {"SE": {"params_m": 28.09}, "SE_3x3": {"params_m": 26.23}}
    params, equivalent = conclusions.check(claims, groups, MARGIN, counts)
    assert params["verdict"] == "holds" and params["comparisons"][0]["row_value"] == 26.23
    assert conclusions.describe(params, MARGIN) == (
        "SE_3x3 has fewer parameters than SE: **holds**, counted (SE_3x3 26.23 vs SE 28.09 M params)"
    )
    (pair,) = equivalent["comparisons"]  # a family of 1: the counted claim adds no comparison
    assert (pair["low"], pair["high"]) == pytest.approx(bonferroni_interval(groups, "SE_3x3", "SE", family=1))
    more = {"SE": {"params_m": 26.23}, "SE_3x3": {"params_m": 28.09}}
    assert conclusions.check(claims[:1], groups, MARGIN, more)[0]["verdict"] == "contradicted"
    assert conclusions.check(claims[:1], groups, MARGIN, {"SE": {"params_m": 28.09}})[0]["verdict"] == "unresolved"
    assert "checked exactly on the counted models" in conclusions.method(claims, groups, MARGIN)
