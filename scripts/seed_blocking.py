"""Does blocking by seed help? A rows x seeds sweep measured as a randomized block design.

In this trainer a seed fixes the data order, each image's augmentation and any mixing, whatever the
row (`senet_ablate/data/build.py`, `senet_ablate/engine/trainer.py`); it also seeds the model's
initialisation, though rows whose models differ draw different weights from it. So seed s of one row
and seed s of another share part of their training noise, and a sweep of rows x seeds may be a
randomized block design with the seed as the block. The report (`senet_ablate/report/stats.py`)
treats the seeds of different rows as unpaired. If same-seed runs correlate across rows, a paired
(blocked) comparison gives narrower intervals; if they do not, pairing only costs degrees of freedom
(n - 1 instead of about 2(n - 1)). Nobody had measured which it is, so this script does, on real
images:

1. writes scikit-learn's digits (1797 real 8x8 greyscale images, 10 classes) as an image folder
   (`<data-root>/{train,val}/<digit>/<index>.png`, a fixed stratified 80/20 split, seed 0);
2. runs a real sweep through the product's CLI, `python -m senet_ablate +exp=reduction_sweep` with
   some of its rows (`exp.row=...`) and `--seeds` seeds, ResNet-20 under `trainer=smoke` on the CPU,
   records in `--results-dir` (running it again trains nothing that is already complete);
3. reads the records with the project's reader (`senet_ablate.records.trusted.read_trusted`) and
   analyses the top-1 errors (`analyse`): the intraclass correlation of the seed block from a
   two-way rows x seeds ANOVA without replication (statsmodels `ols` + `anova_lm`), with its 95%
   interval and the ANOVA's F test for the seed effect; the mean pairwise Pearson correlation of
   same-seed results across rows as a check; and, for each row against the reference row, the 95%
   interval's half-width unblocked (Welch) and blocked (paired t), and their ratio;
4. writes the markdown report (`--out`).

    python scripts/seed_blocking.py --seeds 8 --epochs 8

scikit-learn and statsmodels come with the `dev` extra (`pip install -e ".[dev]"`).
"""

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy import stats

EXP = "reduction_sweep"
CONFIDENCE = 0.95
SPLIT_SEED = 0  # the train/val split of the digits
VAL_FRACTION = 0.2
MARKER = "seed_blocking_digits.json"  # in --data-root: what was written there, so a rerun reuses it


# ---------------------------------------------------------------------------------------------
# the analysis: {row: {seed: top1_err}} -> figures


@dataclass(frozen=True)
class RowComparison:
    """One row against the reference row, over the seeds both have."""

    row: str
    delta: float  # mean(row) - mean(reference)
    pearson: float  # correlation of the row's and the reference's same-seed errors
    welch_half: float  # 95% half-width, unblocked: Welch's t, ttest_ind(equal_var=False)
    paired_half: float  # 95% half-width, blocked: paired t on same-seed differences
    welch_df: float
    paired_df: int

    @property
    def ratio(self) -> float:
        """blocked / unblocked half-width: below 1, blocking narrowed the interval."""
        return self.paired_half / self.welch_half


@dataclass(frozen=True)
class Analysis:
    rows: list[str]
    seeds: list[int]  # the seeds every row has (complete blocks); the others are left out
    values: np.ndarray  # rows x seeds, top-1 error
    reference: str
    ms_rows: float
    ms_seeds: float
    ms_error: float
    df_rows: int
    df_seeds: int
    df_error: int
    f_seed: float  # statsmodels' anova_lm F for the seed (block) effect
    p_seed: float
    icc: float  # consistency ICC of the seed block, ICC(C,1) (McGraw & Wong case 3)
    icc_low: float  # its 95% interval (exact, from the F distribution)
    icc_high: float
    mean_pearson: float  # mean pairwise Pearson correlation of same-seed results across rows
    pearson_pairs: dict[tuple[str, str], float]
    comparisons: list[RowComparison]
    break_even: float  # the correlation at which paired and Welch intervals are equally wide
    left_out: dict[str, list[int]] = field(default_factory=dict)  # seeds dropped per row (incomplete)


