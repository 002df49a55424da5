"""The report's decision procedure holds its error rates (`scripts/stats_calibration.py`, reduced):
in-process, a few thousand simulated tables, no process started, nothing trained."""

import pytest
from helpers import load_script

TABLES = 3000  # per check: a Monte Carlo s.e. of about 0.4 points at 5%
LEVEL = 0.05
NOMINAL_SE = (LEVEL * (1 - LEVEL) / TABLES) ** 0.5  # the Monte Carlo s.e. of a rate at the nominal level


@pytest.fixture(scope="module")
def calibration():
    return load_script("stats_calibration")


@pytest.mark.parametrize("scenario", ["equal", "unequal", "diverged"])
def test_the_new_rule_holds_its_family_wise_error_at_3_seeds(calibration, scenario):
    """Under the global null no comparison of the family points a direction, and no false claim
    holds, more than 5% of the time (+ 3 Monte Carlo s.e.): equal spread, one row at 4σ, one
    diverged seed."""
    result = calibration.family_wise_error(scenario, 3, 0.15, TABLES, candidates=False)
    for key in ("new_all", "new_claim_wrong"):
        p, _, _ = result[key]
        assert p <= LEVEL + 3 * NOMINAL_SE, (scenario, key, result[key])


def test_one_unstable_row_misleads_the_old_rule_and_not_the_new(calibration):
    """The issue's case (one row at σ = 0.6, the others at 0.1, 3 seeds): today's pooled rule calls
    the unstable row better or worse far above 5% (the issue measured 17.5%) and moves other rows'
    verdicts; the new rule holds 5% and leaves every other row's verdict as it was."""
    result = calibration.unstable_row(3, TABLES)
    assert result["old"]["unstable_called"][0] > 0.12, result["old"]
    assert result["old"]["others_changed"][0] > 0.10, result["old"]
    p = result["new"]["unstable_called"][0]
    assert p <= LEVEL + 3 * NOMINAL_SE, result["new"]
    assert result["new"]["others_changed"][0] == 0 and result["new"]["claims_changed"][0] == 0, result["new"]


@pytest.mark.parametrize("index", [0, 1, 4])  # the equivalence claim at Δ = 0, every r better, a cell at +margin
def test_the_seeds_advice_delivers_the_power_it_states(calibration, index):
    """At the seeds the report advises (through `conclusions.plan` / `stats.compare`, at the true σ),
    fresh tables make the claim hold (the cell resolve) within ±5 points of the stated probability."""
    setting = calibration.advice_settings()[index]
    result = calibration.advice_accuracy(setting, TABLES, index)
    assert result["seeds"] is not None, result
    assert abs(result["realized"][0] - result["stated"]) <= 0.05, (setting.name, result)
