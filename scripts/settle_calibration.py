"""Simulate a settle sweep (`senet_ablate/runs/settle.py`) on the paper's three ablation tables beside
naive re-testing after every round and the fixed design, and write section 7 of `results/statistics.md`.

Why: a settle sweep is worth running only if (1) its family-wise error holds however its rounds
stop, where re-reading the fixed design's intervals after every round does not, and (2) it spends
fewer GPU-hours than the fixed design that reaches the same power. Both are properties of the rule,
measured here on thousands of simulated tables whose truth is known, with the same decision code
the driver calls (`stats.judge` at each look's levels from `report/sequential.py`).

Each cell is one table (its rows, reference, margin 0.2 and family as `scripts/stats_calibration.py`
reads them from conf/exp) at one seed spread σ:
  fixed   the fixed design's power curve at the paper's top-1 figures (`settle_cost.fixed_powers`: the
          share of the family settled at n seeds per row, n = 2 .. 64, on common draws) and the seeds
          n₉₀ at which it settles 90% (interpolated);
  design  the settle sweep a user would declare for that power: max_seeds = ⌈1.3 · n₉₀⌉ (the planner
          prints n at the paper's figures), the default looks and spending (`sequential.Settle`);
  error   under the global null (every row at 23.30): P(some comparison calls a direction), for the
          settle sweep, naive re-testing at the same looks, and the fixed design at max_seeds;
  seeds   at the paper's figures: the settle sweep's power (share settled at its stop), each row's
          expected seeds (a row runs to the last look at which any of its comparisons was open, the
          reference too), and the fixed design of equal power (its curve read at that power).
GPU-hours are seeds × hours per run summed over the rows, every row priced alike (the rows are
ResNet-50 variants within 10% of each other's time per run), so the ratios are ratios of seeds.

This script rewrites only its own section of results/statistics.md (between the markers below);
`scripts/stats_calibration.py` writes the rest and keeps this section; `make statistics` runs both.
"""

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats_calibration import (  # noqa: E402
    CHANCE,
    NULL_MEAN,
    ROOT,
    SETTLE_BEGIN,
    SETTLE_END,
    design,
    directional,
    draw,
    generator,
    pct,
    rate,
)

from senet_ablate.report import stats  # noqa: E402
from senet_ablate.report.sequential import RHO, Settle  # noqa: E402
from senet_ablate.report.settle_cost import equal_power_seeds, fixed_powers, rounds, seeds_per_row  # noqa: E402

TABLES = {"reduction": "reduction_sweep", "gate": "gate_sweep", "stages": "stage_sweep"}  # the three
TARGET = 0.90  # the power the fixed design is sized for
INFLATION = 1.3  # max_seeds over the fixed design's seeds at TARGET
CURVE = 64  # the fixed design's power curve, up to this many seeds per row
GOAL = 0.70  # the issue's: expected GPU-hours at most 70% of the fixed design's


def calibrate(sigma: float, tables: int, table: str = "reduction", max_seeds: int | None = None, **settle) -> dict:
    """One cell: error of settle / naive / fixed under the null; power and seeds at the paper's figures.
    `max_seeds`: the design's, else ⌈INFLATION · n₉₀⌉; `settle`: `Settle`'s looks and rho."""
    d = design(ROOT / "conf" / "exp" / f"{TABLES[table]}.yaml")
    paper = {label: d.paper.get(label, NULL_MEAN) for label in d.labels}  # the gate table's ResNet-50: 23.30
    curve = fixed_powers(paper, sigma, CURVE, d.pairs, d.margin, tables)
    sized = equal_power_seeds(curve, TARGET)
    most = max_seeds or math.ceil(INFLATION * sized)
    plan = Settle(most, **settle).design(len(d.pairs))
    levels = [plan.levels(k) for k in range(len(plan.looks))]
    spreads = dict.fromkeys(d.labels, sigma)
    null = draw(generator(5, sigma, most, len(plan.looks)), dict.fromkeys(d.labels, NULL_MEAN), spreads, most, tables)
    errors = {}
    for name, at in (("settle", levels), ("naive", None)):
        codes, _ = rounds(null, plan.looks, d.pairs, d.margin, CHANCE, at)
        errors[name] = rate(np.any([directional(SimpleNamespace(codes=codes[p])) for p in d.pairs], axis=0))
    gone = {label: np.zeros(array.shape, dtype=bool) for label, array in null.items()}
    fixed = stats.judge(null, gone, d.pairs, len(d.pairs), d.margin, CHANCE)
    errors["fixed"] = rate(np.any([directional(fixed[p]) for p in d.pairs], axis=0))
    values = draw(generator(6, sigma, most, len(plan.looks)), paper, spreads, most, tables)
    codes, stopped = rounds(values, plan.looks, d.pairs, d.margin, CHANCE, levels)
    power = float(np.mean([codes[pair] != stats.UNRESOLVED for pair in d.pairs]))
    rows = {label: float(seeds.mean()) for label, seeds in seeds_per_row(stopped, plan.looks, d.labels).items()}
    return {
        "table": f"{table} ({len(d.pairs)})",
        "sigma": sigma,
        "sized": sized,
        "design": plan,
        "errors": errors,
        "power": power,
        "rows": rows,
        "expected": float(np.mean(list(rows.values()))),
        "fixed_seeds": equal_power_seeds(curve, power),
    }


