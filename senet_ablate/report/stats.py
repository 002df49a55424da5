"""Which rows of a section differ from its reference row by more than seed noise, in which direction,
and which are equivalent to it: intervals and verdicts a statistician can sign.

The design: a section's rows are trained under one setting, each over some seeds (not paired: seed s
of one row shares nothing with seed s of another but the number), so training noise is one process
whatever the row. One residual variance is pooled over all of the section's rows that have runs
(df = runs - rows), and every row is compared with the reference row as one family:
  - one reference row (`exp.reference`): Dunnett's many-to-one simultaneous intervals
    (`scipy.stats.dunnett`), which hold at 95% for all m rows together;
  - paired tables (`exp.reference: pairs`: each SE-X against X), and the pairs of rows the paper's
    claims compare (`report/conclusions.py`): m pooled-variance t intervals at level 1 - 0.05/m
    each (Bonferroni), which hold at 95% or more together.
A verdict per row, with Δ = mean(row) - mean(reference) in top-1 error points (negative: fewer errors):
  better / worse   the 95% simultaneous interval lies below / above 0;
  equivalent       else, the 90% simultaneous interval lies within ±margin: two one-sided tests at
                   5% each (TOST), the margin being the smallest effect of interest (`exp.margin`);
  unresolved       neither. It says what would resolve it: the seeds per row at which a two-sided
                   test at 5%/m (Bonferroni, a little conservative for Dunnett) has 80% power to
                   detect a true difference of one margin, at the pooled spread (noncentral t,
                   `scipy.stats.nct`); and the smallest difference the current seeds detect with
                   80% power. Beyond MAX_SEEDS it says "more than 100".
With one seed in every row there is no spread to pool: no interval, no power, and the verdict is
unresolved. All pairs of rows are also compared with Tukey's HSD (`scipy.stats.tukey_hsd`), over
the rows with at least two seeds, for the table's JSON.
"""

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

CONFIDENCE = 0.95
POWER = 0.80
MAX_SEEDS = 100  # beyond this many seeds per row, a difference is called unresolvable by seeds
VERDICTS = ("better", "worse", "equivalent", "unresolved")
DUNNETT_SEED = 0
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Pooled:
    """The residual spread of a section: every row around its own mean."""

    std: float | None  # None with no row of two or more seeds
    df: int  # runs - rows
    runs: int
    rows: int


def pooled(groups: Mapping[str, Sequence[float]]) -> Pooled:
    """The residual standard deviation pooled over the groups that have values."""
    present = [values for values in groups.values() if values]
    runs, rows = sum(map(len, present)), len(present)
    squares = sum(sum((x - statistics.fmean(values)) ** 2 for x in values) for values in present)
    df = runs - rows
    return Pooled(math.sqrt(squares / df) if df else None, df, runs, rows)


@dataclass(frozen=True)
class Comparison:
    """One row against its reference."""

    reference: str
    delta: float  # mean(row) - mean(reference)
    low: float | None  # the 95% simultaneous interval; None without a pooled spread
    high: float | None
    p_value: float | None  # adjusted for the family (Dunnett's, or Bonferroni's)
    equivalence_low: float | None  # the 90% simultaneous interval the TOST verdict reads
    equivalence_high: float | None
    verdict: str  # one of VERDICTS
    seeds_needed: int | None  # per row, for an unresolved row: 80% power at ±margin; None: > MAX_SEEDS
    detectable: float | None  # the difference the current seeds detect with 80% power (unresolved rows)


def _verdict(low95: float, high95: float, low90: float, high90: float, margin: float) -> str:
    if high95 < 0:
        return "better"
    if low95 > 0:
        return "worse"
    if -margin < low90 and high90 < margin:
        return "equivalent"
    return "unresolved"


def _critical(alpha: float, df: int) -> float:
    return stats.t.ppf(1 - alpha / 2, df)


