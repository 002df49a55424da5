"""`python -m senet_ablate.report`: write every experiment's table, its JSON and curves, and an index.

    python -m senet_ablate.report results_dir=results out=results/tables
    python -m senet_ablate.report exps=reduction_sweep model=resnet20

Tool options: `results_dir=` (default `results`), `out=` (default: the results dir), `exps=`
(comma-separated experiment files, default all), `paper=auto|always` (the paper's figures and Δ
only in sections of the paper's recipe, or in every section), `formats=md,csv,tex` (CSV and LaTeX
booktabs tables besides the markdown and JSON), `pairs=none|json|matrix` (Games-Howell's
all-pairs intervals: none, in the JSON only, or also as a matrix under each table; seconds per
table). Anything else is a
config override that narrows the tables to the runs launched with it (see `write_reports`); a
table's runs are found without any, whatever they were launched with. A bad one is a one-line
error with exit status 2, as are a results dir without run records (a mistyped path would give
tables of nothing but `pending`), an `out` the tables cannot be written to, and one where they
would overwrite a file the report did not write (`generated.py`). A table that
cannot be written is named on stderr (exit status 1) after every other one is written; a row
that does not apply to a setting (SE_3x3 on basic blocks) is no error: it reads `n/a`. A setting a
settle sweep declared (`<results_dir>/settle/`, `settle_design.py`) is read off its design, as the
sweep wrote it; a declaration that is a link or malformed is such a table not written.
"""

import sys
from pathlib import Path

from senet_ablate.base.cli import pop_option, run_cli
from senet_ablate.base.errors import ConfigError
from senet_ablate.records.store import record_files, runs_dir
from senet_ablate.report.paper import PAPER_MODES
from senet_ablate.report.tables import TablesFailed, write_reports


def check_results_dir(results_dir: str) -> None:
    """Refuse a results dir that holds no run record: a mistyped path, or the records' own folder,
    would otherwise give every table all `pending`, with no word of why. (A sweep's own report, run
    after its runs wrote their records, does not come through here.)"""
    if record_files(results_dir):
        return
    folder = Path(results_dir)
    if folder.name == "runs" and any(folder.glob("*.json")):
        why = f"it is the run records' folder itself: pass its parent, results_dir={folder.parent}"
    else:
        why = f"it holds no run records: they are expected as {runs_dir(results_dir)}/<run_id>.json"
    raise ConfigError("results_dir", results_dir, why)


def main(argv: list[str]) -> None:
    argv, results_dir = pop_option(argv, "results_dir", None, default="results")
    argv, out = pop_option(argv, "out", None, default=results_dir)
    argv, exps = pop_option(argv, "exps", None, default="all")
    argv, paper = pop_option(argv, "paper", PAPER_MODES, default="auto")
    argv, formats = pop_option(argv, "formats", None, default="md")
    argv, pairs = pop_option(argv, "pairs", ("none", "json", "matrix"), default="none")
    unknown = set(formats.split(",")) - {"md", "csv", "tex"}
    if unknown:
        raise ConfigError("formats", formats, "a comma-separated list of md, csv, tex")
    check_results_dir(results_dir)
    try:
        exp_names = None if exps == "all" else exps.split(",")
        written = write_reports(
            results_dir,
            out,
            exps=exp_names,
            overrides=argv,
            paper=paper,
            formats=formats.split(","),
            pairs=pairs,
        )
    except TablesFailed as failed:  # every other table is written; each failure is named, exit status 1
        print("\n".join(str(path) for path in failed.written))
        for name, why in failed.failures.items():
            print(f"error: table {name} not written: {why}", file=sys.stderr)
        sys.exit(1)
    print("\n".join(str(path) for path in written))


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