HEADER = [
    "| table (family) | σ | n₉₀ | looks (seeds per row) | error: settle | naive re-testing | fixed (max seeds) "
    "| power | E[seeds per row] | fixed of equal power | E / fixed | max / fixed |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]


def line(result: dict) -> str:
    e, fixed, looks = result["errors"], result["fixed_seeds"], result["design"].looks
    ratios = f"{result['expected'] / fixed:.2f} | {looks[-1] / fixed:.2f}" if fixed else "n/a | n/a"
    return (
        f"| {result['table']} | {result['sigma']:.2f} | {result['sized']:.1f} | {', '.join(map(str, looks))} | "
        + " | ".join(pct(e[k]) for k in ("settle", "naive", "fixed"))
        + f" | {100 * result['power']:.1f}% | {result['expected']:.1f} | "
        + (f"{fixed:.1f}" if fixed else "n/a")
        + f" | {ratios} |"
    )


def section(results: list[dict], command: str, tables: int, elapsed: float) -> list[str]:
    """Section 7 of results/statistics.md: the design, the table and what it says."""
    ratios = [r["expected"] / r["fixed_seeds"] for r in results if r["fixed_seeds"]]
    misses = [
        f"{r['table'].split()[0]} σ {r['sigma']:.2f}: {r['expected'] / r['fixed_seeds']:.2f}"
        for r in results
        if r["expected"] / r["fixed_seeds"] > GOAL
    ]
    worst = max(max(r["errors"]["settle"][0] for r in results), 0)
    naive = [r["errors"]["naive"][0] for r in results]
    spending = results[0]["design"].spending
    return [
        SETTLE_BEGIN,
        "## 7. Settle mode: seeds in rounds",
        "",
        f"`{command}`, {tables} tables per cell, {elapsed:.0f} s (written by `scripts/settle_calibration.py`, "
        "which rewrites only this section).",
        "",
        "Each of the paper's three ablation tables at the paper's own top-1 figures (the gate table's ResNet-50 at "
        "23.30) and seed spread σ. *n₉₀*: the seeds per row at which the fixed design settles 90% of the family "
        f"(its power curve on common draws, interpolated). The settle sweep declared: max_seeds = ⌈{INFLATION:g} · "
        f"n₉₀⌉, the default looks (up to 8, equally spaced, 2 seeds per look at least) and {spending} spending of "
        "5%/m (direction) and 10%/m (equivalence, a sequential TOST), repeated intervals at Welch's df. *error*: "
        "under the global null (every row at 23.30), the probability that any comparison calls a direction, in "
        "percent ± one Monte Carlo s.e.: the settle sweep, naive re-testing (the fixed design's intervals re-read "
        "after every round) at the same looks, the fixed design at max_seeds. *power*: the share of the family "
        "settled at the paper's figures. *E[seeds per row]*: the mean over rows of each row's expected seeds (a row "
        "runs until its last open comparison settles, the reference too). *fixed of equal power*: the seeds per "
        "row at which the fixed design settles as much (interpolated between whole seeds, which is no kinder to "
        "the settle sweep than rounding up). GPU-hours are seeds × hours per run summed over the rows, every row "
        "priced alike (ResNet-50 variants within 10% of each other's time per run), so *E / fixed* and *max / "
        "fixed* are the ratios of expected and maximum GPU-hours to the fixed design's at equal power.",
        "",
        *HEADER,
        *(line(r) for r in results),
        "",
        f"Reading. The settle sweep's family-wise error stays at most {100 * worst:.1f}% in every cell, "
        f"while naive re-testing after every round reaches {100 * min(naive):.1f}-{100 * max(naive):.1f}%. Its "
        f"expected GPU-hours are {min(ratios):.2f}-{max(ratios):.2f} of the fixed design's at equal power, its "
        f"maximum at most {max(r['design'].looks[-1] / r['fixed_seeds'] for r in results):.2f} times them. The "
        f"issue's goal, at most {GOAL:.0%} (a ratio's Monte Carlo error is about ±0.02), is "
        + (
            "met in every cell."
            if not misses
            else f"missed in {len(misses)} of {len(results)} cells ({', '.join(misses)})."
        ),
        "",
        "Why it is missed where it is: a row runs until the last of its comparisons settles, and each table has "
        "comparisons that settle only near the maximum: the reduction table's equivalence claim (r = 2, 4, 8, 16 "
        "within 0.2: its interval must shrink below the margin, which takes a nearly fixed number of seeds "
        "whatever the draws, so stopping early is rare), the gate table's ReLU against ResNet-50 (Δ = 0.17, inside "
        "the margin but not equivalent), the stage table's single stages against ResNet-50 (Δ ≈ 0.27); and at "
        "2-4 seeds per row Welch's df are 2-6, so the first looks' t quantiles, already at a tiny level, settle "
        "almost nothing (the stage table at σ 0.10, 7 seeds at most, has room for 3 looks). Other designs, by "
        "this script on the same cells at 2000 tables (E / fixed, lowest-highest; max / fixed; the default "
        "design there: 0.66-0.87, 1.01-1.08): `--looks 4 --rho obf` (the former default: 4 looks, Lan-DeMets "
        "O'Brien-Fleming) 0.74-0.89, 0.96-1.04; `--rho obf` (up to 8 looks) 0.69-0.89, 0.98-1.05; `--rho 2` "
        "0.66-0.89, 1.04-1.12; `--rho 1` (Pocock-like) 0.73-0.94, 1.15-1.21. More looks stop sooner; ρ = 3 "
        "spends a little more early than O'Brien-Fleming for a maximum a few percent higher; spending more early "
        "still (ρ ≤ 2) buys a maximum that costs more than the early stops save. In exploratory runs, 12 looks "
        "saved under 2% more than 8, and the ratio fell by about 0.04 when max_seeds was sized for more power "
        "(1.3 · n₉₀ against n₉₀): the settle sweep gains most where the fixed design is sized generously.",
        SETTLE_END,
        "",
    ]


def write(out: Path, lines: list[str]) -> None:
    """Replace this script's section of `out` (or append it)."""
    text = out.read_text() if out.exists() else ""
    if SETTLE_BEGIN in text:
        text = text[: text.index(SETTLE_BEGIN)] + text[text.index(SETTLE_END) + len(SETTLE_END) :].lstrip("\n")
    out.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=2000, help="simulated tables per cell")
    parser.add_argument("--max-seeds", type=int, default=None, help=f"default: ⌈{INFLATION:g} · n₉₀⌉ per cell")
    parser.add_argument("--looks", type=int, default=None, help="default: Settle's (up to 8)")
    parser.add_argument("--rho", default=str(RHO), help="Kim-DeMets ρ, or obf (Lan-DeMets O'Brien-Fleming)")
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.10, 0.15, 0.20])
    parser.add_argument("--table", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "statistics.md", help="none: print only")
    args = parser.parse_args(argv)
    rho = None if args.rho == "obf" else float(args.rho)
    started = time.perf_counter()
    print("\n".join(HEADER))
    results = []
    for table in args.table:
        for sigma in args.sigma:
            results.append(calibrate(sigma, args.tables, table, args.max_seeds, looks=args.looks, rho=rho))
            print(line(results[-1]), flush=True)
    elapsed = time.perf_counter() - started
    print(f"\n{args.tables} tables per cell, {elapsed:.0f} s")
    if str(args.out) != "none":
        command = "python scripts/settle_calibration.py" + "".join(
            f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv)
        )
        write(args.out, section(results, command, args.tables, elapsed))
        print(f"wrote section 7 of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
