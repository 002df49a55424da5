"""A settle sweep holds the family's error where naive re-testing after every round does not
(`scripts/settle_calibration.py`, reduced): in-process, nothing trained."""

import sys
from pathlib import Path

from senet_ablate.report.sequential import Design
from senet_ablate.report.settle_cost import cost, fixed_power

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def test_settle_holds_the_family_wise_error_that_naive_re_testing_inflates():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import settle_calibration
    finally:
        sys.path.remove(str(SCRIPTS))
    result = settle_calibration.calibrate(sigma=0.15, max_seeds=12, looks=4, tables=1500)
    settle, naive = result["errors"]["settle"], result["errors"]["naive"]
    assert settle[0] < 0.05 + 3 * 0.0056  # 5% + 3 Monte Carlo s.e. at 1500 tables
    assert naive[0] > 0.07 and naive[0] > settle[0] + 3 * naive[1]
    assert result["looks"] == (3, 6, 9, 12) and 3 <= result["expected"] <= 12


def test_the_expected_seeds_of_a_row_are_those_of_its_last_open_comparison_and_the_fixed_design_matches_its_power():
    """A 2-point gain settles by the second look (the first, at 3 seeds and ~4 df, needs t > 60); an
    equivalence runs longer, and the reference with it."""
    pairs = [("A", "ref"), ("B", "ref")]
    priced = cost(Design((3, 6, 9, 12), 2), {"A": 23.0, "B": 25.0, "ref": 25.0}, 0.15, pairs, 0.2, tables=400)
    assert 3.0 <= priced.expected["A"] <= 6.0
    assert priced.expected["ref"] == priced.expected["B"] > priced.expected["A"] + 2
    assert 0.8 < priced.power < 1.0 and priced.fixed is not None  # B is not always called equivalent by 12
    assert fixed_power({"A": 23.0, "B": 25.0, "ref": 25.0}, 0.15, priced.fixed, pairs, 0.2, 400) >= priced.power
    assert fixed_power({"A": 23.0, "B": 25.0, "ref": 25.0}, 0.15, priced.fixed - 1, pairs, 0.2, 400) < priced.power
