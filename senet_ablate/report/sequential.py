"""Group-sequential boundaries: the intervals a comparison is read off at each look (round) of a
settle sweep, so that its error stays at the fixed design's however the rounds stop.

Why a design of its own. Reading the fixed design's 95% interval after every round and stopping at
the first verdict inflates the error (each look is another chance to cross 0 by noise): with 4
looks at 3, 6, 9 and 12 seeds, 12% for a nominal 5%, simulated in `tests/test_sequential.py`). A
group-sequential design declares its looks in advance (the seeds per row at each round, the last
one the maximum) and spends the error over them by a spending function α(t) of the information
fraction t (seeds so far / the maximum): Lan-DeMets' O'Brien-Fleming type, each side spending α/2 as
α₁(t) = 2 − 2Φ(z(1 − α/4) / √t), the form behind the published two-sided tables (DeMets & Lan 1994;
gsDesign's `sfLDOF`), or Kim & DeMets' power family α·t^ρ (ρ = 3 close to O'Brien-Fleming, ρ = 1 to
Pocock). Early looks get very wide intervals, the last one nearly the fixed design's (at 4 looks,
O'Brien-Fleming: 2.014 against 1.960). The default, up to 8 looks with ρ = 3, is the design that spent the
fewest expected seeds at equal power in the simulations of `scripts/settle_calibration.py`
(results/statistics.md, section 7): more looks stop sooner, and ρ = 3 spends a little more early than
O'Brien-Fleming, for a maximum 3-6% above the fixed design's at equal power.

The intervals are repeated confidence intervals (Jennison & Turnbull 2000, ch. 9): Δ ± c_k · se at
look k holds Δ at every look together with probability 1 − α, so each outcome of `stats.py`, read
off them at whichever look a comparison stopped, is wrong with probability at most α. Both of the
decision procedure's intervals get their own spending: the 95% one (α = 0.05/m, m the family,
Bonferroni as in the fixed design) decides a direction, the 90% one (α = 0.10/m: two one-sided tests
at 5%/m, a sequential TOST at the margin) decides equivalence.

The joint law of the look statistics (Z_k correlated √(t_j/t_k) under equal increments) is
integrated by the recursion of Armitage, McPherson & Rowe (1969) on a grid (Jennison & Turnbull
ch. 19): deterministic, so the same records always give the same decisions, and fast at any number
of looks; `scipy.stats.multivariate_normal` gives the same figures but by randomized quasi-Monte
Carlo, seconds per look. No maintained Python library computes these boundaries: `gsdesign` (0.1.5,
alpha) ships only the grid integration, no spending or boundaries.

Small samples. The look statistics are Welch t's with few degrees of freedom (2-20), not normal.
Each z boundary becomes a nominal two-sided level p_k = 2(1 − Φ(c_k)), read as a t quantile at the
look's own Welch-Satterthwaite df: t(1 − p_k/2, df) (the significance-level approach, Jennison &
Turnbull ch. 3.8). Its error at 3 to 12 seeds per row is checked by simulation in the tests.
"""

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import optimize, stats

from senet_ablate.report.stats import CONFIDENCE, EQUIVALENCE_CONFIDENCE

GRID = 801  # grid points per look: boundaries to about 1e-4 (tests: the published tables to 3 decimals)


def spent(fraction: float, alpha: float, rho: float | None = None) -> float:
    """The two-sided error spent by information fraction `fraction` (0 < t <= 1), all of α at t = 1:
    each side α/2 with Lan-DeMets' O'Brien-Fleming-type function, or with `rho` Kim & DeMets' power
    family α·t^ρ (ρ = 3 close to O'Brien-Fleming, ρ = 1 to Pocock: more spent early)."""
    if rho is not None:
        return alpha * fraction**rho
    return 4 * stats.norm.sf(stats.norm.isf(alpha / 4) / math.sqrt(fraction))  # not 2 − 2Φ: it underflows early


def _simpson(points: int, width: float) -> np.ndarray:
    weights = np.ones(points)
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    return weights * width / (3 * (points - 1))