def anova_mean_squares(rows: list[str], seeds: list[int], values: np.ndarray) -> dict:
    """The two-way ANOVA without replication (err ~ row + seed) fitted by statsmodels."""
    import pandas as pd
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    frame = pd.DataFrame(
        [(row, str(seed), values[i, j]) for i, row in enumerate(rows) for j, seed in enumerate(seeds)],
        columns=["row", "seed", "err"],
    )
    table = anova_lm(ols("err ~ C(row) + C(seed)", data=frame).fit())
    mean_sq = table["sum_sq"] / table["df"]
    return {
        "ms_rows": float(mean_sq["C(row)"]),
        "ms_seeds": float(mean_sq["C(seed)"]),
        "ms_error": float(mean_sq["Residual"]),
        "df_rows": int(table.loc["C(row)", "df"]),
        "df_seeds": int(table.loc["C(seed)", "df"]),
        "df_error": int(table.loc["Residual", "df"]),
        "f_seed": float(table.loc["C(seed)", "F"]),
        "p_seed": float(table.loc["C(seed)", "PR(>F)"]),
    }


def icc_interval(f: float, k: int, df_seeds: int, df_error: int) -> tuple[float, float, float]:
    """ICC(C,1) from the seed F ratio with k rows, and its exact 95% interval (McGraw & Wong 1996)."""
    alpha = 1 - CONFIDENCE
    icc = (f - 1) / (f + k - 1)
    f_low = f / stats.f.ppf(1 - alpha / 2, df_seeds, df_error)
    f_high = f * stats.f.ppf(1 - alpha / 2, df_error, df_seeds)
    return icc, (f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1)


def half_width(interval) -> float:
    return float(interval.high - interval.low) / 2


def break_even_correlation(n: int) -> float:
    """The same-seed correlation above which a paired t interval (df n - 1) is narrower than Welch's
    (df about 2(n - 1) with equal variances): 1 - (t(2n-2) / t(n-1))^2."""
    q = 1 - (1 - CONFIDENCE) / 2
    return 1 - (stats.t.ppf(q, 2 * n - 2) / stats.t.ppf(q, n - 1)) ** 2


def analyse(errors: Mapping[str, Mapping[int, float]], reference: str) -> Analysis:
    """The blocking figures of `{row: {seed: top1_err}}`, over the seeds every row has.

    Needs at least 2 rows (the reference among them) and 2 common seeds (3 or more for any precision)."""
    rows = list(errors)
    if reference not in errors:
        raise ValueError(f"the reference row {reference!r} has no results")
    if len(rows) < 2:
        raise ValueError("at least two rows are needed")
    seeds = sorted(set.intersection(*(set(errors[row]) for row in rows)))
    if len(seeds) < 2:
        raise ValueError(f"only {len(seeds)} seeds are common to every row: at least 2 are needed")
    left_out = {row: sorted(set(errors[row]) - set(seeds)) for row in rows if set(errors[row]) - set(seeds)}
    values = np.array([[float(errors[row][seed]) for seed in seeds] for row in rows])
    anova = anova_mean_squares(rows, seeds, values)
    icc, icc_low, icc_high = icc_interval(anova["f_seed"], len(rows), anova["df_seeds"], anova["df_error"])
    pairs = {
        (rows[a], rows[b]): float(stats.pearsonr(values[a], values[b]).statistic)
        for a, b in combinations(range(len(rows)), 2)
    }
    base = values[rows.index(reference)]
    comparisons = []
    for index, row in enumerate(rows):
        if row == reference:
            continue
        welch = stats.ttest_ind(values[index], base, equal_var=False)
        paired = stats.ttest_rel(values[index], base)
        comparisons.append(
            RowComparison(
                row,
                float(values[index].mean() - base.mean()),
                float(stats.pearsonr(values[index], base).statistic),
                half_width(welch.confidence_interval(CONFIDENCE)),
                half_width(paired.confidence_interval(CONFIDENCE)),
                float(welch.df),
                int(paired.df),
            )
        )
    return Analysis(
        rows,
        seeds,
        values,
        reference,
        **anova,
        icc=icc,
        icc_low=icc_low,
        icc_high=icc_high,
        mean_pearson=statistics.fmean(pairs.values()),
        pearson_pairs=pairs,
        comparisons=comparisons,
        break_even=break_even_correlation(len(seeds)),
        left_out=left_out,
    )


