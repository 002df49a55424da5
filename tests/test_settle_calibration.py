"""A settle sweep holds the family's error where naive re-testing after every round does not
(`scripts/settle_calibration.py`, reduced), and prices its seeds against the fixed design of equal power:
in-process, nothing trained."""

import numpy as np
import pytest
from helpers import load_script

from senet_ablate.report import stats
from senet_ablate.report.sequential import Design
from senet_ablate.report.settle_cost import SEED, cost, draw, equal_power_seeds, fixed_powers


@pytest.fixture(scope="module")
def settle_calibration():
    return load_script("settle_calibration")


def test_settle_holds_the_family_wise_error_that_naive_re_testing_inflates(settle_calibration):
    result = settle_calibration.calibrate(sigma=0.15, tables=1500, table="gate", max_seeds=12, looks=6)
    settle, naive = result["errors"]["settle"], result["errors"]["naive"]
    assert settle[0] < 0.05 + 3 * 0.0056  # 5% + 3 Monte Carlo s.e. at 1500 tables
    assert naive[0] > 0.07 and naive[0] > settle[0] + 3 * naive[1]
    assert result["design"].looks == (2, 4, 6, 8, 10, 12) and 2 <= result["expected"] <= 12
    assert result["sized"] == pytest.approx(12.0, abs=1.5)  # the fixed design's seeds for 90% (section 7)


def test_the_section_is_replaced_in_place_and_the_rest_of_the_file_kept(settle_calibration, tmp_path):
    out = tmp_path / "statistics.md"
    begin, end = settle_calibration.SETTLE_BEGIN, settle_calibration.SETTLE_END
    out.write_text(f"# head\n\n## 6. six\n\n{begin}\nold seven\n{end}\n")
    settle_calibration.write(out, [begin, "new seven", end, ""])
    assert out.read_text() == f"# head\n\n## 6. six\n\n{begin}\nnew seven\n{end}\n"


def test_equal_power_seeds_interpolate_the_fixed_designs_curve_between_whole_seeds():
    curve = np.array([0.0, 0.0, 0.2, 0.5, 0.9, 1.0])
    assert equal_power_seeds(curve, 0.7) == pytest.approx(3.5)
    assert equal_power_seeds(curve, 0.9) == pytest.approx(4.0)
    assert equal_power_seeds(curve, 0.1) == 2.0 and equal_power_seeds(curve, 1.01) is None


def test_the_expected_seeds_of_a_row_are_those_of_its_last_open_comparison_and_the_fixed_design_matches_its_power():
    """A 2-point gain settles by the second look (the first, at 3 seeds and ~4 df, needs t > 60); an
    equivalence runs longer, and the reference with it."""
    pairs, means = [("A", "ref"), ("B", "ref")], {"A": 23.0, "B": 25.0, "ref": 25.0}
    priced = cost(Design((3, 6, 9, 12), 2), means, 0.15, pairs, 0.2, tables=400)
    assert 3.0 <= priced.expected["A"] <= 6.0
    assert priced.expected["ref"] == priced.expected["B"] > priced.expected["A"] + 2
    assert 0.8 < priced.power < 1.0 and priced.fixed is not None  # B is not always called equivalent by 12
    curve = fixed_powers(means, 0.15, 36, pairs, 0.2, 400)
    assert np.all(np.diff(curve) >= 0) and curve[2] < 0.5 < curve[-1] <= 1
    first = {label: array[:, :8] for label, array in draw(means, 0.15, 36, 400, SEED + 1).items()}  # common draws
    judged = stats.judge(first, {label: np.zeros(a.shape, bool) for label, a in first.items()}, pairs, 2, 0.2, 100.0)
    assert curve[8] == np.mean([judged[pair].codes != stats.UNRESOLVED for pair in pairs])
    assert curve[int(priced.fixed)] <= priced.power <= curve[int(priced.fixed) + 1]
