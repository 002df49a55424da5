"""Every interval, p-value, outcome and planned figure of the report's decision procedure, checked
against an independent computation: statsmodels, scipy's own tests, a Monte Carlo written here, or
the formula written out."""

import math
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttost_ind

from senet_ablate.report import stats

MARGIN = 0.2
E = stats.Evidence


def welch_interval(row, other, alpha):
    """Welch's two-sided interval at level 1 − alpha, as statsmodels computes it."""
    return CompareMeans(DescrStatsW(row), DescrStatsW(other)).tconfint_diff(alpha=alpha, usevar="unequal")


def one(rows, pair, family=None, margin=MARGIN, chance=90.0):
    """The comparison of `pair`, in a family of `family` pairs (the others made up)."""
    pairs = [pair] + [(f"x{i}", f"y{i}") for i in range((family or 1) - 1)]
    return stats.compare(rows, pairs, margin, chance)[pair]


def test_each_comparison_is_welchs_interval_bonferroni_over_the_family():
    row, other = [22.55, 22.70, 22.50], [22.30, 22.40, 22.35]
    comparison = one({"SE-POST": E(tuple(row)), "SE": E(tuple(other))}, ("SE-POST", "SE"), family=4)
    assert (comparison.low, comparison.high) == pytest.approx(welch_interval(row, other, 0.05 / 4))
    narrow = welch_interval(row, other, 0.10 / 4)  # the 90% interval: two one-sided tests at 5%/m
    assert (comparison.equivalence_low, comparison.equivalence_high) == pytest.approx(narrow)
    t, p, df = CompareMeans(DescrStatsW(row), DescrStatsW(other)).ttest_ind(usevar="unequal")
    assert comparison.df == pytest.approx(df) and comparison.p_value == pytest.approx(min(1, 4 * p))
    assert comparison.verdict == "unresolved"  # +0.23 is significant alone (p = 0.04), not over 4 comparisons
    alone = one({"SE-POST": E(tuple(row)), "SE": E(tuple(other))}, ("SE-POST", "SE"))
    assert alone.verdict == "worse" and alone.low > 0


def test_equivalent_is_what_two_one_sided_welch_tests_say_at_the_familys_level():
    row, other = [22.32, 22.38, 22.36, 22.31], [22.30, 22.40, 22.35, 22.33]
    comparison = one({"a": E(tuple(row)), "b": E(tuple(other))}, ("a", "b"), family=3)
    assert ttost_ind(row, other, -MARGIN, MARGIN, usevar="unequal")[0] < 0.05 / 3
    assert comparison.verdict == "equivalent"
    tight = one({"a": E(tuple(row)), "b": E(tuple(other))}, ("a", "b"), family=3, margin=0.04)
    assert ttost_ind(row, other, -0.04, 0.04, usevar="unequal")[0] > 0.05 / 3 and tight.verdict == "unresolved"


def test_a_significant_difference_inside_the_margin_is_negligible_not_better():
    """The issue's `-0.08 [-0.10, -0.06]`: real, and smaller than anything of interest."""
    row, other = [22.27, 22.28, 22.29, 22.28], [22.35, 22.36, 22.37, 22.36]
    comparison = one({"a": E(tuple(row)), "b": E(tuple(other))}, ("a", "b"))
    assert comparison.high < 0 and -MARGIN < comparison.equivalence_low
    assert comparison.verdict == "better but negligible"
    assert comparison.reversed().verdict == "worse but negligible"
    assert (comparison.reversed().low, comparison.reversed().high) == (-comparison.high, -comparison.low)


def test_an_unstable_row_widens_its_own_intervals_only():
    steady = {"ref": E((23.30, 23.40, 23.35)), "a": E((22.95, 22.90, 23.00))}
    pairs = [("a", "ref"), ("b", "ref")]
    alone = stats.compare({**steady, "b": E((22.95, 22.93, 22.90))}, pairs, MARGIN, 90.0)
    shaken = stats.compare({**steady, "b": E((22.3, 22.4, 24.9))}, pairs, MARGIN, 90.0)
    assert shaken[("a", "ref")] == alone[("a", "ref")]  # nothing of row b reaches row a's comparison
    assert shaken[("b", "ref")].verdict == "unresolved" and alone[("b", "ref")].verdict == "better"


