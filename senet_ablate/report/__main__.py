"""`python -m senet_ablate.report`: write every experiment's table, its JSON and curves, and an index.

    python -m senet_ablate.report results_dir=results out=results/tables
    python -m senet_ablate.report exps=reduction_sweep se.bias=false

Tool options: `results_dir=` (default `results`), `out=` (default: the results dir), `exps=`
(comma-separated experiment files, default all). Anything else is a config override the runs
were launched with (see `write_reports`); a bad one is a one-line error with exit status 2.
"""

import sys

from senet_ablate.cli import pop_option, run_cli
from senet_ablate.report.tables import write_reports


def main(argv: list[str]) -> None:
    argv, results_dir = pop_option(argv, "results_dir", None, default="results")
    argv, out = pop_option(argv, "out", None, default=results_dir)
    argv, exps = pop_option(argv, "exps", None, default="all")
    for path in write_reports(results_dir, out, exps=None if exps == "all" else exps.split(","), overrides=argv):
        print(path)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
