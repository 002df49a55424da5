"""The real table annotated in docs/reading-a-table.md: the reduction-ratio sweep on real images.

A newcomer learns to read a table from one that came out of the product, not from a mock-up. This
script trains every row of `reduction_sweep` with 3 seeds on scikit-learn's digits (1797 real 8x8
greyscale scans, 10 classes, written as an image folder by `scripts/seed_blocking.py`'s
`write_digits`: one way of turning the digits into a dataset the trainer reads), ResNet-20 under
`trainer=smoke` on the CPU, then writes the table of a bare `python -m senet_ablate.report
exps=reduction_sweep` (no override) into `docs/generated/reduction_sweep_digits.md`, with its two
plots, which the page includes. Running it again trains nothing that is already complete in `--work`.

    OMP_NUM_THREADS=1 python scripts/docs_table.py

scikit-learn comes with the `dev` extra (`pip install -e ".[dev]"`).
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from seed_blocking import write_digits  # scripts/ is this script's own folder, first on sys.path

ROOT = Path(__file__).resolve().parents[1]
EXP = "reduction_sweep"


def sweep_overrides(data_root: Path, results_dir: Path, seeds: int, epochs: int) -> list[str]:
    """The CLI's overrides: every row of the experiment file, `seeds` seeds, the digits at 16 px."""
    return [
        f"+exp={EXP}",
        f"seed={','.join(str(seed) for seed in range(seeds))}",
        "model=resnet20",
        "data=imagefolder",
        f"data.root={data_root.resolve()}",
        "data.num_classes=10",
        "data.image_size=16",
        "data.augment=cifar",
        "data.num_workers=0",
        "trainer=smoke",
        "trainer.device=cpu",
        "trainer.progress=false",
        f"trainer.epochs={epochs}",
        "trainer.batch_size=32",
        f"results_dir={results_dir.resolve()}",
    ]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "docs_table", help="data and runs go here")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "generated" / f"{EXP}_digits.md")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    data_root, results_dir = args.work / "digits", args.work / "results"
    write_digits(data_root, None)
    cli = [sys.executable, "-m", "senet_ablate", *sweep_overrides(data_root, results_dir, args.seeds, args.epochs)]
    print("running:", shlex.join(cli), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    start = time.monotonic()
    status = subprocess.run(cli, env=env).returncode
    if status != 0:
        print(f"error: the sweep ended with exit status {status}; nothing written", file=sys.stderr)
        return status
    # The table as a bare `report exps=reduction_sweep` writes it (no override: it finds the runs by
    # their rows, whatever they were trained with), and its plots beside it. The page includes the markdown
    # inside its own outline, so its headings go two levels down and its plots' lines are left out
    # (the page shows the plots where it explains them): every other line is the report's.
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tables = args.work / "tables"
    report = [sys.executable, "-m", "senet_ablate.report", f"results_dir={results_dir}", f"out={tables}", f"exps={EXP}"]
    print("running:", shlex.join(report), flush=True)
    status = subprocess.run(report, env=env).returncode
    if status != 0:
        print(f"error: the report ended with exit status {status}; nothing written", file=sys.stderr)
        return status
    lines: list[str] = []
    for line in (tables / f"{EXP}.md").read_text().splitlines():
        if line.startswith("![") or (not line and lines and not lines[-1]):  # a plot, and the blank lines it leaves
            continue
        lines.append("##" + line if line.startswith("#") else line)
    for plot in (f"{EXP}.png", f"{EXP}.forest.png"):
        shutil.copyfile(tables / plot, args.out.parent / plot)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out} after {time.monotonic() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
