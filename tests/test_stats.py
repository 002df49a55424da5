"""Every interval, p-value, verdict and power figure of the reporter's statistics, checked against an
independent computation: statsmodels, a Monte Carlo of the same design, or the formula written out."""

import math
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multicomp import pairwise_tukeyhsd
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.weightstats import ttost_ind

from senet_ablate.report import stats

MARGIN = 0.2


def _pooled_t_interval(row, reference, confidence):
    """Δ ± t · s_p · √(1/n1 + 1/n2), written out, for one row against its reference."""
    delta = statistics.fmean(row) - statistics.fmean(reference)
    df = len(row) + len(reference) - 2
    squares = (len(row) - 1) * statistics.variance(row) + (len(reference) - 1) * statistics.variance(reference)
    half = scipy_stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(squares / df * (1 / len(row) + 1 / len(reference)))
    return delta - half, delta + half


def test_a_significantly_worse_row_is_worse_with_the_student_interval_of_a_single_comparison():
    reference, row = [22.30, 22.40, 22.35], [22.55, 22.70, 22.50]
    (comparison,) = stats.versus_reference({"SE": reference, "SE-POST": row}, "SE", MARGIN).values()
    low, high = _pooled_t_interval(row, reference, 0.95)  # Dunnett with one comparison is Student's t
    assert (comparison.low, comparison.high) == pytest.approx((low, high), abs=1e-3)  # scipy's QMC: ~3 digits
    assert comparison.delta == pytest.approx(0.2333, abs=1e-4) and comparison.verdict == "worse"
    assert comparison.p_value == pytest.approx(scipy_stats.ttest_ind(row, reference).pvalue, abs=5e-4)
    assert comparison.seeds_needed is None  # resolved: nothing to advise


def test_an_equivalent_pair_is_what_two_one_sided_tests_say():
    reference, row = [22.30, 22.40, 22.35, 22.33], [22.32, 22.38, 22.36, 22.31]
    (comparison,) = stats.versus_reference({"SE": reference, "SE-PRE": row}, "SE", MARGIN).values()
    p_tost = ttost_ind(row, reference, -MARGIN, MARGIN, usevar="pooled")[0]
    assert p_tost < 0.05 and comparison.verdict == "equivalent"
    low90, high90 = _pooled_t_interval(row, reference, 0.90)
    assert (comparison.equivalence_low, comparison.equivalence_high) == pytest.approx((low90, high90), abs=1e-3)
    # a margin the 90% interval does not fit inside: TOST fails, and so does the verdict
    (narrow,) = stats.versus_reference({"SE": reference, "SE-PRE": row}, "SE", 0.03).values()
    assert ttost_ind(row, reference, -0.03, 0.03, usevar="pooled")[0] > 0.05 and narrow.verdict == "unresolved"


def test_an_unresolved_row_gets_the_seeds_and_the_detectable_difference_that_80_percent_power_gives():
    reference, row = [23.30, 23.40, 23.20], [23.25, 23.45, 23.10]
    (comparison,) = stats.versus_reference({"original": reference, "8": row}, "original", MARGIN).values()
    assert comparison.verdict == "unresolved"
    std = stats.pooled({"a": reference, "b": row}).std
    # two rows: the residual df of n seeds each is 2n - 2, the two-sample t test statsmodels powers
    needed = TTestIndPower().solve_power(effect_size=MARGIN / std, alpha=0.05, power=0.8)
    assert comparison.seeds_needed == math.ceil(needed)
    detectable = TTestIndPower().solve_power(nobs1=3, ratio=1.0, alpha=0.05, power=0.8) * std
    assert comparison.detectable == pytest.approx(detectable, rel=1e-3)


def test_seeds_beyond_a_hundred_are_said_as_such():
    noisy = {"ref": [20.0, 24.0, 22.0], "row": [21.0, 23.5, 22.4]}  # a spread of ~2 points for a 0.2 margin
    (comparison,) = stats.versus_reference(noisy, "ref", MARGIN).values()
    assert comparison.verdict == "unresolved" and comparison.seeds_needed is None
    assert TTestIndPower().solve_power(effect_size=MARGIN / stats.pooled(noisy).std, alpha=0.05, power=0.8) > 100


def test_one_seed_per_row_has_no_interval_and_no_verdict_but_unresolved():
    comparisons = stats.versus_reference({"ref": [23.3], "a": [22.3], "b": [23.4]}, "ref", MARGIN)
    assert {label: c.verdict for label, c in comparisons.items()} == {"a": "unresolved", "b": "unresolved"}
    assert comparisons["a"].delta == pytest.approx(-1.0) and comparisons["a"].low is None
    assert comparisons["a"].seeds_needed is None and stats.pooled({"ref": [23.3], "a": [22.3]}).df == 0


def test_the_variance_is_pooled_over_every_row_of_the_section():
    """A third row's spread narrows (or widens) the interval of the other two: one training noise."""
    groups = {"ref": [22.0, 22.2, 22.1], "a": [22.5, 22.7, 22.6], "wide": [21.0, 23.0, 22.0]}
    spread = stats.pooled(groups)
    squares = sum(sum((x - statistics.fmean(v)) ** 2 for x in v) for v in groups.values())
    assert (spread.std, spread.df) == (pytest.approx(math.sqrt(squares / 6)), 6)
    alone = stats.versus_reference({"ref": groups["ref"], "a": groups["a"]}, "ref", MARGIN)["a"]
    together = stats.versus_reference(groups, "ref", MARGIN)["a"]
    assert together.high - together.low > alone.high - alone.low


