"""Does `trainer=cifar_fast` buy accuracy per epoch? The recipes compared on real images.

`trainer=cifar_fast` claims to reach in E epochs what He et al.'s recipe (`trainer=cifar_paper`)
needs more epochs for. A claim about accuracy per epoch needs accuracies, measured by the project's
own report with its intervals, not a stopwatch. This script measures it on the CPU, on real images:
scikit-learn's digits (1797 real 8x8 greyscale scans, 10 classes), split 80/20 stratified by class
as `scripts/seed_blocking.py`'s `digits_split` does it (1437 training, 360 validation images),
upscaled to 32x32 (bilinear) and copied to three channels, and written as CIFAR-10's python batches
(`<work>/digits/cifar-10-batches-py/`: five training files and `test_batch`, the validation
images), so that `data=cifar10` reads them, both recipes through the same device-resident loader
(`data.loader=gpu`, which runs on the CPU device too) and `cifar_fast` with its alternating flips
(`data.flip=alternate`). The loader normalises them with CIFAR-10's mean and std, as any cifar10 run.

For each E of `--epochs` (default 2 and 3) it trains ResNet-20 and SE-ResNet-20, seeds 0..N-1
(default 3), under `trainer=cifar_fast` at E epochs and `trainer=cifar_paper` at E and at 4E epochs,
through the product's CLI: `python -m senet_ablate +exp=fast_cifar_digits ...`, one sweep per
(recipe, epochs). `fast_cifar_digits` is this script's own experiment file (`EXPERIMENT`: rows
ResNet-20 and SE-ResNet-20, the second compared with the first), written into `<work>/conf/exp/`
and found through `hydra.searchpath` as any user's own file is, so nothing is added to conf/exp/.
Then `python -m senet_ablate.report exps=fast_cifar_digits` writes the table: each (recipe,
epochs) is a setting of its own, one section each, with each row's top-1 error (mean ± sd over the
seeds), its flip-TTA top-1 error apart, and SE's Δ with its 95% interval and verdict. From that
report's JSON the script builds the summary table (`summary_rows`, `summary_table`) and writes it,
with the setting and the timing, as the section `HEADING` of `--out` (results/benchmarks.md),
replacing an earlier one.

cifar_paper's lr milestones are fractions of `trainer.epochs` (0.5 and 0.75: /10 after epochs 82
and 123 of 164), so they scale with E: at 2 epochs the lr is 0.1 then 0.01, at 8 it drops after
epochs 4 and 6 (`round`: at 1 epoch the first milestone is 0, a constant lr 0.01). cifar_fast's
one-cycle warm-up is `trainer.warmup_epochs` (5 of 20), which the config refuses unless it is below
the epochs, and at least 1 under one-cycle: so cifar_fast needs E >= 2, and this script sets the
warm-up to a quarter of E, at least 1 (`fast_warmup`), what the preset's comment says the recipe is
("the peak over the first quarter").

    OMP_NUM_THREADS=1 python scripts/fast_cifar_evidence.py

Time: one epoch took about 24 s under cifar_fast and 15 s under cifar_paper (median over the runs'
records, one thread, on 2 cores shared with other work at a load average of 5 to 12), and the
default set (E = 2 and 3: 30 cifar_fast and 150 cifar_paper epochs, 36 runs) 52 min there. E = 2 and 3 is
the smallest pair cifar_fast allows. Running it again trains nothing that is already complete in
`--work`; `--report-only` trains nothing and publishes what is there, naming what it lacks. scikit-learn
comes with the `dev` extra (`pip install -e ".[dev]"`).
"""

import argparse
import json
import math
import os
import pickle
import shlex
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
from scipy import stats
from seed_blocking import SPLIT_SEED, VAL_FRACTION, digits_split, span_s  # scripts/ is first on sys.path

