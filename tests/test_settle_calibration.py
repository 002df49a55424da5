"""A settle sweep holds the family's error where naive re-testing after every round does not
(`scripts/settle_calibration.py`, reduced): in-process, nothing trained."""

import sys
from pathlib import Path

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