def test_diverged_seeds_count_at_both_extremes_of_what_they_could_have_scored():
    """Row `a` has one completed seed and two diverged: judged as if they had scored the section's
    best completed figure, and as if chance; the interval is the envelope of both."""
    rows = {"a": E((22.55,), diverged=2), "ref": E((23.30, 23.40, 23.35)), "b": E((22.20, 22.30))}
    comparison = stats.compare(rows, [("a", "ref")], MARGIN, chance=90.0)[("a", "ref")]
    best, worst = (
        welch_interval([22.55, 22.20, 22.20], rows["ref"].values, 0.05),
        welch_interval([22.55, 90.0, 90.0], rows["ref"].values, 0.05),
    )
    assert (comparison.low, comparison.high) == pytest.approx((min(best[0], worst[0]), max(best[1], worst[1])))
    assert comparison.delta == pytest.approx(22.55 - 23.35)  # the survivors' difference, shown
    assert comparison.verdict == "unresolved" and comparison.diverged == (2, 0) and comparison.seeds == (1, 3)
    assert comparison.seeds_needed is None  # no advice can be planned from one completed seed


def test_an_overwhelming_difference_survives_a_diverged_seed():
    rows = {"a": E((20.0, 20.1, 20.05, 20.02), diverged=1), "ref": E((30.0, 30.1, 30.05, 30.02, 30.03))}
    comparison = stats.compare(rows, [("ref", "a")], MARGIN, chance=30.5)[("ref", "a")]
    assert comparison.verdict == "worse"  # ref is worse whatever a's diverged seed scored, up to chance 30.5


def test_zero_spread_gives_no_interval():
    comparison = one({"a": E((22.3, 22.3, 22.3)), "b": E((22.5, 22.5, 22.5))}, ("a", "b"))
    assert comparison.zero_spread and comparison.low is None and comparison.verdict == "unresolved"
    assert comparison.p_value is None


def test_one_seed_or_no_run_gives_no_interval():
    rows = {"ref": E((23.3,)), "a": E((22.3,)), "b": E(())}
    comparisons = stats.compare(rows, [("a", "ref"), ("b", "ref")], MARGIN, 90.0)
    assert comparisons[("a", "ref")].delta == pytest.approx(-1.0) and comparisons[("a", "ref")].low is None
    assert comparisons[("b", "ref")].delta is None and comparisons[("b", "ref")].verdict == "unresolved"


def test_the_minimum_detectable_difference_is_where_welchs_test_has_80_percent_power():
    """Checked by a Monte Carlo of scipy's own Welch test, on other random numbers."""
    std_a, std_b, seeds, family = 0.15, 0.10, 4, 5
    mdd = stats.detectable(std_a, std_b, seeds, seeds, family)
    rng = np.random.default_rng(12345)
    a = mdd + std_a * rng.standard_normal((20_000, seeds))
    b = std_b * rng.standard_normal((20_000, seeds))
    power = np.mean(scipy_stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05 / family)
    assert power == pytest.approx(0.80, abs=0.015)  # Monte Carlo error about 0.003 + 0.006


def test_the_seeds_advice_gives_the_power_it_states():
    """An unresolved cell's advice, planned at the margin from each row's own spread; then a fresh
    Monte Carlo (scipy's Welch test and TOST, written here) at the advised seeds."""
    rows = {"a": E((22.30, 22.45, 22.38)), "b": E((22.35, 22.50, 22.28))}
    comparison = stats.compare(rows, [("a", "b"), ("x", "y")], MARGIN, 90.0)[("a", "b")]
    assert comparison.verdict == "unresolved" and comparison.planned_at == MARGIN
    seeds, stated = comparison.seeds_needed, comparison.planned_power
    std_a, std_b = statistics.stdev(rows["a"].values), statistics.stdev(rows["b"].values)
    rng = np.random.default_rng(777)
    a = MARGIN + std_a * rng.standard_normal((20_000, seeds))
    b = std_b * rng.standard_normal((20_000, seeds))
    significant = scipy_stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05 / 2
    lower = scipy_stats.ttest_ind(a + MARGIN, b, axis=1, equal_var=False, alternative="greater").pvalue
    upper = scipy_stats.ttest_ind(a - MARGIN, b, axis=1, equal_var=False, alternative="less").pvalue
    within = np.maximum(lower, upper) < 0.05 / 2  # TOST at 5%/m each side
    assert stated >= 0.8 and np.mean(significant | within) == pytest.approx(stated, abs=0.03)
    fewer = stats.plan_seeds(
        {"a": MARGIN, "b": 0.0},
        {"a": std_a, "b": std_b},
        [("a", "b")],
        2,
        MARGIN,
        lambda judged: judged[("a", "b")].codes != stats.UNRESOLVED,
    )
    assert fewer == (seeds, stated)  # the advice is the first seed count that reaches 80%


