"""Which rows of a table differ by more than seed noise, in which direction, and which are
equivalent: one decision procedure for every comparison a table makes, fixed before any run.

The family. An experiment file declares, before any run, the comparisons its table makes: each row
against its reference (`exp.reference`; in the paired tables each SE-X against its X) and each pair
of rows its claims compare (`exp.claims`). That set of pairs (`report/family.py`) is the family: its
size m never changes with what has run, and the table's cells and the claims read the same
intervals, so a cell and a claim about one pair can never disagree.

One comparison, Δ = mean(row) − mean(other) in top-1 error points (negative: fewer errors), is judged
on its two rows only: Welch's t with the Welch–Satterthwaite degrees of freedom (each row its own
spread), so that one unstable row widens its own intervals and no other's. Not paired by seed: a
seed fixes data order and augmentation across rows (a randomized block design), but measured on real
images (`scripts/seed_blocking.py`, `results/seed_blocking.md`: 3 rows x 8 seeds) same-seed runs of
different rows did not correlate (ICC 0.01, 95% interval −0.30 to 0.55) and pairing did not narrow
the intervals, while it would halve the degrees of freedom. Two simultaneous
intervals per comparison, Bonferroni over the m comparisons of the family:
  95%  Δ ± t(1 − 0.05/(2m), df) · se    decides the direction;
  90%  Δ ± t(1 − 0.10/(2m), df) · se    decides equivalence: two one-sided tests at 5%/m (TOST).
Five outcomes, each read off those intervals (the margin ±m_e is `exp.margin`):
  better / worse                        the 95% interval lies below / above 0, the 90% not within ±m_e;
  better / worse but negligible         the 95% interval lies below / above 0 and the 90% within ±m_e;
  equivalent                            the 95% interval holds 0 and the 90% lies within ±m_e;
  unresolved                            neither.
All the intervals hold together with probability 95% (90%), so every outcome and every claim read
off them is wrong with probability at most 5% for the whole table (`scripts/stats_calibration.py`
checks this, and the power, by simulation: `results/statistics.md`).

Divergence is an outcome, not a deletion. A diverged seed produced no model; it is counted in its
row (`Evidence.diverged`) and its value is unknown. A comparison with diverged seeds is judged on
both extremes of what they could have scored: between the best completed run of the section and
chance (100 · (1 − 1/classes)). Each interval shown is the envelope of the two, so an outcome holds
only if it holds whatever the diverged seeds would have scored; the survivors alone decide nothing.

Zero spread (every seed of both rows the same figure) gives no interval: unresolved, with a warning.

A diverged seed imputed at chance keeps its row from being called better at any number of seeds
(its envelope spans chance): a recipe that diverges is not better. So no seeds advice is given for
such a comparison, and the divergence rate is shown instead.

Seeds advice is simulated for this exact rule (`simulate`, `plan_seeds`): the seeds per row at which
a comparison is resolved, or a claim holds, with 80% probability, planned at the paper's own Δ where
the paper has figures (else at the margin; at 0 for equivalence), and each row's own spread.
"""

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, stats

CONFIDENCE = 0.95  # of the intervals that decide a direction
EQUIVALENCE_CONFIDENCE = 0.90  # of those that decide equivalence (two one-sided tests at 5%)
POWER = 0.80
MAX_SEEDS = 100  # beyond this many seeds per row, a comparison is called unresolvable by seeds
SIMULATIONS = 4000  # per planned figure: a Monte Carlo error of about ±0.6 points at 80% power
SIMULATION_SEED = 0  # the same records always give the same advice
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
OUTCOMES = ("better", "worse", "equivalent", "better but negligible", "worse but negligible", "unresolved")
BETTER, WORSE, EQUIVALENT, BETTER_NEGLIGIBLE, WORSE_NEGLIGIBLE, UNRESOLVED = range(len(OUTCOMES))
Pair = tuple[str, str]


@dataclass(frozen=True)
class Evidence:
    """What a row of a section has: the top-1 errors of its completed seeds and how many diverged."""

    values: tuple[float, ...]
    diverged: int = 0

    @property
    def seeds(self) -> int:
        return len(self.values) + self.diverged