# ---------------------------------------------------------------------------------------------
# the data, the sweep and the records


def digits_split() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """scikit-learn's digits as uint8 8x8 greyscale images (the 0..16 pixel values scaled to
    0..255) with their labels, and the indices of each split (`train`, `val`, each sorted): 80/20
    stratified by class with seed 0. Every writer of the digits shares this split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    indices = np.arange(len(digits.target))
    train, val = train_test_split(
        indices, test_size=VAL_FRACTION, stratify=digits.target, random_state=SPLIT_SEED, shuffle=True
    )
    pixels = np.rint(digits.images * 255 / 16).astype(np.uint8)
    return pixels, digits.target.astype(np.int64), {"train": np.sort(train), "val": np.sort(val)}


def write_digits(root: Path, images_per_class: int | None) -> int:
    """scikit-learn's digits as `<root>/{train,val}/<digit>/<index>.png` (8-bit greyscale, the 0..16
    pixel values scaled to 0..255), split 80/20 stratified by class with seed 0; with
    `images_per_class`, only the first that many of each class in each split. A root written before
    with the same settings is reused as it is; any other existing root is refused. Returns the images."""
    from PIL import Image

    settings = {"split_seed": SPLIT_SEED, "val_fraction": VAL_FRACTION, "images_per_class": images_per_class}
    marker = root / MARKER
    if marker.is_file() and json.loads(marker.read_text())["settings"] == settings:
        return json.loads(marker.read_text())["images"]
    if root.exists() and any(root.iterdir()):
        raise SystemExit(
            f"error: --data-root {root} exists and was not written by this script with these settings: "
            "choose an empty or new folder"
        )
    pixels, labels, splits = digits_split()
    written = 0
    for split, chosen in splits.items():
        per_class: dict[int, int] = {}
        for index in chosen:
            label = int(labels[index])
            if images_per_class is not None and per_class.get(label, 0) >= images_per_class:
                continue
            per_class[label] = per_class.get(label, 0) + 1
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[index], mode="L").save(folder / f"{index:04d}.png")
            written += 1
    marker.write_text(json.dumps({"settings": settings, "images": written}))
    return written


def sweep_overrides(args: argparse.Namespace) -> list[str]:
    """The CLI's overrides for the sweep (every path absolute: the CLI runs from here, records say it)."""
    return [
        f"+exp={EXP}",
        f"exp.row={','.join(args.rows)}",
        f"seed={','.join(str(seed) for seed in range(args.seeds))}",
        "model=resnet20",
        "data=imagefolder",
        f"data.root={args.data_root.resolve()}",
        "data.num_classes=10",
        f"data.image_size={args.image_size}",
        "data.augment=cifar",
        "data.num_workers=0",
        "trainer=smoke",
        "trainer.device=cpu",
        "trainer.progress=false",
        f"trainer.epochs={args.epochs}",
        f"trainer.batch_size={args.batch_size}",
        f"results_dir={args.results_dir.resolve()}",
    ]


def read_errors(args: argparse.Namespace) -> tuple[dict[str, dict[int, float]], list[dict]]:
    """`{row: {seed: top1_err}}` of the completed runs of this setting in the results dir, with their
    records; two runs of one (row, seed) are refused (another setting's runs in the same folder)."""
    from senet_ablate.records.trusted import read_trusted

    wanted = {
        ("model", "name"): "resnet20",
        ("data", "name"): "imagefolder",
        ("data", "image_size"): args.image_size,
        ("data", "augment"): "cifar",
        ("trainer", "epochs"): args.epochs,
        ("trainer", "batch_size"): args.batch_size,
    }
    errors: dict[str, dict[int, float]] = {}
    chosen = []
    for record in read_trusted(args.results_dir).counted:
        config = record["config"]
        if (
            record["status"] != "completed"
            or record["exp"] != EXP
            or record["label"] not in args.rows
            or record["seed"] >= args.seeds
            or any(config.get(group, {}).get(key) != value for (group, key), value in wanted.items())
        ):
            continue
        seeds = errors.setdefault(record["label"], {})
        if record["seed"] in seeds:
            raise SystemExit(
                f"error: {args.results_dir} holds two completed runs of row {record['label']} seed {record['seed']} "
                "with these settings (another dataset?): use a results dir of its own"
            )
        seeds[record["seed"]] = record["top1_err"]
        chosen.append(record)
    return {row: errors[row] for row in args.rows if row in errors}, chosen