def test_the_prediction_interval_of_one_more_run_uses_the_rows_own_spread_bonferroni_over_rows():
    values = [22.2, 22.4, 22.3]
    low, high = stats.prediction_interval(values, rows=4)
    half = scipy_stats.t.ppf(1 - 0.05 / 2 / 4, 2) * statistics.stdev(values) * math.sqrt(1 + 1 / 3)
    assert (low, high) == pytest.approx((22.3 - half, 22.3 + half))
    assert stats.prediction_interval([22.2], rows=1) is None


def test_the_papers_delta_is_predicted_as_a_difference_of_two_single_runs():
    row, other = [22.2, 22.4, 22.3, 22.35], [23.0, 23.3, 23.1]
    low, high = stats.difference_prediction(row, other, rows=5)
    terms = [statistics.variance(row) * (1 + 1 / 4), statistics.variance(other) * (1 + 1 / 3)]
    df = sum(terms) ** 2 / (terms[0] ** 2 / 3 + terms[1] ** 2 / 2)
    half = scipy_stats.t.ppf(1 - 0.05 / 2 / 5, df) * math.sqrt(sum(terms))
    delta = statistics.fmean(row) - statistics.fmean(other)
    assert (low, high) == pytest.approx((delta - half, delta + half))
    rng = np.random.default_rng(3)  # and it covers one run's difference 95% of the time
    samples_a, samples_b = rng.standard_normal((4000, 6)) * 0.1, rng.standard_normal((4000, 6)) * 0.3
    inside = [
        (lambda iv: iv[0] <= a[-1] - b[-1] <= iv[1])(stats.difference_prediction(a[:-1], b[:-1], rows=1))
        for a, b in zip(samples_a, samples_b, strict=True)
    ]
    assert np.mean(inside) == pytest.approx(0.95, abs=0.015)


def test_all_pairs_are_games_howell_as_the_studentized_range_gives_them():
    groups = {"2": [22.3, 22.4, 22.2], "4": [22.2, 22.3, 22.35], "16": [22.3, 22.25, 22.4], "32": [22.7, 22.4, 23.1]}
    ours = {(pair["first"], pair["second"]): pair for pair in stats.all_pairs(groups)}
    k = len(groups)
    for (first, second), pair in ours.items():
        a, b = groups[first], groups[second]
        se2 = statistics.variance(a) / 3 + statistics.variance(b) / 3
        df = se2**2 / ((statistics.variance(a) / 3) ** 2 / 2 + (statistics.variance(b) / 3) ** 2 / 2)
        half = scipy_stats.studentized_range.ppf(0.95, k, df) / math.sqrt(2) * math.sqrt(se2)
        delta = statistics.fmean(a) - statistics.fmean(b)
        assert (pair["low"], pair["high"]) == pytest.approx((delta - half, delta + half), rel=1e-3)


@pytest.mark.parametrize(("images", "wrong"), [(50_000, 11_000), (400, 37)])
def test_the_per_image_bootstrap_converges_to_the_plug_in_binomial(images, wrong):
    """The bootstrap of a mean of 0/1 values has the exact limit sqrt(p(1 - p) / n) (ddof 0): 2,000
    resamples land within 4% of it (Monte Carlo error ~1.6%), and the seeded result repeats."""
    correct = np.arange(images) >= wrong
    p = wrong / images
    assert stats.bootstrap_std(correct) == pytest.approx(100 * math.sqrt(p * (1 - p) / images), rel=0.04)
    assert stats.bootstrap_std(correct) == stats.bootstrap_std(correct)


def test_the_validation_sets_own_noise_is_the_binomial_standard_error():
    """A 22% error on ImageNet's 50,000 validation images: about 0.19 points."""
    assert stats.binomial_std(22.0, 50_000) == pytest.approx(100 * math.sqrt(0.22 * 0.78 / 50_000))
    assert round(stats.binomial_std(22.0, 50_000), 2) == 0.19