def test_dunnett_intervals_hold_for_the_whole_family_by_a_monte_carlo_of_the_design():
    """The half-width over s·√(2/n) is Dunnett's critical value for 2 rows against one, 5 seeds each
    (df 12): the 95% quantile of max |T_i| under no difference, simulated here (and 2.50 in Dunnett's
    1955 table)."""
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((200_000, 3, 5))  # (trial, group: reference then 2 rows, seed)
    means = draws.mean(axis=2)
    std = np.sqrt(((draws - means[..., None]) ** 2).sum(axis=(1, 2)) / 12)
    largest = np.abs(means[:, 1:] - means[:, :1]).max(axis=1) / (std * math.sqrt(2 / 5))
    simulated = np.quantile(largest, 0.95)
    groups = {
        "ref": [22.0, 22.3, 22.1, 22.2, 22.4],
        "a": [22.5, 22.7, 22.6, 22.4, 22.9],
        "b": [22.1, 22.0, 22.3, 22.2, 22.5],
    }
    comparison = stats.versus_reference(groups, "ref", MARGIN)["a"]
    critical = (comparison.high - comparison.delta) / (stats.pooled(groups).std * math.sqrt(2 / 5))
    assert critical == pytest.approx(simulated, abs=0.02) and critical == pytest.approx(2.50, abs=0.01)
    assert critical > scipy_stats.t.ppf(0.975, 12)  # wider than one pair at a time: the family is controlled


def test_paired_tables_use_bonferroni_over_the_pairs_with_the_pooled_variance():
    groups = {
        "R50": [24.8, 24.9, 24.7],
        "SE-R50": [23.3, 23.2, 23.4],
        "R101": [23.2, 23.3, 23.1],
        "SE-R101": [22.4, 22.2, 22.6],
    }
    by_pair = stats.versus_pairs(groups, [("SE-R50", "R50"), ("SE-R101", "R101")], MARGIN)
    comparisons = {row: comparison for (row, _), comparison in by_pair.items()}
    spread = stats.pooled(groups)
    half = scipy_stats.t.ppf(1 - 0.05 / 2 / 2, 8) * spread.std * math.sqrt(2 / 3)  # 2 pairs, df 12 - 4
    assert comparisons["SE-R101"].high - comparisons["SE-R101"].delta == pytest.approx(half)
    assert [c.verdict for c in comparisons.values()] == ["better", "better"]
    t = comparisons["SE-R50"].delta / (spread.std * math.sqrt(2 / 3))
    assert comparisons["SE-R50"].p_value == pytest.approx(min(1, 2 * 2 * scipy_stats.t.sf(abs(t), 8)))


def test_all_pairs_are_tukeys_hsd_as_statsmodels_computes_it():
    groups = {"2": [22.3, 22.4, 22.2], "4": [22.2, 22.3, 22.35], "16": [22.3, 22.25, 22.4], "32": [22.7, 22.6, 22.8]}
    ours = {(pair["first"], pair["second"]): pair for pair in stats.all_pairs(groups)}
    values = np.concatenate([groups[label] for label in groups])
    labels = np.repeat(list(groups), 3)
    theirs = pairwise_tukeyhsd(values, labels)
    firsts, seconds = (theirs.groupsunique[index] for index in theirs._multicomp.pairindices)
    for (first, second), low, high, p_value in zip(
        zip(firsts, seconds, strict=True),
        theirs.confint[:, 0],
        theirs.confint[:, 1],
        theirs.pvalues,
        strict=True,
    ):
        pair = ours.get((first, second)) or ours[(second, first)]
        sign = 1 if (first, second) in ours else -1  # statsmodels: second - first; ours: first - second
        bounds = sorted((-sign * low, -sign * high))
        assert (pair["low"], pair["high"]) == pytest.approx(tuple(bounds), abs=1e-3)
        assert pair["p_value"] == pytest.approx(p_value, abs=1e-3)


def test_the_prediction_interval_of_one_more_run_uses_the_pooled_spread():
    groups = {"a": [22.2, 22.4, 22.3], "b": [23.0, 23.3]}
    spread = stats.pooled(groups)
    low, high = stats.prediction_interval(groups["a"], spread)
    squares = sum(sum((x - statistics.fmean(v)) ** 2 for x in v) for v in groups.values())
    half = scipy_stats.t.ppf(0.975, 3) * math.sqrt(squares / 3) * math.sqrt(1 + 1 / 3)
    assert (low, high) == pytest.approx((22.3 - half, 22.3 + half))
    assert stats.prediction_interval([22.2], stats.pooled({"a": [22.2], "b": [23.0]})) is None


@pytest.mark.parametrize(("images", "wrong"), [(50_000, 11_000), (400, 37)])
def test_the_per_image_bootstrap_converges_to_the_plug_in_binomial(images, wrong):
    """The bootstrap of a mean of 0/1 values has the exact limit sqrt(p(1 - p) / n) (ddof 0): 2,000
    resamples land within 4% of it (Monte Carlo error ~1.6%), and the seeded result repeats."""
    correct = np.arange(images) >= wrong
    p = wrong / images
    assert stats.bootstrap_std(correct) == pytest.approx(100 * math.sqrt(p * (1 - p) / images), rel=0.04)
    assert stats.bootstrap_std(correct) == stats.bootstrap_std(correct)


def test_the_validation_sets_own_noise_is_the_binomial_standard_error():
    """DESIGN.md's figure: a 22% error on ImageNet's 50,000 validation images, about 0.19 points."""
    assert stats.binomial_std(22.0, 50_000) == pytest.approx(100 * math.sqrt(0.22 * 0.78 / 50_000))
    assert round(stats.binomial_std(22.0, 50_000), 2) == 0.19
