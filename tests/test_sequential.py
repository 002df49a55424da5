"""The group-sequential boundaries against published tables, and their error with Welch's t at few seeds."""

import numpy as np
import pytest
from scipy import stats as sp

from senet_ablate.report.sequential import (
    Design,
    Settle,
    crossings,
    obrien_fleming_constant,
    schedule,
    spending_bounds,
)
from senet_ablate.report.stats import welch

# Jennison & Turnbull (2000), Table 2.3: the classical O'Brien-Fleming C_B(K, α = 0.05), two-sided.
OBRIEN_FLEMING = {2: 1.977, 3: 2.004}  # K = 4, 5 (2.024, 2.040) also agree: 4 s more
# Lan-DeMets O'Brien-Fleming-type spending, α = 0.05 two-sided, K equally spaced looks (DeMets & Lan
# 1994; the same figures as gsDesign's sfLDOF with 0.025 per side).
LAN_DEMETS = {
    3: (3.7103, 2.5114, 1.9930),
    4: (4.3326, 2.9631, 2.3590, 2.0141),
    5: (4.8769, 3.3569, 2.6803, 2.2898, 2.0310),
}
# SeqBounds.jl's README (https://github.com/PharmCat/SeqBounds.jl): `bounds([0.25, 0.5, 0.75, 1.0], 0.05)`,
# one-sided, O'Brien-Fleming-type spending 2 − 2Φ(z(1 − α/2)/√t) of α = 0.05: Z and nominal one-sided p.
SEQBOUNDS_Z = (3.74955, 2.53993, 2.01604, 1.72014)
SEQBOUNDS_P = (8.85754e-5, 0.00554366, 0.0218979, 0.0427037)


@pytest.mark.parametrize("looks", sorted(OBRIEN_FLEMING))
def test_the_joint_law_gives_jennison_and_turnbulls_obrien_fleming_constants(looks):
    assert obrien_fleming_constant(looks, 0.05) == pytest.approx(OBRIEN_FLEMING[looks], abs=6e-4)


@pytest.mark.parametrize("looks", sorted(LAN_DEMETS))
def test_the_spending_boundaries_are_the_published_ones(looks):
    fractions = tuple((k + 1) / looks for k in range(looks))
    assert spending_bounds(fractions, 0.05) == pytest.approx(LAN_DEMETS[looks], abs=2e-4)


def test_one_side_of_the_two_sided_boundaries_at_twice_alpha_is_seqbounds_one_sided_table():
    """Our two-sided spending of 10% spends 5% per side by SeqBounds' one-sided function; the lower
    boundary's share of the crossings is below 1e-5 here, so the boundaries are the one-sided ones
    (theirs on a grid of step 0.05: they agree to about 1e-4)."""
    bounds = spending_bounds((0.25, 0.5, 0.75, 1.0), 0.10)
    assert bounds == pytest.approx(SEQBOUNDS_Z, abs=1e-4)
    assert [sp.norm.sf(bound) for bound in bounds] == pytest.approx(SEQBOUNDS_P, rel=1e-3)


@pytest.mark.parametrize("rho", [1.0, 3.0])
def test_kim_demets_boundaries_spend_alpha_times_t_to_the_rho_at_each_look(rho):
    fractions = (0.25, 0.5, 0.75, 1.0)
    crossed = np.cumsum(crossings(spending_bounds(fractions, 0.05, rho), fractions))
    assert crossed == pytest.approx([0.05 * t**rho for t in fractions], rel=1e-4)


def test_an_early_look_of_many_keeps_a_finite_boundary():
    """At 6 of 46 seeds, O'Brien-Fleming spends about 1e-20 of 0.05/12: 2 − 2Φ would round it to 0."""
    bounds = spending_bounds(tuple(seeds / 46 for seeds in schedule(46, 8)), 0.05 / 12)
    assert 8 < bounds[0] < 9 and bounds[-1] == pytest.approx(2.93, abs=0.01)


def test_the_default_looks_keep_two_seeds_each_up_to_eight_and_spend_by_rho_3():
    assert Settle(24).design(12).looks == (3, 6, 9, 12, 15, 18, 21, 24)
    assert Settle(7).design(5).looks == (3, 5, 7) and Settle(7).design(5).rho == 3.0
    assert Settle(12, 4, rho=None).design(12).spending == "Lan-DeMets O'Brien-Fleming"


def test_schedule_spaces_the_looks_equally_up_to_the_maximum():
    assert schedule(12, 4) == (3, 6, 9, 12)
    assert schedule(5, 4) == (2, 3, 4, 5)


@pytest.mark.parametrize(("std_a", "std_b"), [(0.15, 0.15), (0.10, 0.20)])
def test_welch_at_few_seeds_keeps_the_error_under_optional_stopping(std_a, std_b):
    """Under no difference, stopping at the first look whose t crosses the look's t quantile errs
    at about 5% over 4 looks at 3-12 seeds per row; re-testing at 5% after every round errs at 12%."""
    design, tables = Design((3, 6, 9, 12), 1), 20_000
    rng = np.random.default_rng(0)
    a, b = std_a * rng.standard_normal((tables, 12)), std_b * rng.standard_normal((tables, 12))
    sequential, naive = np.zeros(tables, bool), np.zeros(tables, bool)
    for look, seeds in enumerate(design.looks):
        delta, se, df = welch(a[:, :seeds], b[:, :seeds])
        sequential |= np.abs(delta) / se >= sp.t.isf(design.levels(look)[0] / 2, df)
        naive |= np.abs(delta) / se >= sp.t.isf(0.025, df)
    assert 0.042 < sequential.mean() < 0.058
    assert naive.mean() > 0.10