def welch(values_a: np.ndarray, values_b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Δ = mean(a) − mean(b), its standard error and the Welch–Satterthwaite df, over the last axis
    (the seeds); any leading axes are independent tables (a simulation). NaN where a side has fewer
    than two values or both have zero spread."""
    n_a, n_b = values_a.shape[-1], values_b.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (values_a.var(axis=-1, ddof=1) if n_a > 1 else np.full(values_a.shape[:-1], np.nan)) / n_a
        b = (values_b.var(axis=-1, ddof=1) if n_b > 1 else np.full(values_b.shape[:-1], np.nan)) / n_b
        df = (a + b) ** 2 / (a**2 / (n_a - 1) + b**2 / (n_b - 1))
    return values_a.mean(axis=-1) - values_b.mean(axis=-1), np.sqrt(a + b), df


def intervals(delta, se, df, family: int, levels: tuple[float, float] | None = None) -> tuple[np.ndarray, ...]:
    """(low, high) at 95% and (low, high) at 90%, simultaneous over `family` comparisons (Bonferroni).
    `levels`: the two-sided per-comparison levels of the two instead (a group-sequential look's,
    `report/sequential.py`), else 5%/family and 10%/family."""
    wide_level, narrow_level = levels or ((1 - CONFIDENCE) / family, (1 - EQUIVALENCE_CONFIDENCE) / family)
    with np.errstate(invalid="ignore"):
        wide = stats.t.ppf(1 - wide_level / 2, df) * se
        narrow = stats.t.ppf(1 - narrow_level / 2, df) * se
    return delta - wide, delta + wide, delta - narrow, delta + narrow


def outcome_codes(low, high, eq_low, eq_high, margin: float) -> np.ndarray:
    """Each comparison's outcome, as an index into OUTCOMES (NaN bounds: unresolved)."""
    low, high, eq_low, eq_high = map(np.asarray, (low, high, eq_low, eq_high))
    better, worse = high < 0, low > 0
    within = (eq_low > -margin) & (eq_high < margin)
    codes = np.full(np.broadcast(low, high).shape, UNRESOLVED)
    codes[within] = EQUIVALENT
    codes[better & ~within], codes[worse & ~within] = BETTER, WORSE
    codes[better & within], codes[worse & within] = BETTER_NEGLIGIBLE, WORSE_NEGLIGIBLE
    return codes


@dataclass(frozen=True)
class Judged:
    """A family's comparisons over any number of tables (leading axes): bounds and outcome codes."""

    delta: np.ndarray  # of the completed seeds
    low: np.ndarray
    high: np.ndarray
    equivalence_low: np.ndarray
    equivalence_high: np.ndarray
    df: np.ndarray  # the smallest over the imputations
    p_value: np.ndarray  # two-sided, Bonferroni over the family, the largest over the imputations
    codes: np.ndarray


def judge(
    values: Mapping[str, np.ndarray],
    diverged: Mapping[str, np.ndarray],
    pairs: Sequence[Pair],
    family: int,
    margin: float,
    chance: float,
    levels: tuple[float, float] | None = None,
) -> dict[Pair, Judged]:
    """The procedure, on arrays: `values[label]` is (tables..., seeds) top-1 errors, `diverged[label]`
    a bool array of the same shape (True: that seed diverged, its value ignored). Every pair is
    judged as one of `family` comparisons. A pair with diverged seeds is judged at both extremes of
    what they could have scored (the best completed value of its table, and `chance`) and its bounds
    are the envelope. The report calls this with one table; the calibration with thousands.
    `levels`: a group-sequential look's levels (see `intervals`); the p-value stays the fixed design's."""
    if not pairs:
        return {}
    observed = [np.where(diverged[label], np.nan, values[label]) for label in values]
    with np.errstate(all="ignore"):
        best = np.nanmin(np.concatenate(observed, axis=-1), axis=-1, keepdims=True)
    judged = {}
    for row, other in pairs:
        a, b, gone_a, gone_b = values[row], values[other], diverged[row], diverged[other]
        if gone_a.any() or gone_b.any():
            imputed = [
                (np.where(gone_a, best, a), np.where(gone_b, chance, b)),  # the diverged seeds as well as they could
                (np.where(gone_a, chance, a), np.where(gone_b, best, b)),  # and as badly
            ]
        else:
            imputed = [(a, b)]
        bounds, dfs, p_values = [], [], []
        for side_a, side_b in imputed:
            delta, se, df = welch(side_a, side_b)
            bounds.append(intervals(delta, se, df, family, levels))
            dfs.append(df)
            with np.errstate(invalid="ignore", divide="ignore"):
                p_values.append(np.minimum(1.0, family * 2 * stats.t.sf(np.abs(delta) / se, df)))
        low, eq_low = (np.min([b[i] for b in bounds], axis=0) for i in (0, 2))
        high, eq_high = (np.max([b[i] for b in bounds], axis=0) for i in (1, 3))
        any_nan = np.isnan(np.array([b[0] for b in bounds])).any(axis=0)  # no interval on some imputation
        low, high, eq_low, eq_high = (np.where(any_nan, np.nan, bound) for bound in (low, high, eq_low, eq_high))
        with np.errstate(all="ignore"):
            delta = np.nanmean(np.where(gone_a, np.nan, a), axis=-1) - np.nanmean(np.where(gone_b, np.nan, b), axis=-1)
        judged[(row, other)] = Judged(
            delta,
            low,
            high,
            eq_low,
            eq_high,
            np.min(dfs, axis=0),
            np.max(p_values, axis=0),
            outcome_codes(low, high, eq_low, eq_high, margin),
        )
    return judged


# A claim's relation, read off one comparison's intervals: (holds, contradicted) as bool arrays.
def relation_verdicts(relation: str, judged: Judged, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Whether a claim's relation holds for one comparison, and whether it is contradicted (see
    `report/conclusions.py` for the table). Both false: unresolved."""
    codes, low, high, eq_low, eq_high = (
        judged.codes,
        judged.low,
        judged.high,
        judged.equivalence_low,
        judged.equivalence_high,
    )
    within = np.isin(codes, (EQUIVALENT, BETTER_NEGLIGIBLE, WORSE_NEGLIGIBLE))
    return {
        "better": (codes == BETTER, np.isin(codes, (WORSE, WORSE_NEGLIGIBLE)) | within),
        "worse": (codes == WORSE, np.isin(codes, (BETTER, BETTER_NEGLIGIBLE)) | within),
        "equivalent": (within, (low > margin) | (high < -margin)),
        "not_worse": (eq_high < margin, low > margin),
        "not_better": (eq_low > -margin, high < -margin),
    }[relation]


def simulate(
    means: Mapping[str, float],
    stds: Mapping[str, float],
    seeds: int | Mapping[str, int],
    pairs: Sequence[Pair],
    family: int,
    margin: float,
    tables: int = SIMULATIONS,
    seed: int = SIMULATION_SEED,
) -> dict[Pair, Judged]:
    """`tables` simulated sections, each row normal around its mean with its std, judged by `judge`."""
    rng = np.random.default_rng(seed)
    counts = seeds if isinstance(seeds, Mapping) else dict.fromkeys(means, seeds)
    values = {label: means[label] + stds[label] * rng.standard_normal((tables, counts[label])) for label in means}
    diverged = {label: np.zeros(values[label].shape, dtype=bool) for label in values}
    return judge(values, diverged, pairs, family, margin, chance=100.0)


def plan_seeds(
    means: Mapping[str, float],
    stds: Mapping[str, float],
    pairs: Sequence[Pair],
    family: int,
    margin: float,
    success: Callable[[dict[Pair, Judged]], np.ndarray],
) -> tuple[int | None, float]:
    """The fewest seeds per row (every row alike) at which `success` (a bool per simulated table)
    has 80% probability, and that probability; (None, its probability at MAX_SEEDS) beyond it."""

    def chance_of(seeds: int) -> float:
        return float(np.mean(success(simulate(means, stds, seeds, pairs, family, margin, seed=seeds))))

    low, high = 1, 2  # doubling, then bisection: chance_of(low) < POWER <= chance_of(high)
    at_high = chance_of(high)
    while at_high < POWER:
        if high == MAX_SEEDS:
            return None, at_high
        low, high = high, min(2 * high, MAX_SEEDS)
        at_high = chance_of(high)
    while high - low > 1:
        middle = (low + high) // 2
        at_middle = chance_of(middle)
        low, high, at_high = (middle, high, at_high) if at_middle < POWER else (low, middle, at_middle)
    return high, at_high


def detectable(
    std_a: float, std_b: float, seeds_a: int, seeds_b: int, family: int, levels: tuple[float, float] | None = None
) -> float | None:
    """The minimum detectable difference (80% power): the smallest true |Δ| at which the 95%
    interval excludes 0 in 80% of simulated tables, at these seeds and spreads (`levels`: a settle
    sweep's look, see `intervals`)."""
    if seeds_a < 2 or seeds_b < 2 or not (std_a or std_b):
        return None
    rng = np.random.default_rng(SIMULATION_SEED)
    noise_a = std_a * rng.standard_normal((SIMULATIONS, seeds_a))
    noise_b = std_b * rng.standard_normal((SIMULATIONS, seeds_b))
    delta, se, df = welch(noise_a, noise_b)  # the same noise at every Δ: the power rises with Δ
    low, high, *_ = intervals(delta, se, df, family, levels)

    def short_of(effect: float) -> float:
        return float(np.mean((high + effect < 0) | (low + effect > 0))) - POWER

    top = 1.0
    while short_of(top * (std_a + std_b)) < 0:
        top *= 2
    return optimize.bisect(short_of, 0.0, top * (std_a + std_b), xtol=1e-4)


@dataclass(frozen=True)
class Comparison:
    """One comparison of a table's family, as the report shows it (None: not computable yet)."""

    row: str
    other: str
    delta: float | None  # mean(row) − mean(other) over the completed seeds
    low: float | None  # the 95% simultaneous interval
    high: float | None
    equivalence_low: float | None  # the 90% simultaneous interval, that decides equivalence
    equivalence_high: float | None
    df: float | None  # Welch–Satterthwaite
    p_value: float | None  # two-sided, Bonferroni over the family
    verdict: str  # one of OUTCOMES
    seeds: tuple[int, int]  # completed seeds of row and other
    diverged: tuple[int, int]
    zero_spread: bool  # every seed of both rows gave the same figure: no interval
    seeds_needed: int | None = None  # unresolved: seeds per row resolving it with 80% probability
    planned_power: float | None = None  # that probability, simulated, at seeds_needed (or at MAX_SEEDS)
    planned_at: float | None = None  # the true Δ planned for: the paper's, else the margin
    detectable: float | None = None  # unresolved: the minimum detectable difference (80% power) now
    stopped: str | None = None  # read at a look of a settle sweep: why it stopped there, or where it stands

    def reversed(self) -> "Comparison":
        """The same comparison read the other way round (other − row)."""
        flip = {  # the bounds swap and change sign
            "row": self.other,
            "other": self.row,
            "delta": None if self.delta is None else -self.delta,
            "low": None if self.high is None else -self.high,
            "high": None if self.low is None else -self.low,
            "equivalence_low": None if self.equivalence_high is None else -self.equivalence_high,
            "equivalence_high": None if self.equivalence_low is None else -self.equivalence_low,
            "verdict": SWAPPED.get(self.verdict, self.verdict),
            "seeds": self.seeds[::-1],
            "diverged": self.diverged[::-1],
            "planned_at": None if self.planned_at is None else -self.planned_at,
        }
        return replace(self, **flip)


SWAPPED = {"better": "worse", "worse": "better", "better but negligible": "worse but negligible"}
SWAPPED.update({value: key for key, value in SWAPPED.items()})


def _number(value) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def compare(
    rows: Mapping[str, Evidence],
    family: Sequence[Pair],
    margin: float,
    chance: float,
    planned: Mapping[Pair, float] | None = None,
    levels: tuple[float, float] | None = None,
    size: int | None = None,
) -> dict[Pair, Comparison]:
    """Every comparison of the family (m = len(family), whatever has run), by pair. `chance`: the
    top-1 error of guessing, for diverged seeds; `planned`: the paper's Δ of the pairs it has figures
    for, planned for in the seeds advice of an unresolved comparison. `levels`: a look of a settle
    sweep (`report/sequential.py`): its repeated intervals, and no seeds advice (its design says how
    many seeds), only the minimum detectable difference at its levels; `size`: the family's m when
    `family` holds only the pairs judged at that look."""
    planned = planned or {}
    size = size or len(family)
    present = {label: evidence for label, evidence in rows.items() if evidence.values}
    values = {label: np.array([[*e.values] + [np.nan] * e.diverged]) for label, e in present.items()}
    diverged = {label: np.isnan(array) for label, array in values.items()}
    judgeable = [pair for pair in family if pair[0] in present and pair[1] in present]
    judged = judge(values, diverged, judgeable, size, margin, chance, levels)
    comparisons = {}
    for pair in family:
        row, other = (rows.get(label, Evidence(())) for label in pair)
        seeds, diverged_seeds = (len(row.values), len(other.values)), (row.diverged, other.diverged)
        if pair not in judged:
            comparisons[pair] = Comparison(*pair, *[None] * 7, "unresolved", seeds, diverged_seeds, False)
            continue
        one = judged[pair]
        bounds = (one.low, one.high, one.equivalence_low, one.equivalence_high)
        zero = min(seeds) > 1 and not (np.std(row.values) or np.std(other.values))
        comparison = Comparison(
            *pair,
            _number(one.delta[0]),
            *(_number(bound[0]) for bound in bounds),
            _number(one.df[0]),
            _number(one.p_value[0]),
            OUTCOMES[int(one.codes[0])],
            seeds,
            diverged_seeds,
            bool(zero),
        )
        if comparison.verdict == "unresolved" and not any(diverged_seeds):  # nothing to plan: see the docstring
            comparison = _advise(comparison, row, other, size, margin, planned.get(pair), levels)
        comparisons[pair] = comparison
    return comparisons


def _advise(
    comparison: Comparison,
    row: Evidence,
    other: Evidence,
    family: int,
    margin: float,
    paper: float | None,
    levels: tuple[float, float] | None = None,
) -> Comparison:
    """An unresolved comparison with the seeds that resolve it and its minimum detectable difference,
    simulated at each row's own spread (none with under two completed seeds or no spread). At a
    settle sweep's look (`levels`): its minimum detectable difference there only."""
    if len(row.values) < 2 or len(other.values) < 2:
        return comparison
    stds = {"row": statistics.stdev(row.values), "other": statistics.stdev(other.values)}
    if not any(stds.values()):
        return comparison
    mdd = detectable(stds["row"], stds["other"], len(row.values), len(other.values), family, levels)
    if levels is not None:
        return replace(comparison, detectable=mdd)
    at = margin if paper is None else paper
    pair = ("row", "other")
    needed, chance = plan_seeds(
        {"row": at, "other": 0.0}, stds, [pair], family, margin, lambda judged: judged[pair].codes != UNRESOLVED
    )
    return replace(comparison, seeds_needed=needed, planned_power=chance, planned_at=at, detectable=mdd)


def pooled_std(rows: Sequence[Sequence[float]]) -> tuple[float, int, int] | None:
    """The seed spread of a setting: the pooled within-row standard deviation, sqrt(Σ(nᵢ − 1)sᵢ² /
    Σ(nᵢ − 1)) over the rows with two values or more (each row its own mean, so a row's effect is not
    counted as noise), with the runs and rows it pools; None where no row has two."""
    used = [values for values in rows if len(values) > 1]
    if not used:
        return None
    freedom = sum(len(values) - 1 for values in used)
    variance = sum((len(values) - 1) * statistics.variance(values) for values in used) / freedom
    return math.sqrt(variance), sum(map(len, used)), len(used)


def prediction_interval(values: Sequence[float], rows: int) -> tuple[float, float] | None:
    """Where one more run of a row falls: mean ± t(1 − 0.05/(2·rows), n − 1) · s · √(1 + 1/n), the
    row's own spread, simultaneous over the `rows` rows checked (Bonferroni); None under 2 seeds."""
    if len(values) < 2:
        return None
    half = stats.t.ppf(1 - (1 - CONFIDENCE) / 2 / rows, len(values) - 1) * statistics.stdev(values)
    half = float(half) * math.sqrt(1 + 1 / len(values))
    return statistics.fmean(values) - half, statistics.fmean(values) + half


def difference_prediction(
    row: Sequence[float], other: Sequence[float], rows: int, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Where the difference of one more run of each row falls (the paper's Δ is such a difference of
    two single runs): Δ ± t · √(s₁²(1 + 1/n₁) + s₂²(1 + 1/n₂)), Welch–Satterthwaite df, simultaneous
    over `rows` (Bonferroni); None under 2 seeds on a side or with no spread."""
    if len(row) < 2 or len(other) < 2:
        return None
    terms = [statistics.variance(v) * (1 + 1 / len(v)) for v in (row, other)]
    if not sum(terms):
        return None
    df = sum(terms) ** 2 / sum(term**2 / (len(v) - 1) for term, v in zip(terms, (row, other), strict=True))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2 / rows, df)) * math.sqrt(sum(terms))
    delta = statistics.fmean(row) - statistics.fmean(other)
    return delta - half, delta + half


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
    """Games-Howell over the rows with two or more seeds (`scipy.stats.tukey_hsd(equal_var=False)`:
    Tukey's all pairs, each row its own spread): every pair's Δ (first − second), its nominally 95%
    interval simultaneous over all pairs and adjusted p-value. Another family than the table's: shown
    on request (`pairs=json|matrix`), never read for a verdict; at 3-5 seeds it exceeds its level
    (5.4-6.7% measured by `scripts/stats_calibration.py`)."""
    labels = [label for label, values in groups.items() if len(values) > 1]
    if len(labels) < 2:
        return []
    result = stats.tukey_hsd(*(np.asarray(groups[label]) for label in labels), equal_var=False)
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