def _first_look(bound: float, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid over the continuation region |S_1| < bound · √t_1 and the probability mass on it."""
    edge = bound * math.sqrt(fraction)
    grid = np.linspace(-edge, edge, GRID)
    return grid, stats.norm.pdf(grid, scale=math.sqrt(fraction)) * _simpson(GRID, 2 * edge)


def _crossing(grid: np.ndarray, mass: np.ndarray, step: float, edge: float) -> float:
    """P(continued so far, and |S| >= edge after an increment of std `step`)."""
    return float(mass @ (stats.norm.cdf((-edge - grid) / step) + stats.norm.sf((edge - grid) / step)))


def _continue(grid: np.ndarray, mass: np.ndarray, step: float, edge: float) -> tuple[np.ndarray, np.ndarray]:
    """The grid and mass of continuing past the next look (|S| < edge)."""
    following = np.linspace(-edge, edge, GRID)
    density = stats.norm.pdf((following[:, None] - grid[None, :]) / step) @ mass / step
    return following, density * _simpson(GRID, 2 * edge)


def crossings(bounds: tuple[float, ...], fractions: tuple[float, ...]) -> list[float]:
    """P(the first |Z_k| >= bounds[k] is at look k), for each k, under no difference: the joint law
    of the look statistics at these information fractions, by the recursion on the sum scale
    (S_k = Z_k √t_k, independent normal increments of variance t_k − t_{k−1})."""
    grid, mass = _first_look(bounds[0], fractions[0])
    crossed = [2 * float(stats.norm.sf(bounds[0]))]
    for k in range(1, len(bounds)):
        step, edge = math.sqrt(fractions[k] - fractions[k - 1]), bounds[k] * math.sqrt(fractions[k])
        crossed.append(_crossing(grid, mass, step, edge))
        grid, mass = _continue(grid, mass, step, edge)
    return crossed


@cache
def spending_bounds(fractions: tuple[float, ...], alpha: float, rho: float | None = None) -> tuple[float, ...]:
    """The z boundaries c_1..c_K (two-sided, symmetric) that spend α over these information
    fractions by `spent`, each solved for in turn."""
    bounds = [float(stats.norm.isf(spent(fractions[0], alpha, rho) / 2))]
    grid, mass = _first_look(bounds[0], fractions[0])
    for k in range(1, len(fractions)):
        target = spent(fractions[k], alpha, rho) - spent(fractions[k - 1], alpha, rho)
        step, root = math.sqrt(fractions[k] - fractions[k - 1]), math.sqrt(fractions[k])
        bound = optimize.brentq(
            lambda c, g=grid, m=mass, s=step, r=root, a=target: _crossing(g, m, s, c * r) - a, 0.1, 40.0, xtol=1e-7
        )
        bounds.append(bound)
        grid, mass = _continue(grid, mass, step, bound * root)
    return tuple(bounds)


def obrien_fleming_constant(looks: int, alpha: float) -> float:
    """The classical O'Brien-Fleming boundary c · √(K/k) at K equally spaced looks: the c with
    total error α (Jennison & Turnbull's C_B(K, α), their Table 2.3)."""
    fractions = tuple((k + 1) / looks for k in range(looks))

    def excess(constant: float) -> float:
        bounds = tuple(constant * math.sqrt(looks / (k + 1)) for k in range(looks))
        return sum(crossings(bounds, fractions)) - alpha

    return optimize.brentq(excess, 1.5, 2.5, xtol=1e-5)


@dataclass(frozen=True)
class Design:
    """A settle sweep's declared design: the seeds per row at each look (increasing, the last the
    maximum) and the family the comparisons are Bonferroni-corrected over."""

    looks: tuple[int, ...]
    family: int
    rho: float | None = None  # the spending (`spent`): None Lan-DeMets O'Brien-Fleming, else Kim-DeMets α·t^ρ

    @property
    def fractions(self) -> tuple[float, ...]:
        return tuple(seeds / self.looks[-1] for seeds in self.looks)

    def levels(self, look: int) -> tuple[float, float]:
        """The nominal two-sided per-comparison levels at look `look` (0-based) of the 95% and the
        90% repeated intervals: read as t quantiles at each comparison's own df (`stats.intervals`)."""
        return tuple(
            float(2 * stats.norm.sf(spending_bounds(self.fractions, (1 - confidence) / self.family, self.rho)[look]))
            for confidence in (CONFIDENCE, EQUIVALENCE_CONFIDENCE)
        )

    @property
    def spending(self) -> str:
        return "Lan-DeMets O'Brien-Fleming" if self.rho is None else f"Kim-DeMets ρ = {self.rho:g}"

    def describe(self) -> str:
        """The design as the table names it."""
        return (
            f"group-sequential: {len(self.looks)} looks at {', '.join(map(str, self.looks))} seeds per row, "
            f"{self.spending} spending of 5%/{self.family} (direction) and 10%/{self.family} (equivalence), "
            f"at most {self.looks[-1]} seeds per row"
        )


def schedule(max_seeds: int, looks: int) -> tuple[int, ...]:
    """Equally spaced looks: the seeds per row after each round, ceil(k · max / K)."""
    return tuple(dict.fromkeys(math.ceil((k + 1) * max_seeds / looks) for k in range(looks)))


LOOKS = 8  # the most looks by default (`Settle.rounds`)
RHO = 3.0  # the spending by default: Kim-DeMets ρ = 3 (results/statistics.md, section 7)


@dataclass(frozen=True)
class Settle:
    """A settle sweep as typed (`settle.max_seeds`, `settle.looks`, `settle.budget_gpu_hours`, `settle.rho`):
    what the driver runs by and the report reads a table by; the family, and so the design, is each table's."""

    max_seeds: int
    looks: int | None = None  # None: `rounds`
    budget_gpu_hours: float | None = None
    rho: float | None = RHO

    @property
    def rounds(self) -> int:
        """The looks: as typed, else as many as keep two seeds per look, at most LOOKS (more looks stop
        sooner, each a round of jobs; beyond 8 the simulated saving is under 2%)."""
        return self.looks if self.looks is not None else max(1, min(LOOKS, self.max_seeds // 2))

    def design(self, family: int) -> Design:
        return Design(schedule(self.max_seeds, self.rounds), family, self.rho)
