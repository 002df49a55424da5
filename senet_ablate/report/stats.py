"""Is a row better than the baseline by more than seed noise? Δ of means with a 95% interval.

The interval is Student's t with pooled variance: training noise is one process whatever the SE
variant, so the rows share one variance, and pooling gives an interval from as few as 2 + 1
seeds. Δ = mean(row) − mean(baseline); interval = Δ ± t(0.975, n1 + n2 − 2) · s_p · √(1/n1 + 1/n2).
With one seed per row there is no spread to pool: `seeds_needed` says how many seeds per row would
resolve the observed Δ given the spread seen in the other rows of the section.

The t quantile is computed here (bisection on the CDF, integrated with Simpson's rule) so that the
package needs no scipy; `tests/test_report.py` checks it against tabulated values.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

CONFIDENCE = 0.95
MAX_SEEDS = 100  # beyond this, a difference is called unresolvable by seeds


def _t_density(x: float, df: float) -> float:
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))


def _t_cdf(x: float, df: float, intervals: int = 200) -> float:
    """P(T <= x) for x >= 0: 1/2 plus Simpson's rule over [0, x]."""
    h = x / intervals
    inner = sum((4 if i % 2 else 2) * _t_density(i * h, df) for i in range(1, intervals))
    return 0.5 + h / 3 * (_t_density(0.0, df) + inner + _t_density(x, df))


@cache
def t_quantile(probability: float, df: int) -> float:
    """The `probability` quantile (> 0.5) of Student's t with `df` degrees of freedom."""
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < probability:
        high *= 2
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_cdf(middle, df) < probability else (low, middle)
    return (low + high) / 2


@dataclass(frozen=True)
class Difference:
    delta: float  # mean(row) - mean(baseline)
    low: float | None  # the 95% interval; None when it is unknown (one seed in each)
    high: float | None
    seeds_needed: int | None  # with an unknown interval: seeds per row to resolve delta, if a spread is known

    @property
    def beyond_noise(self) -> bool | None:
        """Whether the interval excludes 0; None when the interval is unknown."""
        return None if self.low is None else self.low > 0 or self.high < 0


def pooled_std(groups: Sequence[Sequence[float]]) -> float | None:
    """The pooled sample std of groups (each its own mean); None with no group of 2 or more."""
    dof = sum(len(group) - 1 for group in groups if len(group) > 1)
    if not dof:
        return None
    squares = sum((len(group) - 1) * statistics.variance(group) for group in groups if len(group) > 1)
    return math.sqrt(squares / dof)


def seeds_needed(delta: float, std: float) -> int | None:
    """Seeds per row for the 95% interval of a difference `delta` to exclude 0, at spread `std`."""
    if std == 0:
        return 2
    for seeds in range(2, MAX_SEEDS + 1):
        if t_quantile(0.5 + CONFIDENCE / 2, 2 * seeds - 2) * std * math.sqrt(2 / seeds) < abs(delta):
            return seeds
    return None


def difference(row: Sequence[float], baseline: Sequence[float], section_std: float | None) -> Difference:
    """Δ of `row` against `baseline` (values over seeds). `section_std`: the spread seen in the
    section's rows, used for the advice when these two have one seed each."""
    delta = statistics.fmean(row) - statistics.fmean(baseline)
    std = pooled_std([row, baseline])
    if std is None:
        needed = None if section_std is None else seeds_needed(delta, section_std)
        return Difference(delta, None, None, needed)
    half = t_quantile(0.5 + CONFIDENCE / 2, len(row) + len(baseline) - 2) * std
    half *= math.sqrt(1 / len(row) + 1 / len(baseline))
    return Difference(delta, delta - half, delta + half, None)