ROOT = Path(__file__).resolve().parents[1]
EXP = "fast_cifar_digits"
HEADING = "## Fast CIFAR recipe: accuracy per epoch (digits, CPU)"
VANILLA, SE = "ResNet-20", "SE-ResNet-20"
FAST, PAPER = "cifar_fast", "cifar_paper"
LONGER = 4  # cifar_paper is also trained LONGER times as many epochs as cifar_fast
SIDE = 32
CIFAR_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
MARKER = "fast_cifar_digits.json"  # in the data root: what was written there, so a rerun reuses it
# The rows, as an experiment file of the user's own (`hydra.searchpath`): everything but se.enabled
# is the setting, so each (recipe, epochs) the CLI trains is a section of the one table.
EXPERIMENT = f"""# @package _global_
# Written by scripts/fast_cifar_evidence.py: ResNet-20 without and with SE, on the digits written
# as CIFAR-10 batches; the recipe and its epochs come from the command line, one setting each.
defaults:
  - /sweep: rows
  - override /model: resnet20
  - override /data: cifar10
  - override /trainer: cifar_paper

exp:
  reference: {VANILLA}
  rows:
    - {{label: {VANILLA}, set: [se.enabled=false]}}
    - {{label: {SE}, set: [se.enabled=true]}}
"""


def recipe_of(schedule: str) -> str:
    """The recipe a run was trained with, from its `trainer.schedule` (a record keeps the preset's
    values, not its name): one-cycle is cifar_fast's, multistep cifar_paper's."""
    recipes = {"onecycle": FAST, "multistep": PAPER}
    if schedule not in recipes:
        raise ValueError(f"trainer.schedule {schedule!r} is neither recipe's ({', '.join(recipes)})")
    return recipes[schedule]


def runs(epochs: list[int]) -> list[tuple[str, int]]:
    """The (recipe, epochs) settings to train, in order, each once: for each E, cifar_fast at E and
    cifar_paper at E and at LONGER * E."""
    wanted = [setting for e in epochs for setting in ((FAST, e), (PAPER, e), (PAPER, LONGER * e))]
    return list(dict.fromkeys(wanted))


def fast_warmup(epochs: int) -> int:
    """cifar_fast's warm-up epochs at E epochs: a quarter of them, at least one."""
    return max(1, round(epochs / 4))


def sweep_overrides(conf: Path, data_root: Path, results_dir: Path, seeds: int, recipe: str, epochs: int) -> list[str]:
    """The CLI's overrides for one (recipe, epochs): both rows, `seeds` seeds, the digits as CIFAR-10
    in the device-resident loader on the CPU (every path absolute: the records say them)."""
    overrides = [
        f"hydra.searchpath=[file://{conf.resolve()}]",
        f"+exp={EXP}",
        f"seed={','.join(str(seed) for seed in range(seeds))}",
        "data=cifar10",
        f"data.root={data_root.resolve()}",
        "data.loader=gpu",
        f"trainer={recipe}",
        f"trainer.epochs={epochs}",
        "trainer.device=cpu",
        "trainer.progress=false",
        f"results_dir={results_dir.resolve()}",
    ]
    if recipe == FAST:
        overrides += ["data.flip=alternate", f"trainer.warmup_epochs={fast_warmup(epochs)}"]
    return overrides


def write_digits_cifar(root: Path) -> dict:
    """The digits as CIFAR-10's python batches under `root` (uint8 rows of 3072 pixels: red, green,
    blue planes of 32x32, each the bilinear upscale of the 8x8 scan), the training split over the
    five training files, the validation split as `test_batch`. A root written before is reused;
    any other existing root is refused. Returns the images per split."""
    from PIL import Image

    marker = root / MARKER
    settings = {"split_seed": SPLIT_SEED, "val_fraction": VAL_FRACTION, "side": SIDE}
    if marker.is_file() and json.loads(marker.read_text())["settings"] == settings:
        return json.loads(marker.read_text())["images"]
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"error: {root} exists and was not written by this script: choose an empty or new folder")
    pixels, labels, splits = digits_split()
    upscaled = np.stack(
        [
            np.asarray(Image.fromarray(image, mode="L").resize((SIDE, SIDE), Image.Resampling.BILINEAR))
            for image in pixels
        ]
    )
    rows = np.repeat(upscaled.reshape(len(pixels), 1, SIDE * SIDE), 3, axis=1).reshape(len(pixels), -1)
    folder = root / CIFAR_FOLDER
    folder.mkdir(parents=True)
    files = dict(zip(TRAIN_FILES, np.array_split(splits["train"], len(TRAIN_FILES)), strict=True))
    files["test_batch"] = splits["val"]
    for name, chosen in files.items():
        batch = {b"data": np.ascontiguousarray(rows[chosen]), b"labels": [int(label) for label in labels[chosen]]}
        (folder / name).write_bytes(pickle.dumps(batch))
    images = {split: len(chosen) for split, chosen in splits.items()}
    marker.write_text(json.dumps({"settings": settings, "images": images}))
    return images