# ---------------------------------------------------------------------------------------------
# the markdown


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def conclusion(result: Analysis) -> list[str]:
    """The verdict, from the figures: is a blocked analysis warranted on this data?"""
    ratios = [c.ratio for c in result.comparisons]
    narrower = sum(ratio < 1 for ratio in ratios)
    n = len(result.seeds)
    said = [
        f"Blocking by seed narrowed the 95% interval for {narrower} of {len(ratios)} comparisons with "
        f"`{result.reference}` (blocked / unblocked half-width: {', '.join(fmt(r) for r in ratios)}; "
        f"median {fmt(statistics.median(ratios))}).",
        f"With {n} seeds a paired interval (df {n - 1}) is narrower than Welch's (df about {2 * (n - 1)}) only "
        f"when same-seed results correlate above r = {fmt(result.break_even)}; the seed block's ICC is "
        f"{fmt(result.icc)} (95% interval {fmt(result.icc_low)} to {fmt(result.icc_high)}), the mean pairwise "
        f"Pearson r {fmt(result.mean_pearson)}, and the seed effect's F test gives p = {fmt(result.p_seed, 3)}.",
    ]
    if result.icc_low > result.break_even:
        said.append(
            "**A blocked analysis is warranted here**: the correlation is above the break-even point with 95% "
            "confidence, so pairing same-seed runs gives narrower intervals than the unpaired analysis."
        )
    elif result.icc_high < result.break_even:
        said.append(
            "**A blocked analysis is not warranted here**: the correlation is below the break-even point with 95% "
            "confidence, so pairing by seed would only cost degrees of freedom; the report's unpaired (Welch) "
            "analysis is the right default."
        )
    else:
        said.append(
            "**Not settled by this measurement**: the correlation's interval spans the break-even point, so "
            "neither analysis is shown to give narrower intervals on this data. Without evidence of a gain, the "
            "report's unpaired analysis (Welch: each row its own spread, and no complete blocks "
            "needed) stays the safer default."
        )
    return said


