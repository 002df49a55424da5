"""Inject faults into real CPU runs of the training CLI and write `results/reliability.md`.

Every trial starts `python -m senet_ablate` exactly as a user would (through this file's
`--child` mode, which only adds announcements and short pauses at the moments worth killing).
What is checked:
  kill anywhere   SIGKILL at random moments (start-up, training, evaluation, checkpoint and
                  record writes), restart the same command each time; the final record must
                  equal an uninterrupted run's, and no record may say `completed` too early
  damaged ckpt    truncate / flip a byte / empty / garbage the newest checkpoint (and both)
                  after a kill; the rerun must name it in its log and end like an uninterrupted run
  corrupt image   an image folder with unreadable files: failed (exit 1) naming the file, or
                  skipped and counted with data.skip_corrupt=true
  NaN             a diverging run: exit 3, `diverged` with the step
  writers         two processes writing records into one results dir, many times over
  refusals        bad command lines: exit 2, one line, nothing written

    python scripts/reliability.py                  # 12 kills, writes results/reliability.md
    python scripts/reliability.py --kills 3 --out /tmp/r.md
"""

import argparse
import json
import multiprocessing
import os
import random
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "@@fault-point "
# A small run: 4 epochs of 8 steps, a few seconds on a CPU (generated data unless a trial sets data=).
RUN = ["model=resnet20", "trainer=smoke", "trainer.epochs=4", "trainer.batch_size=32", "trainer.device=cpu"]
SYNTHETIC = ["data=synthetic", "data.train_size=256", "data.val_size=128"]
PHASES = ("start-up", "train", "eval", "checkpoint", "record")
# Fields that depend on when and how fast a run went, not on what it computed.
TIMING = {"epoch_time_s", "images_per_s", "wall_time_s", "started_at", "updated_at", "env"}


# --- the child: the real CLI, with announcements at the moments worth killing ----------------


def run_child(argv: list[str], pause_s: float) -> None:
    """Run `python -m senet_ablate argv`, announcing each phase on stderr and pausing briefly in it."""
    from senet_ablate.engine.trainer import Trainer

    def announce(phase: str) -> None:
        print(MARKER + phase, file=sys.stderr, flush=True)
        time.sleep(pause_s)

    real_replace = os.replace

    def replace(source, target, *args, **kwargs):  # the last step of every atomic write
        name = str(target)
        if name.endswith((".pt", ".json")):
            announce("checkpoint" if name.endswith(".pt") else "record")
        return real_replace(source, target, *args, **kwargs)

    def announced(method, phase):
        def wrapper(self, *args, **kwargs):
            announce(phase)
            return method(self, *args, **kwargs)

        return wrapper

    os.replace = replace
    Trainer.train_one_epoch = announced(Trainer.train_one_epoch, "train")
    Trainer.evaluate = announced(Trainer.evaluate, "eval")
    sys.argv = ["senet_ablate", *argv]
    runpy.run_module("senet_ablate", run_name="__main__", alter_sys=True)


# --- the harness -------------------------------------------------------------------------------


@dataclass
class Trial:
    name: str
    detail: str
    survived: bool
    note: str = ""


@dataclass
class Report:
    trials: list[Trial] = field(default_factory=list)

    def add(self, name: str, detail: str, survived: bool, note: str = "") -> None:
        self.trials.append(Trial(name, detail, survived, note))
        print(f"[{'ok' if survived else 'LOST'}] {name}: {detail} {note}", flush=True)