def power(effect: float, std: float, n_row: int, n_reference: int, df: int, alpha: float) -> float:
    """Power of a two-sided t test at level `alpha` (pooled variance, `df` degrees of freedom) to
    detect a true difference `effect` between a row of `n_row` seeds and one of `n_reference`."""
    noncentrality = effect / (std * math.sqrt(1 / n_row + 1 / n_reference))
    critical = _critical(alpha, df)
    # the far tail is below 1e-10 wherever scipy's nct returns NaN for it (noncentrality ~10 and up)
    far_tail = np.nan_to_num(stats.nct.cdf(-critical, df, noncentrality), nan=0.0)
    return float(stats.nct.sf(critical, df, noncentrality) + far_tail)


def seeds_needed(margin: float, std: float, rows: int, family: int) -> int | None:
    """Seeds per row (every row alike) for 80% power to detect a difference of `margin` with a
    two-sided test at 5%/family, the residual df being rows x (seeds - 1); None beyond MAX_SEEDS."""
    alpha = (1 - CONFIDENCE) / family
    for seeds in range(2, MAX_SEEDS + 1):
        if power(margin, std, seeds, seeds, rows * (seeds - 1), alpha) >= POWER:
            return seeds
    return None


def detectable(std: float, n_row: int, n_reference: int, df: int, family: int) -> float:
    """The smallest true difference the current seeds detect with 80% power (5%/family, two-sided)."""
    alpha = (1 - CONFIDENCE) / family

    def short_of(effect: float) -> float:
        return power(effect, std, n_row, n_reference, df, alpha) - POWER

    high = std
    while short_of(high) < 0:
        high *= 2
    return optimize.brentq(short_of, 0.0, high)


def _unresolved_advice(
    groups: Mapping[str, Sequence[float]], label: str, reference: str, spread: Pooled, margin: float, family: int
) -> dict:
    """seeds_needed and detectable for an unresolved row (None where there is no spread)."""
    if spread.std is None or spread.std == 0:
        return {"seeds_needed": None, "detectable": None}
    return {
        "seeds_needed": seeds_needed(margin, spread.std, spread.rows, family),
        "detectable": detectable(spread.std, len(groups[label]), len(groups[reference]), spread.df, family),
    }


def versus_reference(groups: Mapping[str, Sequence[float]], reference: str, margin: float) -> dict[str, Comparison]:
    """Each row with values against `reference` (Dunnett's many-to-one), by label."""
    compared = [label for label, values in groups.items() if values and label != reference]
    if not compared or not groups.get(reference):
        return {}
    spread = pooled(groups)
    means = {label: statistics.fmean(values) for label, values in groups.items() if values}
    if spread.std is None:
        return {label: _no_spread(label, reference, means) for label in compared}
    # every row with values takes part, so that the variance is pooled over the whole section
    samples = (np.asarray(groups[label]) for label in compared)
    # scipy integrates Dunnett's multivariate t by quasi-Monte Carlo (about 3 significant digits):
    # seeded, so that the same records always give the same table
    result = stats.dunnett(*samples, control=np.asarray(groups[reference]), rng=DUNNETT_SEED)
    wide, narrow = result.confidence_interval(CONFIDENCE), result.confidence_interval(1 - 2 * (1 - CONFIDENCE))
    comparisons = {}
    for index, label in enumerate(compared):
        bounds = (wide.low[index], wide.high[index], narrow.low[index], narrow.high[index])
        verdict = _verdict(*bounds, margin)
        advice = (
            _unresolved_advice(groups, label, reference, spread, margin, len(compared))
            if verdict == "unresolved"
            else {"seeds_needed": None, "detectable": None}
        )
        comparisons[label] = Comparison(
            reference,
            means[label] - means[reference],
            *map(float, bounds[:2]),
            float(result.pvalue[index]),
            *map(float, bounds[2:]),
            verdict,
            **advice,
        )
    return comparisons


