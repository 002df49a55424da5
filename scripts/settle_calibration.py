"""Simulate a settle sweep (`senet_ablate/report/settle.py`) on the reduction table's family beside
naive re-testing after every round and the fixed design, and print the figures as a markdown table.

Why: a settle sweep is worth running only if (1) its family-wise error holds however its rounds
stop, where re-reading the fixed design's intervals after every round does not, and (2) it spends
fewer seeds than the fixed design that reaches the same power. Both are properties of the rule,
measured here on thousands of simulated tables whose truth is known, with the same decision code
the driver calls (`stats.judge` at each look's levels from `report/sequential.py`).

The design: the reduction table as `scripts/stats_calibration.py` reads it (rows r = 2 .. 32 and
the original, a family of 12 comparisons, margin 0.2). Each simulated table draws the maximum seeds
per row; a comparison is read at each look on the first n_k seeds and settles at the first look
with an outcome other than unresolved; a row's seeds are those of the last look at which any of
its comparisons was open (the reference too). Measured:
  error  under the global null (every row at the same mean): P(some comparison calls a direction);
  power  at the paper's own figures: the mean share of the 12 comparisons settled at the end;
  seeds  expected and maximum seeds per row, against the fixed design with the fewest seeds per row
         whose power is at least the settle design's.
"""

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stats_calibration import CHANCE, NULL_MEAN, ROOT, design, directional, draw, generator, rate  # noqa: E402

from senet_ablate.report import stats  # noqa: E402
from senet_ablate.report.sequential import Design, schedule  # noqa: E402
from senet_ablate.report.settle_cost import fixed_power, rounds, seeds_per_row  # noqa: E402

TABLES = {"reduction": "reduction_sweep", "gate": "gate_sweep", "stages": "stage_sweep"}  # the three


def calibrate(sigma: float, max_seeds: int, looks: int, tables: int, table: str = "reduction") -> dict:
    """One line of the table: error of settle / naive / fixed under the null; power and seeds at the paper's Δ."""
    d = design(ROOT / "conf" / "exp" / f"{TABLES[table]}.yaml")
    plan = Design(schedule(max_seeds, looks), len(d.pairs))
    levels = [plan.levels(k) for k in range(len(plan.looks))]
    spreads = dict.fromkeys(d.labels, sigma)
    null = draw(generator(5, sigma, max_seeds, looks), dict.fromkeys(d.labels, NULL_MEAN), spreads, max_seeds, tables)
    errors = {}
    for name, at in (("settle", levels), ("naive", None)):
        codes, _ = rounds(null, plan.looks, d.pairs, d.margin, CHANCE, at)
        errors[name] = rate(np.any([directional(SimpleNamespace(codes=codes[p])) for p in d.pairs], axis=0))
    gone = {label: np.zeros(array.shape, dtype=bool) for label, array in null.items()}
    fixed = stats.judge(null, gone, d.pairs, len(d.pairs), d.margin, CHANCE)
    errors["fixed"] = rate(np.any([directional(fixed[p]) for p in d.pairs], axis=0))
    # the gate table prints no SE-free row: its ResNet-50 is the paper's own 23.30 (NULL_MEAN, as in stages)
    paper = {label: d.paper.get(label, NULL_MEAN) for label in d.labels}
    values = draw(generator(6, sigma, max_seeds, looks), paper, spreads, max_seeds, tables)
    codes, stopped = rounds(values, plan.looks, d.pairs, d.margin, CHANCE, levels)
    power = float(np.mean([codes[pair] != stats.UNRESOLVED for pair in d.pairs]))
    expected = float(np.mean(list(seeds_per_row(stopped, plan.looks, d.labels).values())))
    equal = next(
        (n for n in range(2, 3 * max_seeds) if fixed_power(paper, sigma, n, d.pairs, d.margin, tables) >= power), None
    )  # the fixed design of equal power
    return {
        "table": f"{table} ({len(d.pairs)})",
        "sigma": sigma,
        "looks": plan.looks,
        "errors": errors,
        "power": power,
        "expected": expected,
        "fixed_seeds": equal,
    }


def line(result: dict) -> str:
    e = result["errors"]
    fixed = result["fixed_seeds"]
    ratio = f"{result['expected'] / fixed:.2f} / {result['looks'][-1] / fixed:.2f}" if fixed else "n/a"
    return (
        f"| {result['table']} | {result['sigma']:.2f} | {', '.join(map(str, result['looks']))} | "
        + " | ".join(f"{100 * e[k][0]:.1f} ± {100 * e[k][1]:.1f}" for k in ("settle", "naive", "fixed"))
        + f" | {100 * result['power']:.0f}% | {result['expected']:.1f} | {fixed} | {ratio} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=2000, help="simulated tables per cell")
    parser.add_argument("--max-seeds", type=int, default=24)
    parser.add_argument("--looks", type=int, default=4)
    parser.add_argument("--sigma", type=float, nargs="+", default=[0.10, 0.15, 0.20])
    parser.add_argument("--table", nargs="+", default=list(TABLES), choices=list(TABLES))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print(
        "| table (family) | σ | looks (seeds per row) | error: settle | naive re-testing | fixed (max seeds) "
        "| power (share settled) | E[seeds per row] | fixed design of equal power | E / max seeds ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for table in args.table:
        for sigma in args.sigma:
            print(line(calibrate(sigma, args.max_seeds, args.looks, args.tables, table)), flush=True)
    print(f"\n{args.tables} tables per cell, {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