# ---------------------------------------------------------------------------------------------
# the report's figures -> the summary


def mean_interval(mean: float | None, std: float | None, n: int) -> tuple[float, float] | None:
    """The 95% t interval of a row's mean top-1 error from the report's mean, sd and seed count."""
    if mean is None or std is None or n < 2:
        return None
    half = stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


def summary_rows(report: dict) -> list[dict]:
    """One row per section of the report's `<exp>.json` (one per recipe and epochs): each row's
    top-1 error and flip-TTA top-1 error, with the 95% interval of the mean, and SE's Δ with the
    report's own 95% interval and verdict; sorted by recipe then epochs."""
    summary = []
    for section in report["sections"]:
        setting = section["setting"]
        by_label = {row["label"]: row for row in section["rows"]}
        line = {"recipe": recipe_of(setting["trainer.schedule"]), "epochs": setting["trainer.epochs"]}
        for label in (VANILLA, SE):
            for metric in ("top1_err", "tta_top1_err"):
                cell = by_label[label][metric]
                line[f"{label}/{metric}"] = (
                    cell["mean"],
                    mean_interval(cell["mean"], cell["std"], cell["n"]),
                    cell["n"],
                )
        versus = by_label[SE]["vs_reference"]
        line["delta"] = (versus["delta"], versus["low"], versus["high"], versus["verdict"])
        summary.append(line)
    return sorted(summary, key=lambda line: (line["recipe"] != FAST, line["epochs"], line["recipe"]))


def _cell(figure: tuple) -> str:
    mean, interval, n = figure
    if mean is None:
        return "n/a"
    if interval is None:
        return f"{mean:.2f} (n={n})"
    return f"{mean:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _delta(figure: tuple) -> str:
    delta, low, high, verdict = figure
    if delta is None:
        return f"n/a ({verdict})"
    interval = "" if low is None else f" [{low:+.2f}, {high:+.2f}]"
    return f"{delta:+.2f}{interval} {verdict}"