def versus_pairs(
    groups: Mapping[str, Sequence[float]], pairs: Sequence[tuple[str, str]], margin: float
) -> dict[tuple[str, str], Comparison]:
    """Each (row, its reference) of `pairs` with values on both sides, as one family: pooled-variance
    t intervals, Bonferroni-corrected over the family; keyed by the pair."""
    compared = list(dict.fromkeys((row, base) for row, base in pairs if groups.get(row) and groups.get(base)))
    if not compared:
        return {}
    spread = pooled(groups)
    means = {label: statistics.fmean(values) for label, values in groups.items() if values}
    if spread.std is None:
        return {(row, base): _no_spread(row, base, means) for row, base in compared}
    family = len(compared)
    comparisons = {}
    for row, base in compared:
        delta = means[row] - means[base]
        error = spread.std * math.sqrt(1 / len(groups[row]) + 1 / len(groups[base]))
        wide = _critical((1 - CONFIDENCE) / family, spread.df) * error
        narrow = _critical(2 * (1 - CONFIDENCE) / family, spread.df) * error
        p_value = min(1.0, family * 2 * stats.t.sf(abs(delta) / error, spread.df))
        bounds = (delta - wide, delta + wide, delta - narrow, delta + narrow)
        verdict = _verdict(*bounds, margin)
        advice = (
            _unresolved_advice(groups, row, base, spread, margin, family)
            if verdict == "unresolved"
            else {"seeds_needed": None, "detectable": None}
        )
        low, high, eq_low, eq_high = map(float, bounds)
        comparisons[(row, base)] = Comparison(
            base, delta, low, high, float(p_value), eq_low, eq_high, verdict, **advice
        )
    return comparisons


def _no_spread(label: str, reference: str, means: Mapping[str, float]) -> Comparison:
    """One seed in every row: a difference with nothing to judge it by."""
    return Comparison(
        reference, means[label] - means[reference], None, None, None, None, None, "unresolved", None, None
    )


def prediction_interval(values: Sequence[float], spread: Pooled) -> tuple[float, float] | None:
    """Where one more run of a row falls with 95% probability: mean ± t(0.975, df) · s · √(1 + 1/n),
    s pooled over the section; None without a pooled spread."""
    if spread.std is None or not values:
        return None
    half = float(_critical(1 - CONFIDENCE, spread.df)) * spread.std * math.sqrt(1 + 1 / len(values))
    return statistics.fmean(values) - half, statistics.fmean(values) + half


def binomial_std(error_percent: float, images: int) -> float:
    """The standard error, in points, of a top-1 error measured on `images` validation images: the
    validation set's own noise, apart from the seed's (22% on ImageNet's 50,000: about 0.19)."""
    p = error_percent / 100
    return 100 * math.sqrt(p * (1 - p) / images)


def bootstrap_std(correct: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES) -> float:
    """The standard error, in points, of one run's top-1 error from its per-image results (`correct`,
    one bool per validation image): the bootstrap over images (`scipy.stats.bootstrap`, seeded, so
    a table is the same twice). It measures the validation set's noise from what the run did on each
    image, where `binomial_std` assumes it from the error alone."""
    result = stats.bootstrap(
        (1.0 - correct.astype(np.float64),),
        np.mean,
        n_resamples=resamples,
        method="percentile",
        rng=BOOTSTRAP_SEED,
        batch=max(1, 20_000_000 // max(len(correct), 1)),  # bound the resample matrix to ~160 MB
    )
    return 100 * float(result.standard_error)


def all_pairs(groups: Mapping[str, Sequence[float]]) -> list[dict]:
    """Tukey's HSD over the rows with two or more seeds: every pair's Δ (first - second), its 95%
    simultaneous interval and adjusted p-value."""
    labels = [label for label, values in groups.items() if len(values) > 1]
    if len(labels) < 2:
        return []
    result = stats.tukey_hsd(*(np.asarray(groups[label]) for label in labels))
    interval = result.confidence_interval(CONFIDENCE)
    return [
        {
            "first": labels[i],
            "second": labels[j],
            "delta": statistics.fmean(groups[labels[i]]) - statistics.fmean(groups[labels[j]]),
            "low": float(interval.low[i, j]),
            "high": float(interval.high[i, j]),
            "p_value": float(result.pvalue[i, j]),
        }
        for i in range(len(labels))
        for j in range(i + 1, len(labels))
    ]
