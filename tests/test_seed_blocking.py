"""scripts/seed_blocking.py: its analysis on constructed designs whose answer is known, checked
against the formulas written out here, and the script end to end at the tiniest settings."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import load_script
from scipy import stats

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "seed_blocking.py"


def _script():
    return load_script("seed_blocking")


ROW_EFFECTS = {"original": 5.0, "16": 4.0, "2": 4.5}


def _design(seeds: int, seed_std: float, noise_std: float, rng_seed: int = 0) -> dict[str, dict[int, float]]:
    """err = row effect + seed effect + noise, the seed effect shared by every row."""
    rng = np.random.default_rng(rng_seed)
    seed_effect = rng.normal(0, seed_std, seeds)
    return {
        row: {seed: effect + seed_effect[seed] + rng.normal(0, noise_std) for seed in range(seeds)}
        for row, effect in ROW_EFFECTS.items()
    }


def _icc_by_hand(values: np.ndarray) -> tuple[float, float, float]:
    """ICC(C,1) and its 95% interval from the mean squares of the two-way layout, written out."""
    k, n = values.shape  # rows (raters), seeds (targets)
    grand = values.mean()
    ss_rows = n * ((values.mean(axis=1) - grand) ** 2).sum()
    ss_seeds = k * ((values.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((values - grand) ** 2).sum() - ss_rows - ss_seeds
    ms_seeds, ms_error = ss_seeds / (n - 1), ss_error / ((n - 1) * (k - 1))
    icc = (ms_seeds - ms_error) / (ms_seeds + (k - 1) * ms_error)
    f = ms_seeds / ms_error
    df1, df2 = n - 1, (n - 1) * (k - 1)
    f_low, f_high = f / stats.f.ppf(0.975, df1, df2), f * stats.f.ppf(0.975, df2, df1)
    return icc, (f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1)


def _half_widths(row: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """Welch's and the paired t interval's 95% half-widths, from their formulas."""
    n = len(row)
    v1, v2 = row.var(ddof=1) / n, base.var(ddof=1) / n
    welch_df = (v1 + v2) ** 2 / (v1**2 / (n - 1) + v2**2 / (n - 1))
    welch = stats.t.ppf(0.975, welch_df) * math.sqrt(v1 + v2)
    paired = stats.t.ppf(0.975, n - 1) * (row - base).std(ddof=1) / math.sqrt(n)
    return welch, paired


def _check_against_hand(result, errors):
    values = np.array([[errors[row][seed] for seed in sorted(errors[row])] for row in errors])
    icc, low, high = _icc_by_hand(values)
    assert result.icc == pytest.approx(icc, rel=1e-9, abs=1e-12)
    assert (result.icc_low, result.icc_high) == pytest.approx((low, high), rel=1e-9, abs=1e-12)
    correlations = np.corrcoef(values)
    pairs = [correlations[i, j] for i in range(len(values)) for j in range(i + 1, len(values))]
    assert result.mean_pearson == pytest.approx(np.mean(pairs), rel=1e-9, abs=1e-12)
    base = values[0]
    for index, comparison in enumerate(result.comparisons, start=1):
        welch, paired = _half_widths(values[index], base)
        assert comparison.welch_half == pytest.approx(welch, rel=1e-9)
        assert comparison.paired_half == pytest.approx(paired, rel=1e-9)
        assert comparison.delta == pytest.approx(values[index].mean() - base.mean())


def test_a_strong_seed_effect_gives_a_high_correlation_and_much_narrower_blocked_intervals():
    seed_blocking = _script()
    errors = _design(seeds=8, seed_std=2.0, noise_std=0.05)
    result = seed_blocking.analyse(errors, "original")
    _check_against_hand(result, errors)
    assert result.icc > 0.99 and result.icc_low > 0.95
    assert result.mean_pearson > 0.99
    assert result.p_seed < 1e-6
    assert [c.row for c in result.comparisons] == ["16", "2"]
    for comparison in result.comparisons:
        assert comparison.ratio < 0.1  # blocked half-width a tenth of the unblocked one, or less
    assert "**A blocked analysis is warranted here**" in "\n".join(seed_blocking.conclusion(result))


def test_no_seed_effect_gives_a_correlation_near_zero_and_no_gain_from_blocking():
    seed_blocking = _script()
    errors = _design(seeds=300, seed_std=0.0, noise_std=1.0)
    result = seed_blocking.analyse(errors, "original")
    _check_against_hand(result, errors)
    assert abs(result.icc) < 0.1 and result.icc_low < 0 < result.icc_high
    assert abs(result.mean_pearson) < 0.1
    for comparison in result.comparisons:
        assert 0.9 < comparison.ratio < 1.1  # pairing gains nothing (and costs df)
    # the break-even correlation: 1 - (t(2n-2) / t(n-1))^2, written out for 8 seeds
    assert seed_blocking.break_even_correlation(8) == pytest.approx(
        1 - (stats.t.ppf(0.975, 14) / stats.t.ppf(0.975, 7)) ** 2
    )


def test_seeds_missing_from_a_row_are_left_out_of_every_row():
    seed_blocking = _script()
    errors = _design(seeds=6, seed_std=1.0, noise_std=0.5)
    del errors["2"][5]
    result = seed_blocking.analyse(errors, "original")
    assert result.seeds == [0, 1, 2, 3, 4] and result.left_out == {"original": [5], "16": [5]}
    assert result.values.shape == (3, 5)
    with pytest.raises(ValueError, match="reference row"):
        seed_blocking.analyse(errors, "8")


@pytest.mark.slow
def test_the_script_sweeps_through_the_cli_and_writes_its_report(tmp_path):
    out = tmp_path / "seed_blocking.md"
    command = [
        sys.executable,
        str(SCRIPT),
        *("--results-dir", str(tmp_path / "results"), "--data-root", str(tmp_path / "digits")),
        *("--out", str(out), "--rows", "original,16", "--seeds", "2", "--epochs", "1"),
        *("--images-per-class", "2", "--batch-size", "8"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    report = out.read_text()
    assert "| row | seed 0 | seed 1 | mean | std |" in report
    assert any(line.startswith("| original | ") for line in report.splitlines())
    assert any(line.startswith("| 16 | ") for line in report.splitlines())
    assert "ICC of the seed block" in report and "## Conclusion" in report
    assert "python -m senet_ablate +exp=reduction_sweep exp.row=original,16 seed=0,1" in report
    # 2 images of each digit in each split: 20 + 20 PNGs
    assert len(list((tmp_path / "digits").rglob("*.png"))) == 40
    assert len(list((tmp_path / "results" / "runs").glob("*.json"))) == 4