def render(
    result: Analysis,
    command: str,
    cli: str,
    setting: list[str],
    timing: list[str],
    records: list[dict],
) -> str:
    lines = [
        "# Does blocking by seed help? A rows x seeds sweep as a randomized block design",
        "",
        "Written by `scripts/seed_blocking.py` (see its docstring for why). The command:",
        "",
        "```bash",
        command,
        "```",
        "",
        "It ran the sweep through the product's CLI (a run already complete in the results dir is not trained again):",
        "",
        "```bash",
        cli,
        "```",
        "",
        "## Setting",
        "",
        *[f"- {line}" for line in setting],
        "",
        "## Top-1 error (%) per row and seed",
        "",
        "| row | " + " | ".join(f"seed {seed}" for seed in result.seeds) + " | mean | std |",
        "|---|" + "---:|" * (len(result.seeds) + 2),
    ]
    for index, row in enumerate(result.rows):
        values = result.values[index]
        cells = " | ".join(fmt(value) for value in values)
        lines.append(f"| {row} | {cells} | {fmt(values.mean())} | {fmt(values.std(ddof=1))} |")
    seed_means = result.values.mean(axis=0)
    lines.append("| *seed mean* | " + " | ".join(fmt(v) for v in seed_means) + " | | |")
    if result.left_out:
        lines += [
            "",
            "Left out (not complete blocks): "
            + "; ".join(f"row {row} seeds {', '.join(map(str, seeds))}" for row, seeds in result.left_out.items()),
        ]
    a, n = len(result.rows), len(result.seeds)
    spreads = [float(values.std(ddof=1)) for values in result.values]
    lines += [
        "",
        "## Within-seed correlation across rows",
        "",
        f"The rows' spreads differ (std over seeds from {fmt(min(spreads))} to {fmt(max(spreads))}): the ANOVA's "
        "ICC assumes one residual variance for every row, Welch's interval and the Pearson correlations do not.",
        "",
        f"Two-way ANOVA without replication, `err ~ C(row) + C(seed)` (statsmodels `ols` + `anova_lm`), {a} rows "
        f"x {n} seeds:",
        "",
        "| source | df | mean square | F | p |",
        "|---|---:|---:|---:|---:|",
        f"| rows | {result.df_rows} | {fmt(result.ms_rows, 3)} | {fmt(result.ms_rows / result.ms_error)} | |",
        f"| seeds (blocks) | {result.df_seeds} | {fmt(result.ms_seeds, 3)} | {fmt(result.f_seed)} | "
        f"{fmt(result.p_seed, 3)} |",
        f"| residual | {result.df_error} | {fmt(result.ms_error, 3)} | | |",
        "",
        f"- **ICC of the seed block** (consistency, ICC(C,1) = (MS_seeds - MS_error) / (MS_seeds + (k - 1) MS_error), "
        f"k = {a} rows): **{fmt(result.icc, 3)}**, 95% interval {fmt(result.icc_low, 3)} to {fmt(result.icc_high, 3)} "
        "(exact, from the F distribution; McGraw & Wong 1996, case 3). It is the correlation of two rows' results "
        "under the same seed once the rows' own effects are removed.",
        f"- **Seed effect's F test**: F({result.df_seeds}, {result.df_error}) = {fmt(result.f_seed)}, "
        f"p = {fmt(result.p_seed, 3)}.",
        f"- **Check, mean pairwise Pearson r** of same-seed results across rows: {fmt(result.mean_pearson, 3)} ("
        + ", ".join(f"{x} vs {y}: {fmt(r, 3)}" for (x, y), r in result.pearson_pairs.items())
        + ").",
        "",
        f"## Each row against `{result.reference}`: 95% interval half-widths, unblocked vs blocked",
        "",
        "Unblocked: Welch's t, `scipy.stats.ttest_ind(equal_var=False)`; blocked: paired t on same-seed "
        "differences, `scipy.stats.ttest_rel`. Both from `.confidence_interval(0.95)`, in top-1 points.",
        "",
        f"| row | Δ top-1 vs {result.reference} | Pearson r with {result.reference} | unblocked ± (Welch df) "
        "| blocked ± (df) | blocked / unblocked |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in result.comparisons:
        lines.append(
            f"| {c.row} | {c.delta:+.2f} | {fmt(c.pearson, 3)} | {fmt(c.welch_half)} ({fmt(c.welch_df, 1)}) | "
            f"{fmt(c.paired_half)} ({c.paired_df}) | **{fmt(c.ratio)}** |"
        )
    lines += [
        "",
        f"Break-even: with equal spreads, the blocked interval is narrower when the correlation exceeds "
        f"1 - (t(0.975, {2 * (n - 1)}) / t(0.975, {n - 1}))^2 = {fmt(result.break_even, 3)}; at r = 0 it is "
        f"{fmt(1 / math.sqrt(1 - result.break_even), 3)} times as wide as Welch's.",
        "",
        "## Conclusion",
        "",
        *(line for said in conclusion(result) for line in (said, "")),
        "What this cannot tell: it is one small data set (360 validation images, so one image is 0.28 points of "
        "top-1 error and the errors move in those steps), one small model (ResNet-20), one short CPU recipe. "
        "Seeds also initialise the models, which share the data order "
        "and augmentations across rows but not, past the first SE block, their initial weights. On ImageNet-scale "
        "runs, other models or longer schedules the same-seed correlation may differ, and with this many seeds "
        "its interval is wide. The measurement is cheap to repeat there: the records hold everything `analyse` "
        "needs.",
        "",
        "## Timing",
        "",
        *[f"- {line}" for line in timing],
        "",
        "Run records (in the results dir's `runs/`): "
        + ", ".join(f"`{r['run_id']}` ({r['label']}, seed {r['seed']})" for r in records),
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def span_s(records: list[dict]) -> float:
    """Seconds from the first record's start to the last one's last update."""
    starts = [datetime.fromisoformat(r["started_at"]) for r in records if r.get("started_at")]
    ends = [datetime.fromisoformat(r["updated_at"]) for r in records if r.get("updated_at")]
    return (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=Path("results/seed_blocking"),
        help="the runs' records (default %(default)s)",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=Path("data/digits"),
        help="where the digits are written as an image folder (default %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results/seed_blocking.md"), help="the markdown report (default %(default)s)"
    )
    parser.add_argument(
        "--rows",
        default="original,16,2",
        help=f"rows of {EXP} to run, comma-separated; the reference row first (default %(default)s)",
    )
    parser.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1 for every row (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=8, help="trainer.epochs (default %(default)s)")
    parser.add_argument(
        "--image-size", type=int, default=16, help="data.image_size: the 8x8 digits are upscaled (default %(default)s)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="trainer.batch_size (default %(default)s)")
    parser.add_argument(
        "--images-per-class",
        type=int,
        default=None,
        help="keep only this many images of each class in each split (tests; default: all 1797)",
    )
    args = parser.parse_args(argv)
    args.rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    if len(args.rows) < 2 or args.seeds < 2:
        parser.error("give at least 2 rows and 2 seeds")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    images = write_digits(args.data_root, args.images_per_class)
    overrides = sweep_overrides(args)
    cli = [sys.executable, "-m", "senet_ablate", *overrides]
    print("running:", shlex.join(cli), flush=True)
    # One compute thread, unless the caller chose: on 2 cores shared with other work, torch's default
    # (one thread per core) trained ResNet-20 at 36 img/s where one thread trained at ~400.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    start = time.monotonic()
    status = subprocess.run(cli, env=env).returncode
    sweep_s = time.monotonic() - start
    if status != 0:
        print(f"error: the sweep ended with exit status {status}; no report written", file=sys.stderr)
        return status
    errors, records = read_errors(args)
    reference = args.rows[0]
    result = analyse(errors, reference)
    walls = [r["wall_time_s"] for r in records if r.get("wall_time_s")]
    setting = [
        f"Data: scikit-learn's digits (`load_digits`, real 8x8 greyscale scans, 10 classes), {images} images written "
        f"as PNGs to an image folder, split {1 - VAL_FRACTION:.0%}/{VAL_FRACTION:.0%} stratified by class (seed "
        f"{SPLIT_SEED}); `data=imagefolder`, upscaled to `data.image_size={args.image_size}`, `data.augment=cifar` "
        "(4 px zero padding, random crop, horizontal flip).",
        f"Model and recipe: `model=resnet20`, `trainer=smoke` (SGD, lr 0.1, cosine, weight decay 5e-4) with "
        f"`trainer.epochs={args.epochs}`, `trainer.batch_size={args.batch_size}`, on the CPU with "
        f"`OMP_NUM_THREADS={env['OMP_NUM_THREADS']}`, `data.num_workers=0`.",
        f"Rows: `{EXP}` rows {', '.join(f'`{row}`' for row in args.rows)} (reference `{reference}`), "
        f"seeds 0 to {args.seeds - 1}.",
    ]
    timing = [
        f"One run (training and validation, from its record): median {fmt(statistics.median(walls), 1)} s "
        f"(from {fmt(min(walls), 1)} to {fmt(max(walls), 1)} s); all {len(walls)} together {sum(walls):.0f} s."
        if walls
        else "One run: n/a.",
        f"The runs span {span_s(records):.0f} s from the first one's start to the last one's end (from their records: "
        "the measurement's wall time, whichever command trained them).",
        f"This command's sweep (process start, every run not already complete, the sweep's table): {sweep_s:.0f} s, "
        f"on a machine of {len(os.sched_getaffinity(0))} CPUs shared with other work.",
    ]
    command = "python scripts/seed_blocking.py" + (" " + shlex.join(argv) if argv else "")
    cli_text = shlex.join(["python", "-m", "senet_ablate", *overrides])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(result, command, cli_text, setting, timing, records))
    print(f"wrote {args.out}: ICC {result.icc:.3f} [{result.icc_low:.3f}, {result.icc_high:.3f}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
