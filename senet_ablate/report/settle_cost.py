"""What a settle sweep is expected to spend, by simulation: the seeds each row runs and the share of the
family it settles, beside the fixed design (every row the same seeds) that settles as much.

Why simulated: how many seeds a row runs depends on when each of its comparisons crosses its boundary,
a law with no closed form once rows share the reference and the intervals are Welch's. The same
decision code the driver runs (`stats.judge` at each look's levels from `report/sequential.py`) is
replayed on `tables` simulated tables whose truth is known: each row normal around a figure (the
paper's top-1, where it has the table) with the spread σ. The planner prices a settle sweep with it
(`plan.py`) and `scripts/settle_calibration.py` publishes it (`results/statistics.md`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from senet_ablate.report import stats
from senet_ablate.report.sequential import Design

TABLES = 1000  # simulated tables: a Monte Carlo error of about ±0.1 seeds per row on the expected seeds
SEED = 0


@dataclass(frozen=True)
class Cost:
    """A settle design at given means and σ: each row's expected seeds, the share of the family's
    comparisons it settles (its power), and the seeds per row at which the fixed design settles as large
    a share (`equal_power_seeds`; None: not within three times the settle design's maximum)."""

    expected: dict[str, float]
    power: float
    fixed: float | None


def draw(means: Mapping[str, float], sigma: float, seeds: int, tables: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {label: mean + sigma * rng.standard_normal((tables, seeds)) for label, mean in means.items()}


def rounds(
    values: Mapping[str, np.ndarray],
    looks: Sequence[int],
    pairs: Sequence[stats.Pair],
    margin: float,
    chance: float,
    levels: Sequence[tuple[float, float]] | None,
) -> tuple[dict[stats.Pair, np.ndarray], dict[stats.Pair, np.ndarray]]:
    """Each pair's outcome code at the look it stopped (or the last), and that look, per table: a pair
    settles at the first look with an outcome other than unresolved. `levels`: each look's (95%, 90%)
    levels; None re-reads the fixed design's intervals after every round (naive re-testing)."""
    tables = next(iter(values.values())).shape[0]
    codes = {pair: np.full(tables, stats.UNRESOLVED) for pair in pairs}
    stopped = {pair: np.full(tables, len(looks) - 1) for pair in pairs}
    open_ = {pair: np.ones(tables, dtype=bool) for pair in pairs}
    for look, seeds in enumerate(looks):
        head = {label: array[:, :seeds] for label, array in values.items()}
        gone = {label: np.zeros(array.shape, dtype=bool) for label, array in head.items()}
        at = None if levels is None else levels[look]
        judged = stats.judge(head, gone, pairs, len(pairs), margin, chance, at)
        for pair in pairs:
            now = open_[pair] & (judged[pair].codes != stats.UNRESOLVED)
            codes[pair] = np.where(now, judged[pair].codes, codes[pair])
            stopped[pair] = np.where(now, look, stopped[pair])
            open_[pair] &= ~now
    return codes, stopped


def seeds_per_row(
    stopped: Mapping[stats.Pair, np.ndarray], looks: Sequence[int], labels: Sequence[str]
) -> dict[str, np.ndarray]:
    """The seeds each row runs in each table: up to the last look any of its pairs needed."""
    return {
        label: np.array(looks)[np.max([at for pair, at in stopped.items() if label in pair], axis=0)]
        for label in labels
        if any(label in pair for pair in stopped)
    }


def fixed_powers(
    means: Mapping[str, float], sigma: float, most: int, pairs: Sequence[stats.Pair], margin: float, tables: int
) -> np.ndarray:
    """The share of the family the fixed design settles at n = 0 .. `most` seeds per row (0 below 2),
    on common draws (the first n seeds of the same tables): a curve smooth in n, made non-decreasing."""
    values = draw(means, sigma, most, tables, SEED + 1)
    powers = np.zeros(most + 1)
    for seeds in range(2, most + 1):
        head = {label: array[:, :seeds] for label, array in values.items()}
        gone = {label: np.zeros(array.shape, dtype=bool) for label, array in head.items()}
        judged = stats.judge(head, gone, pairs, len(pairs), margin, 100.0)
        powers[seeds] = np.mean([judged[pair].codes != stats.UNRESOLVED for pair in pairs])
    return np.maximum.accumulate(powers)


def equal_power_seeds(powers: np.ndarray, power: float) -> float | None:
    """The seeds per row at which the fixed design's curve (`fixed_powers`) reaches `power`, linear
    between whole seeds (a fraction: less noisy than the first whole n, and no kinder to a settle
    sweep than rounding up); None beyond the curve."""
    reached = np.flatnonzero(powers >= power)
    if not reached.size:
        return None
    seeds = int(reached[0])
    if seeds <= 2:
        return 2.0
    return seeds - 1 + float((power - powers[seeds - 1]) / (powers[seeds] - powers[seeds - 1]))


def cost(
    design: Design,
    means: Mapping[str, float],
    sigma: float,
    pairs: Sequence[stats.Pair],
    margin: float,
    tables: int = TABLES,
) -> Cost:
    """The settle design's expected seeds per row and power at `means` and σ, and the fixed design of
    equal power (see `Cost`)."""
    values = draw(means, sigma, design.looks[-1], tables, SEED)
    levels = [design.levels(look) for look in range(len(design.looks))]
    codes, stopped = rounds(values, design.looks, pairs, margin, 100.0, levels)
    power = float(np.mean([codes[pair] != stats.UNRESOLVED for pair in pairs]))
    expected = {label: float(seeds.mean()) for label, seeds in seeds_per_row(stopped, design.looks, means).items()}
    fixed = equal_power_seeds(fixed_powers(means, sigma, 3 * design.looks[-1], pairs, margin, tables), power)
    return Cost(expected, power, fixed)
