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

For each E of `--epochs` (default 2, 4 and 6) it writes an experiment file of its own,
`fast_cifar_digits_e<E>` (`experiment`), into `<work>/conf/exp/`, found through `hydra.searchpath`
as any user's own file is, so nothing is added to conf/exp/. Its eight rows are ResNet-20 and
SE-ResNet-20 under four recipes (`forms`), each row selecting its recipe as a whole: cifar_paper at
E and at 4E epochs, cifar_fast at E as the preset has it (batch 512), and cifar_fast at E at batch
128 with its weights' average over about one epoch (decay 0.91): on 1437 images batch 512 makes 2
optimiser steps an epoch, too few for a one-cycle schedule and a 100-step average, so the preset
alone would say more about the data's size than about the recipe. The file also states, before any
run, what the fast recipe claims (`claims`): for each model and fast form, better than cifar_paper
at E, and not worse than cifar_paper at 4E by more than the margin (`MARGIN`, 1 top-1 point). The
report judges them as it judges the paper's claims, on one family per E: the 4 SE − vanilla pairs
and the 8 recipe pairs, Welch's t with Bonferroni over the 12. Seeds 0..N-1 (default 3) train
through the product's CLI, one sweep per E (`python -m senet_ablate +exp=fast_cifar_digits_e<E>
...`), then `python -m senet_ablate.report exps=...` writes every E's table and JSON. From those
JSONs the script builds the summary (`summary_rows`, `summary_table`, `claim_lines`) and writes it,
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

Time: one epoch took 6 to 8 s (median per recipe over the runs' records, one thread), and the
default set (E = 2, 4 and 6: 72 runs, 504 epochs) 35 min from the first run's start to the last
one's end with two processes on the 2 cores: `--epochs 4` beside `--epochs 2` then `--epochs 6`, and
for E = 6 a second `python -m senet_ablate` on the same sweep, which the runs' claims keep apart
(each run trained once). One process alone needs about twice that. The published runs' code is
`88dec81`; the `-dirty` ones started after the E = 2 invocation had published, rewriting the checkout's
results/benchmarks.md, the only file that differed (senet_ablate/ and conf/ clean). Running it again
trains nothing that is already complete in `--work`; `--report-only` trains nothing and publishes
what is there, naming what it lacks. scikit-learn comes with the `dev` extra (`pip install -e
".[dev]"`).
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
EXP = "fast_cifar_digits_e{}"  # one experiment file per E
HEADING = "## Fast CIFAR recipe: accuracy per epoch (digits, CPU)"
VANILLA, SE = "ResNet-20", "SE-ResNet-20"
MODELS = (VANILLA, SE)
LONGER = 4  # cifar_paper is also trained LONGER times as many epochs as cifar_fast
MARGIN = 1.0  # top-1 points: the smallest recipe difference of interest, fixed before the runs were read
# cifar_fast at batch 128: the digits' 1437 images make 2 steps an epoch at the preset's batch 512,
# so the recipe is also run at batch 128 (11 steps an epoch, lr scaled by the preset to 0.1) with its
# weights' average over about one epoch: decay 1 - 1/11 = 0.91 (the preset's 0.99 spans 100 steps).
SCALED_BATCH, SCALED_EMA = 128, 0.91
SIDE = 32
CIFAR_FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
MARKER = "fast_cifar_digits.json"  # in the data root: what was written there, so a rerun reuses it


def fast_warmup(epochs: int) -> int:
    """cifar_fast's warm-up epochs at E epochs: a quarter of them, at least one."""
    return max(1, round(epochs / 4))


def forms(e: int) -> list[tuple[str, list[str]]]:
    """The four recipes compared at E, as (name, the row's overrides): cifar_paper at E and at
    LONGER * E epochs, cifar_fast at E as the preset has it and at batch SCALED_BATCH."""
    fast = [
        "trainer=cifar_fast",
        f"trainer.epochs={e}",
        f"trainer.warmup_epochs={fast_warmup(e)}",
        "data.flip=alternate",
    ]
    return [
        (f"cifar_paper {e} ep", ["trainer=cifar_paper", f"trainer.epochs={e}"]),
        (f"cifar_paper {LONGER * e} ep", ["trainer=cifar_paper", f"trainer.epochs={LONGER * e}"]),
        (f"cifar_fast {e} ep", fast),
        (
            f"cifar_fast b{SCALED_BATCH} {e} ep",
            [*fast, f"trainer.batch_size={SCALED_BATCH}", f"trainer.ema_decay={SCALED_EMA}"],
        ),
    ]


def label(model: str, form: str) -> str:
    return f"{model} + {form}"


def claims(e: int) -> list[dict]:
    """What cifar_fast claims at E, per form and model: better than cifar_paper at E, and not worse
    (by more than MARGIN) than cifar_paper at LONGER * E."""
    (paper, _), (longer, _), *fast_forms = forms(e)
    said = []
    for form, _ in fast_forms:
        for model in MODELS:
            said += [
                {
                    "says": f"{label(model, form)} is better than {label(model, paper)}",
                    "relation": "better",
                    "rows": [label(model, form)],
                    "than": [label(model, paper)],
                },
                {
                    "says": f"{label(model, form)} is not worse than {label(model, longer)}",
                    "relation": "not_worse",
                    "rows": [label(model, form)],
                    "than": [label(model, longer)],
                },
            ]
    return said


def experiment(e: int) -> str:
    """The experiment file `EXP.format(e)`, a user's own (`hydra.searchpath`): ResNet-20 without and
    with SE under each form (each SE-X compared with its X), and the claims, in one family."""
    rows = [
        {"label": label(model, form), "set": [*overrides, f"se.enabled={str(model == SE).lower()}"]}
        for form, overrides in forms(e)
        for model in MODELS
    ]
    lines = [
        "# @package _global_",
        f"# Written by scripts/fast_cifar_evidence.py: the recipes compared at {e} epochs, on the digits written",
        "# as CIFAR-10 batches; each row selects its recipe as a whole.",
        "defaults:",
        "  - /sweep: rows",
        "  - override /model: resnet20",
        "  - override /data: cifar10",
        "  - override /trainer: cifar_paper",
        "",
        "exp:",
        "  reference: pairs",
        f"  margin: {MARGIN}",
        "  claims:",
        *[f"    - {json.dumps(claim)}" for claim in claims(e)],
        "  rows:",
        *[f"    - {json.dumps(row)}" for row in rows],
        "",
    ]
    return "\n".join(lines)


def sweep_overrides(conf: Path, data_root: Path, results_dir: Path, seeds: int, e: int) -> list[str]:
    """The CLI's overrides for E's sweep: its eight rows, `seeds` seeds, the digits as CIFAR-10 in the
    device-resident loader on the CPU (every path absolute: the records say them)."""
    return [
        f"hydra.searchpath=[file://{conf.resolve()}]",
        f"+exp={EXP.format(e)}",
        f"seed={','.join(str(seed) for seed in range(seeds))}",
        "data=cifar10",
        f"data.root={data_root.resolve()}",
        "data.loader=gpu",
        "trainer.device=cpu",
        "trainer.progress=false",
        f"results_dir={results_dir.resolve()}",
    ]


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


def the_section(report: dict, e: int) -> dict:
    """E's one section of its report (all rows pending before any run). Every run of E's sweep shares
    one setting; a second means runs of another configuration in the results dir, which this
    summary will not pick between."""
    sections = report["sections"]
    if len(sections) != 1:
        raise SystemExit(
            f"error: the report for E={e} has {len(sections)} settings, expected one: the results dir holds runs "
            "of these rows trained otherwise; give --work a folder of this script's runs only"
        )
    return sections[0]


def summary_rows(reports: dict[int, dict]) -> list[dict]:
    """One line per E and form, from each E's report: each model's top-1 error and flip-TTA top-1
    error (mean, 95% interval of the mean, seeds), and SE − vanilla with the report's interval and
    verdict."""
    summary = []
    for e, report in sorted(reports.items()):
        section = the_section(report, e)
        by_label = {row["label"]: row for row in section["rows"]}
        for form, _ in forms(e):
            line = {"epochs": e, "form": form}
            for model in MODELS:
                row = by_label.get(label(model, form))
                for metric in ("top1_err", "tta_top1_err"):
                    cell = row[metric] if row else {"mean": None, "std": None, "n": 0}
                    line[f"{model}/{metric}"] = (
                        cell["mean"],
                        mean_interval(cell["mean"], cell["std"], cell["n"]),
                        cell["n"],
                    )
            versus = (by_label.get(label(SE, form)) or {}).get("vs_reference") or {}
            line["delta"] = tuple(versus.get(key) for key in ("delta", "low", "high", "verdict"))
            summary.append(line)
    return summary


def _cell(figure: tuple) -> str:
    mean, interval, n = figure
    if mean is None:
        return "n/a"
    if interval is None:
        return f"{mean:.2f} (n={n})"
    return f"{mean:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def _delta(delta: float | None, low: float | None, high: float | None, verdict: str | None) -> str:
    if delta is None:
        return f"n/a ({verdict})" if verdict else "n/a"
    interval = "" if low is None else f" [{low:+.2f}, {high:+.2f}]"
    return f"{delta:+.2f}{interval}" + (f" {verdict}" if verdict else "")


def summary_table(summary: list[dict]) -> list[str]:
    """The markdown table of `summary_rows`: top-1 error with its 95% interval per E and form, SE −
    vanilla with the report's interval and verdict, flip TTA apart (cifar_fast only)."""
    lines = [
        f"| E | recipe | {VANILLA} top-1 err (%) | {SE} top-1 err (%) | SE − vanilla Δ top-1 [95%] verdict "
        f"| {VANILLA} flip-TTA | {SE} flip-TTA |",
        "|---:|---|---:|---:|---|---:|---:|",
    ]
    for line in summary:
        fast = line["form"].startswith("cifar_fast")
        tta = [_cell(line[f"{model}/tta_top1_err"]) if fast else "–" for model in MODELS]
        lines.append(
            f"| {line['epochs']} | `{line['form']}` | {_cell(line[f'{VANILLA}/top1_err'])} | "
            f"{_cell(line[f'{SE}/top1_err'])} | {_delta(*line['delta'])} | {tta[0]} | {tta[1]} |"
        )
    return lines


def claim_lines(reports: dict[int, dict]) -> list[str]:
    """Each E's claims as its report checked them: the claim, its verdict, and the fast row's Δ top-1
    against the paper's (negative: fewer errors) with the 95% interval (and, for `not worse`, the
    90% interval the verdict reads)."""
    said = []
    for e, report in sorted(reports.items()):
        section = the_section(report, e)
        for claim in section["statistics"]["claims"]:
            (comparison,) = claim["comparisons"]
            figure = _delta(comparison["delta"], comparison["low"], comparison["high"], None)
            if claim["relation"] == "not_worse" and comparison["equivalence_high"] is not None:
                figure += f", 90% [{comparison['equivalence_low']:+.2f}, {comparison['equivalence_high']:+.2f}]"
            said.append(f"E={e}: {claim['says']}: **{claim['verdict']}** (Δ {figure}; {claim['seeds']} seeds)")
    return said


def verdict_count(reports: dict[int, dict]) -> str:
    """How the claims fared, all E together, per relation: `better than cifar_paper at E: n holds, n
    contradicted, n unresolved of N; not worse than ...`."""
    named = {"better": "better than `cifar_paper` at E", "not_worse": f"not worse than `cifar_paper` at {LONGER}E"}
    claims = [
        claim for e, report in sorted(reports.items()) for claim in the_section(report, e)["statistics"]["claims"]
    ]
    said = []
    for relation, name in named.items():
        verdicts = [claim["verdict"] for claim in claims if claim["relation"] == relation]
        counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("holds", "contradicted", "unresolved"))
        said.append(f"{name}: {counts}, of {len(verdicts)}")
    return "; ".join(said)


def missing(summary: list[dict], seeds: int) -> list[str]:
    """What the measurement lacks: each E's row with fewer than `seeds` completed seeds."""
    lacking = []
    for line in summary:
        short = [
            f"{model} {line[f'{model}/top1_err'][2]} of {seeds} seeds"
            for model in MODELS
            if line[f"{model}/top1_err"][2] < seeds
        ]
        if short:
            lacking.append(f"E={line['epochs']}, `{line['form']}`: " + ", ".join(short))
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


def recipe_of(trainer: dict) -> str:
    """A run's recipe and batch, from its record's `trainer` (a record keeps the preset's values, not
    its name): one-cycle is cifar_fast's schedule, multistep cifar_paper's."""
    recipe = {"onecycle": "cifar_fast", "multistep": "cifar_paper"}[trainer["schedule"]]
    return f"`{recipe}` batch {trainer['batch_size']}"


def steps_reading(records: list[dict], train_images: int) -> list[str]:
    """Per recipe and batch of the runs' records: the optimiser steps an epoch on `train_images` (as
    the trainer's sampler counts them, the last partial batch dropped) and, where the weights are
    averaged, the average's horizon 1 / (1 - decay) in steps against the steps of the shortest such
    run."""
    import torch

    from senet_ablate.data.build import GlobalBatchSampler

    shortest: dict[tuple[str, int, float], int] = {}
    for record in records:
        trainer = record["config"]["trainer"]
        key = (recipe_of(trainer), trainer["batch_size"], trainer.get("ema_decay") or 0.0)
        shortest[key] = min(shortest.get(key, trainer["epochs"]), trainer["epochs"])
    said = []
    for (recipe, batch, decay), epochs in sorted(shortest.items()):
        steps = len(GlobalBatchSampler(train_images, batch, 0, 1, torch.Generator()))
        line = f"{recipe}: {steps} optimiser steps an epoch ({steps * batch} of {train_images} images)"
        if decay:
            line += (
                f"; the weights' average (decay {decay}) spans about 1 / (1 − {decay}) = {1 / (1 - decay):.0f} "
                f"steps, and its shortest run here has {steps * epochs} steps in all"
            )
        said.append(line + ".")
    return said


# ---------------------------------------------------------------------------------------------


def render(
    command: str,
    clis: list[str],
    report_cli: str,
    setting: list[str],
    reports: dict[int, dict],
    seeds: int,
    steps: list[str],
    timing: list[str],
) -> str:
    summary = summary_rows(reports)
    lacking = missing(summary, seeds)
    return "\n".join(
        [
            HEADING,
            "",
            "Written by `scripts/fast_cifar_evidence.py` (its docstring says why and how); every figure below is from "
            "the report's JSON of each E's experiment file. The command:",
            "",
            "```bash",
            command,
            "```",
            "",
            "It trained through the product's CLI from the repository root (paths shown relative to it), one sweep "
            "per E (the first shown; the others differ in `+exp=`):",
            "",
            "```bash",
            clis[0],
            "```",
            "",
            "and wrote the tables with the report, all E at once:",
            "",
            "```bash",
            report_cli,
            "```",
            "",
            *[f"- {line}" for line in setting],
            "",
            "Top-1 error (%) on the 360 validation digits: mean over the seeds with its 95% t interval (from the "
            "report's mean, sd and n); SE − vanilla: the report's Δ with its 95% simultaneous interval and verdict. "
            "Flip TTA (each image averaged with its mirror) is `trainer.tta_flip`'s separate figure, cifar_fast only.",
            "",
            *summary_table(summary),
            "",
            *(
                ["**Not measured yet** (the command above trains it):", "", *[f"- {line}" for line in lacking], ""]
                if lacking
                else []
            ),
            "Does `cifar_fast` buy accuracy per epoch? Each E's experiment file states, before any run, what the fast "
            "recipe claims for each model and form: better than `cifar_paper` at E, and not worse than `cifar_paper` "
            f"at {LONGER}E by more than the margin, {MARGIN} top-1 point. The report checks them on the same intervals "
            "as its Δ column: one family per E of 12 pairs (4 SE − vanilla, 8 recipe pairs), Welch's t, Bonferroni; "
            "`better` holds when the 95% interval lies below 0 and the 90% is not within ±margin, `not worse` when "
            "the 90% "
            f"interval lies below +margin. Verdicts, all E together: {verdict_count(reports)}.",
            "",
            *[f"- {line}" for line in claim_lines(reports)],
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
    parser.add_argument("--epochs", default="2,4,6", help="the values of E, comma-separated (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: publish from the runs already in --work (a cut-short measurement says what it lacks)",
    )
    args = parser.parse_args(argv)
    args.epochs = [int(e) for e in args.epochs.split(",")]
    if min(args.epochs) < 2:
        parser.error(f"--epochs {min(args.epochs)}: cifar_fast's one-cycle warm-up needs E >= 2")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    data_root, results_dir, conf, tables = (args.work / name for name in ("digits", "results", "conf", "tables"))
    images = write_digits_cifar(data_root)
    (conf / "exp").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    clis = []
    for e in args.epochs:
        (conf / "exp" / f"{EXP.format(e)}.yaml").write_text(experiment(e))
        overrides = sweep_overrides(conf, data_root, results_dir, args.seeds, e)
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
        f"exps={','.join(EXP.format(e) for e in args.epochs)}",
        f"hydra.searchpath=[file://{conf.resolve()}]",
    ]
    print("running: python -m senet_ablate.report", shlex.join(report), flush=True)
    status = subprocess.run([sys.executable, "-m", "senet_ablate.report", *report], env=env).returncode
    if status != 0:
        print(f"error: the report ended with exit status {status}; nothing published", file=sys.stderr)
        return status
    reports = {e: json.loads((tables / f"{EXP.format(e)}.json").read_text()) for e in args.epochs}
    sections = [the_section(report, e) for e, report in reports.items()]
    run_ids = {run["run_id"] for section in sections for row in section["rows"] for run in row["runs"]}
    records = [
        record
        for path in (results_dir / "runs").glob("*.json")
        if (record := json.loads(path.read_text())).get("status") == "completed" and record.get("run_id") in run_ids
    ]
    code_versions = sorted({version for section in sections for version in section["code_versions"]})
    walls: dict[str, list[float]] = {}
    for record in records:
        trainer = record["config"]["trainer"]
        if record.get("wall_time_s"):
            walls.setdefault(recipe_of(trainer), []).append(record["wall_time_s"] / trainer["epochs"])
    setting = [
        f"Data: scikit-learn's digits (`load_digits`, 1797 real 8x8 greyscale scans, 10 classes), split "
        f"{1 - VAL_FRACTION:.0%}/{VAL_FRACTION:.0%} stratified by class (seed {SPLIT_SEED}): {images['train']} "
        f"training and {images['val']} validation images, upscaled to {SIDE}x{SIDE} (bilinear), copied to 3 channels "
        "and written as CIFAR-10's python batches, read by `data=cifar10` (normalised with CIFAR-10's mean and std).",
        "Loader: `data.loader=gpu` (the device-resident loader, here on the CPU device) for every row: 4 px zero "
        "padding and a random 32 px crop; random flips for `cifar_paper`, alternating flips (`data.flip=alternate`) "
        "for `cifar_fast`.",
        f"Models: `model=resnet20`, `se.enabled=false` ({VANILLA}) and `true` ({SE}); seeds 0 to {args.seeds - 1}.",
        f"`cifar_paper E ep` and `cifar_paper {LONGER}E ep`: `trainer=cifar_paper` at E and {LONGER}E epochs: batch "
        "128, lr 0.1, /10 at 50% and 75% of the epochs (the milestones are fractions of `trainer.epochs`, so they "
        "scale with it).",
        "`cifar_fast E ep`: `trainer=cifar_fast` at E epochs as the preset has it: batch 512, Nesterov lr 0.4, "
        "one-cycle per step with `trainer.warmup_epochs` a quarter of E (at least 1; the preset's 5 is refused at "
        "E <= 5), label smoothing 0.2, the weights' average (decay 0.99, evaluated), flip TTA reported apart.",
        f"`cifar_fast b{SCALED_BATCH} E ep`: the same at `trainer.batch_size={SCALED_BATCH}` (the preset scales the lr "
        f"to 0.1) and `trainer.ema_decay={SCALED_EMA}`, the average over about one epoch: on 1437 images batch 512 "
        "makes 2 steps an epoch, too few for a one-cycle schedule and a 100-step average to mean anything.",
        f"Machine: CPU, `OMP_NUM_THREADS={env['OMP_NUM_THREADS']}`, {len(os.sched_getaffinity(0))} cores shared "
        f"with other work; {code_line(code_versions)}",
    ]
    per_epoch = ", ".join(f"{name} {np.median(values):.1f} s" for name, values in sorted(walls.items()))
    timing = [
        f"One epoch (training and validation, median over the runs' records): {per_epoch}.",
        f"{len(records)} completed runs, {sum(r['config']['trainer']['epochs'] for r in records)} epochs; they span "
        f"{span_s(records) / 60:.1f} min from the first one's start to the last one's end (from their records: "
        "the measurement's wall time, whichever command trained them). "
        f"Written {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
    ]
    shown = [arg for arg in argv if arg != "--report-only"]  # the command that trains what is published
    command = "OMP_NUM_THREADS=1 python scripts/fast_cifar_evidence.py" + (" " + shlex.join(shown) if shown else "")
    report_cli = shlex.join(["python", "-m", "senet_ablate.report", *report]).replace(f"{ROOT}/", "")
    text = render(
        command, clis, report_cli, setting, reports, args.seeds, steps_reading(records, images["train"]), timing
    )
    from benchmark import write_section  # torch, timm: only when it publishes

    write_section(args.out, text)
    print(f"wrote the section {HEADING!r} of {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