def cli(results: Path, data: list[str] = SYNTHETIC, fault_pause_s: float | None = None) -> subprocess.Popen:
    """The training CLI on RUN + `data`; with `fault_pause_s`, through `run_child`'s announcements."""
    base = [sys.executable, __file__, "--child", str(fault_pause_s)] if fault_pause_s is not None else None
    command = base or [sys.executable, "-m", "senet_ablate"]
    return subprocess.Popen(
        [*command, *RUN, *data, f"results_dir={results}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=600)
    return process.returncode, out + err


def the_record(results: Path) -> dict | None:
    records = list((results / "runs").glob("*.json"))
    return json.loads(records[0].read_text()) if records else None


def outcome(record: dict) -> dict:
    """What a run computed: the record without timing fields (epochs included), its results_dir, or
    `exp`, which names who asked for the run (the command line's overrides included)."""
    kept = {key: value for key, value in record.items() if key not in TIMING}
    kept["config"] = {key: value for key, value in record["config"].items() if key not in ("results_dir", "exp")}
    kept["epochs"] = [{k: v for k, v in epoch.items() if k not in TIMING} for epoch in record["epochs"]]
    return kept


def kill_at(process: subprocess.Popen, phase: str, occurrence: int, rng: random.Random) -> bool:
    """SIGKILL `process` a random instant into the `occurrence`-th announcement of `phase`
    (start-up: a random instant after launch). False if it ended first."""
    if phase == "start-up":
        time.sleep(rng.uniform(0.2, 3.0))
    else:
        seen = 0
        for line in process.stderr:
            if line.startswith(MARKER) and line[len(MARKER) :].strip() == phase:
                seen += 1
                if seen == occurrence:
                    break
        else:
            return False
        time.sleep(rng.uniform(0, 0.1))
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def kill_anywhere(report: Report, work: Path, reference: dict, kills: int, rng: random.Random) -> None:
    """Kill the run `kills` times, restarting the same command after each; whenever a run gets
    to its end (a kill came too late), its record must equal the reference, and it starts over."""
    results = work / "killed"
    done = since_start = 0
    while done < kills:
        phase, occurrence = rng.choice(PHASES), rng.randint(1, 3)
        process = cli(results, fault_pause_s=0.15)
        killed = kill_at(process, phase, occurrence, rng)
        status = None if killed else finish(process)[0]
        record = the_record(results)
        if killed:
            done, since_start = done + 1, since_start + 1
            premature = record is not None and record["status"] == "completed" and outcome(record) != reference
            report.add(
                "kill anywhere",
                f"SIGKILL #{done} in {phase} (occurrence {occurrence}), record then: "
                f"{record['status'] if record else 'none'}, {len(record['epochs']) if record else 0} epochs",
                not premature,
                "a record said completed for an unfinished run" if premature else "",
            )
        if record is not None and record["status"] == "completed" and done < kills:
            equal = status in (None, 0) and outcome(record) == reference
            report.add("kill anywhere", f"run ended after {since_start} kills: exit {status}", equal)
            shutil.rmtree(results)  # start over from nothing to place the remaining kills
            since_start = 0
    status, log = finish(cli(results))
    record = the_record(results)
    equal = status == 0 and record is not None and outcome(record) == reference
    report.add(
        "kill anywhere", f"run ended after {since_start} kills: exit {status}", equal, "" if equal else log[-500:]
    )


DAMAGE = {
    "truncated to half": lambda data: data[: len(data) // 2],
    "one byte flipped": lambda data: (
        data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
    ),
    "emptied": lambda data: b"",
    "replaced by garbage": lambda data: os.urandom(len(data)),
}


def damaged_checkpoints(report: Report, work: Path, reference: dict, rng: random.Random, quick: bool) -> None:
    kinds = [*DAMAGE.items(), ("both files truncated", DAMAGE["truncated to half"])]
    for index, (kind, damage) in enumerate(kinds[1:2] + kinds[-1:] if quick else kinds):
        results = work / f"damaged{index}"
        process = cli(results, fault_pause_s=0.0)
        kill_at(process, "train", 3, rng)  # while epoch 3 trains: epochs 1 and 2 are checkpointed
        checkpoints = sorted((results / "runs").glob("*/checkpoint*.pt"))
        targets = checkpoints if kind.startswith("both") else [p for p in checkpoints if p.name == "checkpoint.pt"]
        for path in targets:
            path.write_bytes(damage(path.read_bytes()))
        status, log = finish(cli(results))
        record = the_record(results)
        named = all(str(path) in log for path in targets) and "damaged" in log
        equal = status == 0 and record is not None and outcome(record) == reference
        report.add(
            "damaged checkpoint",
            f"{kind}: {', '.join(path.name for path in targets)} (of {len(checkpoints)} kept), rerun exit {status}",
            equal and named,
            "" if named else "the log does not name the damaged file",
        )


def corrupt_images(report: Report, work: Path) -> None:
    import numpy as np
    from PIL import Image

    root = work / "images"
    rng = np.random.default_rng(0)
    for split, count in (("train", 16), ("val", 8)):
        for label in ("a", "b"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    bad = [root / "train" / "a" / "broken.png", root / "val" / "b" / "text.jpg"]
    bad[0].write_bytes((root / "train" / "a" / "0.png").read_bytes()[:100])
    bad[1].write_text("not an image")
    folder_run = [
        "data=imagefolder",
        f"data.root={root}",
        "data.num_classes=2",
        "data.image_size=32",
        "data.num_workers=0",
        "trainer.batch_size=8",
    ]
    status, log = finish(cli(work / "corrupt-fail", folder_run))
    record = the_record(work / "corrupt-fail")
    named = any(str(path) in (record or {}).get("error", "") for path in bad)
    report.add(
        "corrupt image",
        f"2 unreadable files, default: exit {status}, {record and record['status']}",
        status == 1 and named,
    )
    status, log = finish(cli(work / "corrupt-skip", [*folder_run, "data.skip_corrupt=true"]))
    record = the_record(work / "corrupt-skip")
    skipped = record["skipped_images"] if record else None
    report.add(
        "corrupt image",
        f"data.skip_corrupt=true: exit {status}, {record and record['status']}, {skipped} image reads skipped",
        status == 0 and bool(skipped),
    )


def divergence(report: Report, work: Path) -> None:
    status, _ = finish(cli(work / "nan", [*SYNTHETIC, "trainer.lr=1e30"]))
    record = the_record(work / "nan")
    at = record and record["diverged_at"]
    report.add("NaN/inf loss", f"trainer.lr=1e30: exit {status}, diverged at {at}", status == 3 and bool(at))


def _write_many(results: str, writer: int, count: int) -> None:
    from senet_ablate.store import new_record, record_path, write_record

    for index in range(count):
        write_record(
            record_path(results, "shared"), new_record(run_id="shared", status="running", config={}, seed=index, env={})
        )
        write_record(
            record_path(results, f"w{writer}-{index}"),
            new_record(run_id=f"w{writer}-{index}", status="completed", config={}, seed=0, top1_err=50.0, env={}),
        )


def concurrent_writers(report: Report, work: Path, count: int = 500) -> None:
    from senet_ablate.store import iter_records

    results = work / "writers"
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(str(results), w, count)) for w in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    readable = len(list(iter_records(results)))
    expected = 2 * count + 1
    report.add(
        "concurrent writers",
        f"2 processes x {count} x 2 record writes: {readable}/{expected} records readable",
        readable == expected,
    )


REFUSALS = [
    ["se.reduction=abc"],
    ["trainer.lr=-0.1"],
    ["trainer.milestones=[]"],
    ["model=resnet20", "se.position=3x3"],
    ["data=cifar10", "data.root=/nonexistent"],
]


def refusals(report: Report, work: Path, quick: bool) -> None:
    for args in REFUSALS[:2] if quick else REFUSALS:
        results = work / "refused"
        own_data = any(arg.startswith("data=") for arg in args)
        status, log = finish(cli(results, args if own_data else [*SYNTHETIC, *args]))
        lines = [line for line in log.strip().splitlines() if line.startswith("error: ")]
        nothing = not (results / "runs").exists() or not list((results / "runs").iterdir())
        report.add(
            "refused input",
            f"{' '.join(args)}: exit {status}, {lines[0] if lines else log[-200:]}",
            status == 2 and nothing and len(lines) == 1,
        )


def markdown(report: Report, args: argparse.Namespace, seconds: float) -> str:
    lines = [
        "# Reliability",
        "",
        f"Generated by `python scripts/reliability.py --kills {args.kills} --seed {args.seed}"
        + (" --quick" if args.quick else "")
        + "` (`make reliability`) "
        f"in {seconds:.0f} s on a CPU. Each trial runs the real CLI on a small run "
        f"(`{' '.join(RUN + SYNTHETIC)}`) and checks its record against an uninterrupted run's "
        "(timing fields aside).",
        "",
        "| fault | trials | survived | lost |",
        "|---|---:|---:|---:|",
    ]
    names = list(dict.fromkeys(trial.name for trial in report.trials))
    for name in names:
        trials = [trial for trial in report.trials if trial.name == name]
        survived = sum(trial.survived for trial in trials)
        lines.append(f"| {name} | {len(trials)} | {survived} | {len(trials) - survived} |")
    lines += ["", "## Every trial", "", "| fault | what was done | outcome |", "|---|---|---|"]
    for trial in report.trials:
        lines.append(f"| {trial.name} | {trial.detail} | {'survived' if trial.survived else 'LOST: ' + trial.note} |")
    lines += [
        "",
        "Not injected here: CUDA out-of-memory (no GPU on this machine; `tests/test_train.py` raises it in "
        "the trainer and checks the advice recorded).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return run_child(sys.argv[3:], float(sys.argv[2]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--kills", type=int, default=12, help="SIGKILLs of the kill-anywhere trial (>= 10 for the report)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument(
        "--quick", action="store_true", help="two checkpoint damages and two refusals instead of all (the test suite's)"
    )
    parser.add_argument("--out", type=Path, default=Path("results/reliability.md"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="senet-reliability-") as tmp:
        work = Path(tmp)
        os.environ["SENET_ABLATE_CACHE_DIR"] = str(work / "cache")
        status, log = finish(cli(work / "reference"))
        if status != 0:
            sys.exit(f"the uninterrupted reference run failed (exit {status}):\n{log[-2000:]}")
        reference = outcome(the_record(work / "reference"))
        kill_anywhere(report, work, reference, args.kills, rng)
        damaged_checkpoints(report, work, reference, rng, args.quick)
        corrupt_images(report, work)
        divergence(report, work)
        concurrent_writers(report, work)
        refusals(report, work, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(report, args, time.perf_counter() - started))
    print(args.out)
    sys.exit(0 if all(trial.survived for trial in report.trials) else 1)


if __name__ == "__main__":
    main()