def summary_table(summary: list[dict]) -> list[str]:
    """The markdown table of `summary_rows`: top-1 error with its 95% interval per recipe and epochs,
    flip TTA apart (cifar_fast only), SE − vanilla with the report's interval and verdict."""
    lines = [
        f"| recipe | epochs | {VANILLA} top-1 err (%) | {SE} top-1 err (%) | SE − vanilla Δ top-1 (95%, verdict) "
        f"| {VANILLA} flip-TTA | {SE} flip-TTA |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for line in summary:
        tta = [_cell(line[f"{label}/tta_top1_err"]) if line["recipe"] == FAST else "–" for label in (VANILLA, SE)]
        lines.append(
            f"| `{line['recipe']}` | {line['epochs']} | {_cell(line[f'{VANILLA}/top1_err'])} | "
            f"{_cell(line[f'{SE}/top1_err'])} | {_delta(line['delta'])} | {tta[0]} | {tta[1]} |"
        )
    return lines


def fast_against_paper(summary: list[dict], epochs: list[int]) -> list[str]:
    """Per E and row: cifar_fast at E minus cifar_paper at E and at LONGER * E, in top-1 points, with
    whether the row means' 95% intervals overlap (a coarse reading, not the report's test)."""
    found = {(line["recipe"], line["epochs"]): line for line in summary}
    said = []
    for e in epochs:
        fast = found.get((FAST, e))
        for other_epochs in (e, LONGER * e):
            other = found.get((PAPER, other_epochs))
            if fast is None or other is None:
                continue
            parts = []
            for label in (VANILLA, SE):
                (a, a_interval, _), (b, b_interval, _) = fast[f"{label}/top1_err"], other[f"{label}/top1_err"]
                if a is None or b is None:
                    continue
                overlap = (
                    "intervals overlap"
                    if a_interval and b_interval and a_interval[0] <= b_interval[1] and b_interval[0] <= a_interval[1]
                    else "intervals apart"
                )
                parts.append(f"{label} {a - b:+.2f} ({overlap})")
            said.append(f"`{FAST}` at {e} − `{PAPER}` at {other_epochs} epochs: " + "; ".join(parts) + ".")
    return said


def missing(summary: list[dict], wanted: list[tuple[str, int]], seeds: int) -> list[str]:
    """What the measurement lacks: each wanted (recipe, epochs) without a section in the report, or
    with fewer than `seeds` completed seeds in a row."""
    found = {(line["recipe"], line["epochs"]): line for line in summary}
    lacking = []
    for recipe, epochs in wanted:
        line = found.get((recipe, epochs))
        if line is None:
            lacking.append(f"`{recipe}` at {epochs} epochs: no section in the report (not run, or one row only)")
            continue
        counts = {label: line[f"{label}/top1_err"][2] for label in (VANILLA, SE)}
        short = [f"{label} {n} of {seeds} seeds" for label, n in counts.items() if n < seeds]
        if short:
            lacking.append(f"`{recipe}` at {epochs} epochs: " + ", ".join(short))
    return lacking


def code_line(versions: list[str]) -> str:
    """The runs' code versions (`git describe --dirty` when each started), and whether the trainer's
    code (senet_ablate/ and conf/) differs between their commits, as git tells it here."""
    commits = sorted({version.removesuffix("-dirty") for version in versions})
    named = ", ".join(f"`{version}`" for version in versions)
    if len(commits) < 2:
        return f"code: {named}."
    changed = max(
        subprocess.run(["git", "diff", "--quiet", commits[0], other, "--", "senet_ablate", "conf"], cwd=ROOT).returncode
        for other in commits[1:]
    )
    said = {0: "the same in all their commits", 1: "changed between their commits"}.get(changed, "not comparable here")
    return (
        f"code: {named} (the runs started on {len(commits)} commits; `-dirty`: with uncommitted edits); "
        f"`senet_ablate/` and `conf/` are {said} (`git diff`)."
    )


def steps_reading(report: dict, train_images: int) -> list[str]:
    """Per recipe, from the report's settings: its optimiser steps an epoch on `train_images` (as the
    trainer's sampler counts them, the last partial batch dropped) and, where it averages the
    weights, the average's horizon 1 / (1 - decay) in steps against the steps of its shortest run."""
    import torch

    from senet_ablate.data.build import GlobalBatchSampler

    shortest: dict[str, int] = {}
    batches: dict[str, tuple[int, float]] = {}
    for section in report["sections"]:
        setting = section["setting"]
        recipe = recipe_of(setting["trainer.schedule"])
        shortest[recipe] = min(shortest.get(recipe, setting["trainer.epochs"]), setting["trainer.epochs"])
        batches[recipe] = (setting["trainer.batch_size"], setting.get("trainer.ema_decay") or 0)
    said = {}
    for recipe, (batch, decay) in batches.items():
        steps = len(GlobalBatchSampler(train_images, batch, 0, 1, torch.Generator()))
        line = f"`{recipe}`: batch {batch}, {steps} optimiser steps an epoch ({steps * batch} of {train_images} images)"
        if decay:
            line += (
                f"; its weight average (decay {decay}) spans about 1 / (1 − {decay}) = {1 / (1 - decay):.0f} steps, "
                f"and its shortest run here has {steps * shortest[recipe]} steps in all"
            )
        said[recipe] = line + "."
    return [said[recipe] for recipe in sorted(said)]


def against_longer(summary: list[dict], epochs: list[int]) -> str:
    """The plain answer, per E and row: does cifar_fast at E match cifar_paper at LONGER * E? `falls
    short` where its 95% interval lies above the other's, `beats` where below, else `matches`."""
    found = {(line["recipe"], line["epochs"]): line for line in summary}
    answers = []
    for e in epochs:
        fast, paper = found.get((FAST, e)), found.get((PAPER, LONGER * e))
        if fast is None or paper is None:
            continue
        for label in (VANILLA, SE):
            (_, a, _), (_, b, _) = fast[f"{label}/top1_err"], paper[f"{label}/top1_err"]
            if a is None or b is None:
                continue
            word = "falls short of" if a[0] > b[1] else "beats" if a[1] < b[0] else "matches"
            answers.append(f"{label} at {e} epochs {word} `{PAPER}` at {LONGER * e}")
    return (
        f"Does `{FAST}` at E epochs match `{PAPER}` at {LONGER}E on this data? Under `{FAST}`, "
        f"{'; '.join(answers)} (by the 95% intervals of the means)."
        if answers
        else ""
    )


# ---------------------------------------------------------------------------------------------


def render(
    command: str,
    clis: list[str],
    report_cli: str,
    setting: list[str],
    summary: list[dict],
    verdict: str,
    said: list[str],
    steps: list[str],
    timing: list[str],
    lacking: list[str],
) -> str:
    return "\n".join(
        [
            HEADING,
            "",
            "Written by `scripts/fast_cifar_evidence.py` (its docstring says why and how); every figure below is from "
            f"the report's `{EXP}.json`. The command:",
            "",
            "```bash",
            command,
            "```",
            "",
            "It trained through the product's CLI from the repository root (paths shown relative to it), one sweep "
            "per recipe and epochs (the first shown; the others differ "
            "in `trainer=`, `trainer.epochs=` and, for `cifar_fast`, `data.flip=alternate trainer.warmup_epochs=`):",
            "",
            "```bash",
            clis[0],
            "```",
            "",
            "and wrote the table with the report:",
            "",
            "```bash",
            report_cli,
            "```",
            "",
            *[f"- {line}" for line in setting],
            "",
            "Top-1 error (%) on the 360 validation digits: mean over the seeds with its 95% t interval (from the "
            "report's mean, sd and n); SE − vanilla: the report's Δ with its 95% interval (Welch, family of 1) and "
            "verdict. Flip TTA (each image averaged with its mirror) is `trainer.tta_flip`'s separate figure, "
            "cifar_fast only.",
            "",
            *summary_table(summary),
            "",
            *(
                ["**Not measured yet** (the command above trains it):", "", *[f"- {line}" for line in lacking], ""]
                if lacking
                else []
            ),
            verdict,
            "",
            "Reading, per E, each row's cifar_fast mean minus cifar_paper's (negative: fewer errors), and whether "
            "the two 95% intervals of the means overlap (a coarse reading; the report tests only SE − vanilla):",
            "",
            *[f"- {line}" for line in said],
            "",
            "Steps, which decide what these recipes can do on so small a set:",
            "",
            *[f"- {line}" for line in steps],
            "",
            "What this cannot tell: the digits are tiny (1437 training images, so an epoch of CIFAR-10 at the same "
            "batch is 35 times as many steps; 360 validation images, so one image is 0.28 points of top-1 error), "
            "and a handful of epochs is far from either recipe's intended length. A recipe built per step (a "
            "one-cycle schedule, a weight average with a horizon in steps) is measured here at a few steps in all: "
            "these figures are this data's, at these epochs, and say nothing on their own about CIFAR-10.",
            "",
            *[f"- {line}" for line in timing],
            "",
        ]
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "fast_cifar_evidence", help="data and runs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", default="2,3", help="the values of E, comma-separated (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: publish from the runs already in --work (a cut-short measurement says what it lacks)",
    )
    args = parser.parse_args(argv)
    args.epochs = [int(e) for e in args.epochs.split(",")]
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    data_root, results_dir, conf, tables = (args.work / name for name in ("digits", "results", "conf", "tables"))
    images = write_digits_cifar(data_root)
    (conf / "exp").mkdir(parents=True, exist_ok=True)
    (conf / "exp" / f"{EXP}.yaml").write_text(EXPERIMENT)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    clis = []
    for recipe, epochs in runs(args.epochs):
        overrides = sweep_overrides(conf, data_root, results_dir, args.seeds, recipe, epochs)
        clis.append(shlex.join(["python", "-m", "senet_ablate", *overrides]).replace(f"{ROOT}/", ""))
        if args.report_only:
            continue
        print("running:", clis[-1], flush=True)
        status = subprocess.run([sys.executable, "-m", "senet_ablate", *overrides], env=env).returncode
        if status != 0:
            print(f"error: the sweep ended with exit status {status}; nothing published", file=sys.stderr)
            return status
    report = [
        f"results_dir={results_dir.resolve()}",
        f"out={tables.resolve()}",
        f"exps={EXP}",
        f"hydra.searchpath=[file://{conf.resolve()}]",
    ]
    print("running: python -m senet_ablate.report", shlex.join(report), flush=True)
    status = subprocess.run([sys.executable, "-m", "senet_ablate.report", *report], env=env).returncode
    if status != 0:
        print(f"error: the report ended with exit status {status}; nothing published", file=sys.stderr)
        return status
    figures = json.loads((tables / f"{EXP}.json").read_text())
    summary = summary_rows(figures)
    code_versions = sorted({version for section in figures["sections"] for version in section["code_versions"]})
    records = [json.loads(path.read_text()) for path in (results_dir / "runs").glob("*.json")]
    walls = {}
    for record in records:
        if record.get("wall_time_s"):
            walls.setdefault(recipe_of(record["config"]["trainer"]["schedule"]), []).append(
                record["wall_time_s"] / record["config"]["trainer"]["epochs"]
            )
    setting = [
        f"Data: scikit-learn's digits (`load_digits`, 1797 real 8x8 greyscale scans, 10 classes), split "
        f"{1 - VAL_FRACTION:.0%}/{VAL_FRACTION:.0%} stratified by class (seed {SPLIT_SEED}): {images['train']} "
        f"training and {images['val']} validation images, upscaled to {SIDE}x{SIDE} (bilinear), copied to 3 channels "
        "and written as CIFAR-10's python batches, read by `data=cifar10` (normalised with CIFAR-10's mean and std).",
        "Loader: `data.loader=gpu` (the device-resident loader, here on the CPU device) for both recipes: 4 px zero "
        "padding and a random 32 px crop; random flips for `cifar_paper`, alternating flips (`data.flip=alternate`) "
        "for `cifar_fast`.",
        f"Models: `model=resnet20`, `se.enabled=false` ({VANILLA}) and `true` ({SE}); seeds 0 to {args.seeds - 1}.",
        "`trainer=cifar_paper` at E epochs: batch 128 (11 steps an epoch), lr 0.1, /10 at 50% and 75% of the epochs "
        "(the milestones are fractions of `trainer.epochs`, so they scale: at 2 epochs lr 0.1 then 0.01).",
        "`trainer=cifar_fast` at E epochs: batch 512 (1437 // 512 = **2 steps an epoch**: the sampler drops the last "
        "partial batch, so 1024 of the 1437 images an epoch), Nesterov lr 0.4, one-cycle per step with "
        "`trainer.warmup_epochs` a quarter of E (at least 1; the preset's 5 is refused at E <= 5), "
        "label smoothing 0.2, EMA of the weights (decay 0.99, evaluated), flip TTA reported apart.",
        f"Machine: CPU, `OMP_NUM_THREADS={env['OMP_NUM_THREADS']}`, {len(os.sched_getaffinity(0))} cores shared "
        f"with other work; {code_line(code_versions)}",
    ]
    per_epoch = ", ".join(f"`{name}` {np.median(values):.1f} s" for name, values in sorted(walls.items()))
    timing = [
        f"One epoch (training and validation, median over the runs' records): {per_epoch}.",
        f"{len(records)} runs, {sum(r['config']['trainer']['epochs'] for r in records)} epochs; they span "
        f"{span_s(records) / 60:.1f} min from the first one's start to the last one's end (from their records: "
        "the measurement's wall time, whichever command trained them). "
        f"Written {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
    ]
    shown = [arg for arg in argv if arg != "--report-only"]  # the command that trains what is published
    command = "OMP_NUM_THREADS=1 python scripts/fast_cifar_evidence.py" + (" " + shlex.join(shown) if shown else "")
    report_cli = shlex.join(["python", "-m", "senet_ablate.report", *report]).replace(f"{ROOT}/", "")
    said = fast_against_paper(summary, args.epochs)
    text = render(
        command,
        clis,
        report_cli,
        setting,
        summary,
        against_longer(summary, args.epochs),
        said,
        steps_reading(figures, images["train"]),
        timing,
        missing(summary, runs(args.epochs), args.seeds),
    )
    from benchmark import write_section  # torch, timm: only when it publishes

    write_section(args.out, text)
    print(f"wrote the section {HEADING!r} of {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
