"""Run every CUDA path of senet-ablate on one GPU within one short loan, and say which of them work.

A GPU is lent to us now and then, for about 15 minutes once, start-up included: this script is ready
before it comes. It runs in four sections, each with its own time budget, and writes what each check
found under --out as soon as the check ends (a machine taken back half-way leaves every result
that was ready). In order:
  preflight    (budget 10 s)  imports, `python -m senet_ablate --help`, a C compiler and Python.h
                              (Triton and inductor build with them), the size of /dev/shm
  key figures  (budget 90 s)  scripts/benchmark.py, eager: our ResNet-50 and SE-ResNet-50 against
                              timm's resnet50 / seresnet50 (SE's cost over ResNet-50, ours beside timm's);
                              then trainer=cifar_fast's CIFAR-10 epochs/s of ResNet-20 and ResNet-110
                              (3-epoch runs, the epochs after the first) and the hours of a 10-seed
                              reduction table of ResNet-110 under it
  CUDA paths   (budget 130 s) short runs of the training CLI on generated, learnable data, 4 at a
                              time, each killed after 120 s: gpu loader with AMP and channels_last,
                              fp16 with its GradScaler, an image folder, kill and resume, SIGUSR2,
                              2 ranks under torchrun, DALI; then a real CUDA out-of-memory error alone
  compile      (budget 220 s) scripts/benchmark.py --compile, ours against timm's SE-ResNet-50 only;
                              then one trainer.compile=true run
A check that fails does not stop the others; a section that outlasts its budget has its runs killed
(with every process they started) and fails. Results: `<out>/gpu_check.md` (each section and check
with its time and result; rewritten after every check) and `<out>/benchmarks.md` (the benchmark's
sections and the cifar_fast timing's). Exit status 1 if any check failed or any section went over its budget.

    python scripts/gpu_check.py --out DIR    # on the GPU machine; on a machine without one, the
                                             # CPU rehearsal: tiny sizes, budgets times CPU_SCALE

The same command on a CPU (`make gpu-rehearsal`, in CI) runs the same sections and checks on tiny
data; what only a GPU can show (AMP, fp16, an OOM, compile) is skipped with the reason. The
img/s of a short run is a smoke timing (start-up included), labelled so; throughput figures come
only from the benchmark (median of timed runs after warm-up steps) and the cifar_fast timing (whole
epochs after a warm-up epoch; on a CPU, tiny epochs labelled CPU smoke).
"""

import argparse
import importlib
import importlib.util
import json
import os
import pickle
import platform
import queue
import runpy
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from benchmark import device_name, duration, write_jpeg_folder, write_section  # scripts/benchmark.py's

import senet_ablate
from senet_ablate import compose_config
from senet_ablate.base.atomic import atomic_file
from senet_ablate.data.synthetic import make_synthetic
from senet_ablate.engine.checkpoint import load_checkpoint

BENCHMARK = Path(__file__).with_name("benchmark.py")
SHARED_DEVICE_RANK = "--shared-device-rank"  # how torchrun starts this file as one of two ranks on one GPU
# The config key and value that force float16 AMP (trainer.amp picks bf16 where the GPU has it).
FP16_KEY, FP16_VALUE = "amp_dtype", "float16"
# The rehearsal's budgets are the GPU's times this. Tiny data on a CPU takes about as long as real
# sizes on a GPU, as process start-up dominates both, but starting Python with torch takes 2-3
# times longer on 2 CPU cores than on the GPU machine's 16 (`--help`: 7 s of CPU time here), and more
# where other work shares them.
CPU_SCALE = 3.0
KEY_MODELS = ("ours ResNet-50", "ours SE-ResNet-50", "timm resnet50", "timm seresnet50")
COMPILED_MODELS = ("ours SE-ResNet-50", "timm seresnet50")
# Kill-and-resume on CUDA: cuDNN's backward convolutions add in an order that varies between
# processes, so two uninterrupted runs differ in the last bits. The run trains in fp32 and its
# per-epoch losses must agree to this relative difference; on learnable data a resume that lost
# its optimiser state, its epoch or its batches differs by percents. On a CPU: bit for bit.
CUDA_LOSS_TOLERANCE = 1e-3
CUDA_ERROR_TOLERANCE = 0.5  # top-1 error points: a few near-tie images may flip with the rounding


class Skipped(Exception):
    """This check cannot run here; the message says why."""


@dataclass(frozen=True)
class Sizes:
    """How large each check's data and runs are: seconds on a GPU, seconds on a CPU."""

    images_per_cifar_file: int  # 5 training batch files and a test batch of this many each
    batch: int
    short_steps: int  # steps per epoch of the short runs
    long_steps: int  # steps per epoch of runs stopped mid-epoch: time for a signal to land
    folder_images: int  # generated JPEGs in train/ and as many in val/
    folder_image_size: int
    workers: int
    benchmark: tuple[str, ...]  # scripts/benchmark.py's sizes and settings
    gpu_only: bool  # AMP, fp16, an OOM and compile: skipped on a CPU
    resume_tolerance: tuple[float, float]  # (relative loss, error points) a resumed run may differ by
    timing_images_per_cifar_file: int  # the cifar_fast timing's data: the check's own files where equal
    timing_batch: int | None  # its runs' batch; None: the preset's (512)
    scale: float  # the sections' budgets and the runs' time limit are the GPU's times this


GPU_SIZES = Sizes(
    images_per_cifar_file=4096,  # 32 validation batches of 128: no odd last batch to recompile for
    batch=128,
    short_steps=30,
    long_steps=150,
    folder_images=128,
    folder_image_size=224,
    workers=4,
    benchmark=("--batch-size", "256", "--image-size", "224", "--amp", "--channels-last", "--steps", "10")
    + ("--warmup", "5", "--repeats", "3"),
    gpu_only=True,
    resume_tolerance=(CUDA_LOSS_TOLERANCE, CUDA_ERROR_TOLERANCE),
    timing_images_per_cifar_file=4096,  # 40 training and 8 test batches of 512: whole batches
    timing_batch=None,
    scale=1.0,
)
CPU_SIZES = Sizes(
    images_per_cifar_file=64,
    batch=16,
    short_steps=3,
    long_steps=20,
    folder_images=8,
    folder_image_size=64,
    workers=1,
    # no --amp: bf16 autocast on a CPU is many times slower, and the trainer uses none there
    benchmark=("--batch-size", "2", "--image-size", "32", "--channels-last", "--steps", "1", "--warmup", "1")
    + ("--repeats", "1"),
    gpu_only=False,
    resume_tolerance=(0.0, 0.0),
    timing_images_per_cifar_file=8,  # ResNet-110 trains about 10 images/s on one core
    timing_batch=8,
    scale=CPU_SCALE,
)
RUN_LIMIT_S = 120  # one run's time on the GPU (the CPU's: times CPU_SCALE)
GRACE_S = 10  # after its section's deadline, the time a check whose runs were killed has to say so


@dataclass
class Outcome:
    section: str
    name: str
    status: str  # passed | failed | skipped
    detail: str
    seconds: float
    output: str = ""  # a failed check's error and the tail of the run's output


@dataclass
class Context:
    """What every check needs: the device, the sizes, a scratch folder, where results go, the time
    (time.monotonic()) by which its section must end, and the runs it started (killed at that time)."""

    device: str
    sizes: Sizes
    work: Path
    out: Path
    deadline: float = float("inf")
    runs: set = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    failed_preflight: dict = field(default_factory=dict)  # what a later section needs that preflight did not find
    run_limit_s: float = RUN_LIMIT_S  # the time a run of the check at hand is given (scaled on a CPU)
    scale: float = 1.0  # budgets and run limits are the GPU's times this: `time_scale`

    @property
    def on_cuda(self) -> bool:
        return self.device == "cuda"


# --- running commands --------------------------------------------------------------------------


class CheckFailed(AssertionError):
    """A check's assertion, with the output of the run it is about."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc: torchrun starts each rank in a session of its
    own, out of reach of a signal to torchrun's process group."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while we read
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


class Run:
    """A started command in a process group of its own, whose merged output a thread reads as it
    comes (so that a check can wait for a line). It ends by its context's deadline at the latest."""

    def __init__(self, command: list[str], ctx: Context):
        self.ctx = ctx
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ctx.work,  # outside the checkout: the installed package runs, as a user's would
            env={**os.environ, "SENET_ABLATE_CACHE_DIR": str(ctx.work / "cache")},
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        with ctx.lock:
            ctx.runs.add(self)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exception) -> None:
        """A check that failed half-way leaves no run behind."""
        self.kill()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _limit(self, timeout_s: float) -> float:
        return max(min(timeout_s, self.ctx.run_limit_s, self.ctx.deadline - time.monotonic()), 0.01)

    def wait_for(self, text: str) -> None:
        """Return once a line containing `text` has been printed; fail if the run ends or time runs out first."""
        deadline = time.monotonic() + self._limit(float("inf"))
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.kill()
                raise CheckFailed(f"no line with {text!r} in time: killed", self.text) from None
            if line is None:
                raise CheckFailed(f"the run ended (exit {self.process.wait()}) before printing {text!r}", self.text)
            self.output.append(line)
            if text in line:
                return

    def signal(self, signum: int) -> None:
        """`signum` to the run's process group, as SLURM signals every process of a job step."""
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL to the run, its process group and every process below it, in whatever session."""
        if self.process.poll() is None:
            for pid in descendants(self.process.pid):
                try:
                    os.killpg(os.getpgid(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.signal(signal.SIGKILL)
            self.process.wait()
        with self.ctx.lock:
            self.ctx.runs.discard(self)

    def finish(self, timeout_s: float = float("inf")) -> int:
        """Wait for the run to end (killed at its time limit or its section's deadline); its exit status."""
        limit = self._limit(timeout_s)
        try:
            status = self.process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.kill()
            self._drain()
            raise CheckFailed(f"still running {limit:.0f} s later: killed", self.text) from None
        self._drain()
        with self.ctx.lock:
            self.ctx.runs.discard(self)
        return status

    def _drain(self, timeout_s: float = 5) -> None:
        """The output up to end-of-file, or what came within `timeout_s`: a process that outlived
        the run (one in a session of its own) may hold the pipe open."""
        deadline = time.monotonic() + timeout_s
        try:
            while (line := self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))) is not None:
                self.output.append(line)
        except queue.Empty:
            self.output.append(f"[gpu_check: no end of output {timeout_s:.0f} s after the run ended]\n")

    @property
    def text(self) -> str:
        return "".join(self.output)


def train(ctx: Context, results: Path, overrides: list[str]) -> Run:
    """Start `python -m senet_ablate` on `overrides`, writing into `results`."""
    return Run([sys.executable, "-m", "senet_ablate", *overrides, f"results_dir={results}"], ctx)


def train_to_end(ctx: Context, results: Path, overrides: list[str], expected_status: int = 0) -> tuple[dict, str]:
    """Run the CLI to its end, check its exit status; the run's record and the CLI's output."""
    run = train(ctx, results, overrides)
    status = run.finish()
    if status != expected_status:
        raise CheckFailed(f"exit status {status}, expected {expected_status}", run.text)
    return only_record(results, run.text), run.text


def completed_run(ctx: Context, results: Path, overrides: list[str]) -> tuple[dict, str]:
    """`train_to_end`, and check that the record says completed."""
    record, output = train_to_end(ctx, results, overrides)
    expect_completed(record, output)
    return record, output


def only_record(results: Path, output: str = "") -> dict:
    records = [json.loads(path.read_text()) for path in (results / "runs").glob("*.json")]
    if len(records) != 1:
        raise CheckFailed(f"{len(records)} run records in {results / 'runs'}, expected 1", output)
    return records[0]


def expect(condition: bool, message: str, output: str = "") -> None:
    if not condition:
        raise CheckFailed(message, output)


def expect_completed(record: dict, output: str) -> None:
    expect(record["status"] == "completed", f"record says {record['status']}: {record.get('error')}", output)
    expect(record["top1_err"] is not None, "a completed record without its top-1 error", output)


def checkpoint_of(results: Path, record: dict) -> dict:
    return load_checkpoint(results / "runs" / record["run_id"] / "checkpoint.pt", torch.device("cpu"))


def smoke_rate(record: dict) -> str:
    """A short run's img/s: start-up, cuDNN autotuning and worker start included, so no throughput figure."""
    return f"smoke timing {record['images_per_s']:.0f} img/s (start-up included; not a throughput figure)"


# --- data --------------------------------------------------------------------------------------


def write_cifar_batches(root: Path, per_file: int) -> None:
    """CIFAR-10's six pickled batch files under `root`, holding learnable images: each class a
    smooth pattern, shifted, scaled and noised (senet_ablate.data.synthetic), so the loss falls
    and a resume that went wrong shows in it (random labels would keep every run at ln 10)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train = make_synthetic("train", 5 * per_file, 10, 32, noise=1.0)
    test = make_synthetic("val", per_file, 10, 32, noise=1.0)
    splits = [(f"data_batch_{index + 1}", train, index * per_file) for index in range(5)] + [("test_batch", test, 0)]
    for name, (images, labels), start in [(n, d.tensors, s) for n, d, s in splits]:
        chunk = images[start : start + per_file]
        pixels = (128 + 40 * chunk).clamp(0, 255).to(torch.uint8).reshape(per_file, -1).numpy()
        batch = {b"data": np.ascontiguousarray(pixels), b"labels": labels[start : start + per_file].tolist()}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)


def cifar_run(
    ctx: Context,
    *overrides: str,
    steps: int | None = None,
    epochs: int = 2,
    batch: int | None = None,
    progress: bool = False,
) -> list[str]:
    """A ResNet-20 run on the CIFAR-shaped files: `epochs` epochs of `steps` steps (the short runs'
    by default); with `progress`, a log line every ~10% of an epoch, for a check to wait for."""
    return [
        "model=resnet20",
        "data=cifar10",
        f"data.root={ctx.work / 'cifar'}",
        "trainer=smoke",
        f"trainer.device={ctx.device}",
        f"trainer.epochs={epochs}",
        f"trainer.batch_size={batch or ctx.sizes.batch}",
        f"trainer.max_steps_per_epoch={steps or ctx.sizes.short_steps}",
        f"trainer.progress={str(progress).lower()}",
        *overrides,
    ]


AMP_ON_GPU_LOADER = ["data.loader=gpu", "trainer.amp=true", "trainer.channels_last=true"]


def describe_amp(ctx: Context, results: Path, record: dict, output: str) -> str:
    """On CUDA, check the log says AMP ran and say which dtype the checkpoint shows: a GradScaler
    holds state only under float16 (bf16 needs no loss scaling)."""
    if not ctx.on_cuda:
        return "AMP is CUDA-only: full precision here"
    expect("AMP on" in output, "the run's log does not say AMP on", output)
    scaler = checkpoint_of(results, record)["scaler"]
    return "AMP float16 with a GradScaler" if scaler else "AMP bfloat16 (no GradScaler state)"


# --- preflight ---------------------------------------------------------------------------------


def imports(ctx: Context) -> str:
    """What the check and the package import, with their versions (the GPU machine's own or the wheels')."""
    names = ["hydra", "omegaconf", "timm", "torchvision", "scipy", "senet_ablate"] + ["triton"] * ctx.on_cuda
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {getattr(importlib.import_module(name), '__version__', '?')}")
        except ImportError as error:
            ctx.failed_preflight["imports"] = f"{name} does not import"
            raise CheckFailed(f"{name} does not import: {error}") from None
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}), " + ", ".join(versions)


def cli_help(ctx: Context) -> str:
    run = Run([sys.executable, "-m", "senet_ablate", "--help"], ctx)
    status = run.finish()
    if status != 0 or "model" not in run.text:
        ctx.failed_preflight["cli"] = "`python -m senet_ablate --help` failed"
        raise CheckFailed(f"`python -m senet_ablate --help` exit status {status}", run.text)
    return f"`python -m senet_ablate --help` exit 0 ({len(run.text.splitlines())} lines)"


def compiler(ctx: Context) -> str:
    """torch.compile's Triton (GPU) and C++ (CPU) back ends build with a C compiler and Python.h."""
    cc = next((shutil.which(name) for name in ("cc", "gcc", "clang") if shutil.which(name)), None)
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    missing = [what for what, found in (("a C compiler", cc), (str(header), header.exists())) if not found]
    if missing:
        ctx.failed_preflight["compiler"] = f"no {' and no '.join(missing)}"
        if not ctx.on_cuda:
            raise Skipped(f"no {' and no '.join(missing)}: compile is GPU-only here anyway")
        raise CheckFailed(f"no {' and no '.join(missing)}: Triton cannot build its launchers, so compile cannot run")
    return f"{cc}, {header}"


def shared_memory(ctx: Context) -> str:
    """DataLoader workers hand batches over in /dev/shm: a container's default 64 MB is too small."""
    try:
        stats = os.statvfs("/dev/shm")
    except OSError:
        raise Skipped("no /dev/shm here") from None
    size, free = stats.f_blocks * stats.f_frsize / 2**30, stats.f_bavail * stats.f_frsize / 2**30
    warning = "; under 1 GiB: DataLoader workers may fail (data.num_workers=0 avoids it)" if size < 1 else ""
    return f"/dev/shm {size:.1f} GiB, {free:.1f} GiB free{warning}"


# --- the benchmark -----------------------------------------------------------------------------


def benchmark(ctx: Context, models: tuple[str, ...], compile_models: bool) -> str:
    """scripts/benchmark.py's training-step table for `models` (median of timed runs after warm-up:
    steady state), into <out>/benchmarks.md; the SE overhead lines it prints."""
    if compile_models and not ctx.sizes.gpu_only:
        raise Skipped("inductor compiles C++ for minutes on a CPU: compile is timed on the GPU only")
    if compile_models and "compiler" in ctx.failed_preflight:
        raise Skipped(f"preflight: {ctx.failed_preflight['compiler']}")
    arguments = ["--device", ctx.device, *ctx.sizes.benchmark, "--parts", "models", "--models", *models]
    arguments += ["--compile"] * compile_models + ["--out", str(ctx.out / "benchmarks.md")]
    run = Run([sys.executable, str(BENCHMARK), *arguments], ctx)
    expect(run.finish() == 0, "scripts/benchmark.py did not exit 0", run.text)
    rates = [line.strip() for line in run.output if line.startswith("  ") and "img/s" in line]
    overhead = [line.strip() for line in run.output if line.startswith(("| ours | ", "| timm | "))]
    expect(len(rates) == len(models), f"{len(rates)} of {len(models)} models timed", run.text)
    expect(len(overhead) == 2 or compile_models, "no SE overhead of ours and timm's", run.text)
    return "; ".join(rates + [f"SE / plain, overhead: {line}" for line in overhead])


# --- trainer=cifar_fast timing -----------------------------------------------------------------

TIMED_MODELS = {"resnet20": "ResNet-20", "resnet110": "ResNet-110"}
PROJECTED_MODEL = "resnet110"  # the paper's CIFAR model (cifar_sweep's)
PROJECTED_TABLE, PROJECTED_SEEDS = "reduction_sweep", 10  # a table of its rows x 10 seeds
TIMING_EPOCHS = 3  # a warm-up epoch (cuDNN autotuning, first allocations), then the timed ones
CIFAR10_TEST = 10_000  # CIFAR-10: 5 training files and a test file of 10,000 images each


def cifar_epoch_seconds(record: dict, images_per_file: int) -> float:
    """Seconds of a CIFAR-10 epoch (50,000 training and 10,000 test images) from a run over the
    check's files (5 x and 1 x `images_per_file`: CIFAR-10's 5 to 1): the median `epoch_time_s`
    (training, evaluation with its flip TTA) of the epochs after the first, scaled by 10,000 /
    `images_per_file`. Exact only in whole batches: a dropped last batch would shrink the epoch."""
    batch = record["config"]["trainer"]["batch_size"]
    expect(images_per_file % batch == 0, f"{images_per_file} images per file are no whole batches of {batch}")
    timed = [epoch["epoch_time_s"] for epoch in record["epochs"][1:]]
    expect(bool(timed), f"{len(record['epochs'])} epoch(s): none after the warm-up epoch to time")
    return statistics.median(timed) * CIFAR10_TEST / images_per_file


def projected_hours(runs: int, epochs: int, epochs_per_s: float) -> float:
    """Hours on one GPU of `runs` runs of `epochs` epochs each, at `epochs_per_s`."""
    return runs * epochs / epochs_per_s / 3600


@dataclass(frozen=True)
class Projection:
    """A table of PROJECTED_TABLE's rows x PROJECTED_SEEDS seeds under `trainer=cifar_fast`, at
    `epochs_per_s`: its rows and epochs read from the config, so they follow the files."""

    epochs_per_s: float
    rows: int = field(default_factory=lambda: len(compose_config([f"+exp={PROJECTED_TABLE}"]).exp.rows))
    epochs: int = field(default_factory=lambda: compose_config(["trainer=cifar_fast"]).trainer.epochs)

    @property
    def runs(self) -> int:
        return self.rows * PROJECTED_SEEDS

    @property
    def hours(self) -> float:
        return projected_hours(self.runs, self.epochs, self.epochs_per_s)

    def line(self, where: str) -> str:
        return (
            f"{self.runs} runs (`+exp={PROJECTED_TABLE}`'s {self.rows} rows x {PROJECTED_SEEDS} seeds) of "
            f"{TIMED_MODELS[PROJECTED_MODEL]} under `trainer=cifar_fast`: {self.runs} x {self.epochs} epochs / "
            f"{self.epochs_per_s:.3g} epochs/s = **{self.hours:.1f} h** {where} (each run's start-up and "
            "first-epoch overhead, cuDNN autotuning and first allocations, not included)"
        )


def timing_run(ctx: Context, data: Path, model: str) -> list[str]:
    """`trainer=cifar_fast` as a sweep runs it (its AMP and memory format left to the machine), on
    the GPU loader, for TIMING_EPOCHS whole epochs; its warm-up shortened to fit them (the lr's
    shape does not change the time)."""
    batch = [f"trainer.batch_size={ctx.sizes.timing_batch}"] if ctx.sizes.timing_batch else []
    return [
        f"model={model}",
        "data=cifar10",
        f"data.root={data}",
        "data.loader=gpu",
        "trainer=cifar_fast",
        f"trainer.device={ctx.device}",
        f"trainer.epochs={TIMING_EPOCHS}",
        "trainer.warmup_epochs=1",
        "trainer.progress=false",
        *batch,
    ]


def timing_section(ctx: Context, seconds: dict[str, float], precision: str, batch: int, projection: Projection) -> str:
    """benchmarks.md's section of the timing (the benchmark's layout): each model's CIFAR-10
    epoch, and the projection."""
    per_file, epochs = ctx.sizes.timing_images_per_cifar_file, projection.epochs
    smoke = "" if ctx.on_cuda else " · CPU smoke (tiny epochs: not a throughput figure)"
    lines = [
        f"## {device_name(torch.device(ctx.device))} · trainer=cifar_fast, data.loader=gpu{smoke}",
        "",
        "Command: `python scripts/gpu_check.py --out DIR` (its check `trainer=cifar_fast epochs/s`)  ",
        f"Versions: torch {torch.__version__}, senet-ablate {senet_ablate.__version__}, "
        f"Python {platform.python_version()}  ",
        f"Timing: `python -m senet_ablate` runs of {TIMING_EPOCHS} epochs over {5 * per_file} + {per_file} generated "
        f"CIFAR-shaped images (batch {batch}, {precision}); the median `epoch_time_s` (training, evaluation with "
        "flip TTA; no checkpointing) of the epochs after the first, scaled to CIFAR-10's 50000 + 10000 images",
        "",
        "### trainer=cifar_fast",
        "",
        f"| model | s per CIFAR-10 epoch | epochs/s | one run ({epochs} epochs) |",
        "|---|---:|---:|---:|",
        *[
            f"| {TIMED_MODELS[model]} | {epoch_s:.3g} | {1 / epoch_s:.3g} | {duration(epochs * epoch_s)} |"
            for model, epoch_s in seconds.items()
        ],
        "",
        "### Projections",
        "",
        f"- {projection.line('on one GPU' if ctx.on_cuda else 'on this CPU')}",
    ]
    return "\n".join(lines) + "\n"


def cifar_fast_timing(ctx: Context) -> str:
    """Steady-state CIFAR-10 epochs/s of ResNet-20 and ResNet-110 under `trainer=cifar_fast` (bf16
    and channels_last on a GPU, as the recipe leaves them to the machine), one run after the other
    with the device to themselves; written to <out>/benchmarks.md with the projected hours of a
    10-seed reduction table."""
    per_file = ctx.sizes.timing_images_per_cifar_file
    data = ctx.work / "cifar"
    if per_file != ctx.sizes.images_per_cifar_file:  # the CPU's: fewer images, for ResNet-110 on one core
        data = ctx.work / "cifar-timing"
        write_cifar_batches(data, per_file)
    seconds, precision = {}, ""
    for model in TIMED_MODELS:
        results = ctx.work / f"timing-{model}"
        record, output = completed_run(ctx, results, timing_run(ctx, data, model))
        channels_last = record["config"]["trainer"]["channels_last"]
        expect(channels_last or not ctx.on_cuda, "cifar_fast on CUDA without channels_last", output)
        precision = f"{describe_amp(ctx, results, record, output)}, {'channels_last' if channels_last else 'NCHW'}"
        seconds[model] = cifar_epoch_seconds(record, per_file)
    projection = Projection(1 / seconds[PROJECTED_MODEL])
    batch = record["config"]["trainer"]["batch_size"]
    write_section(ctx.out / "benchmarks.md", timing_section(ctx, seconds, precision, batch, projection))
    rates = ", ".join(f"{TIMED_MODELS[model]} {1 / epoch_s:.3g} epochs/s" for model, epoch_s in seconds.items())
    label, where = ("", "on one GPU") if ctx.on_cuda else ("CPU smoke, tiny epochs: ", "on this CPU")
    return (
        f"{label}{rates} (CIFAR-10 epochs, {precision}); {projection.runs} runs of a 10-seed reduction table: "
        f"{projection.hours:.1f} h {where}"
    )


# --- the CUDA paths ----------------------------------------------------------------------------


def gpu_loader(ctx: Context) -> str:
    results = ctx.work / "gpu-loader"
    record, output = completed_run(ctx, results, cifar_run(ctx, *AMP_ON_GPU_LOADER))
    config = record["config"]
    expect(config["data"]["loader"] == "gpu" and config["trainer"]["channels_last"], "not gpu loader, channels_last")
    return f"{describe_amp(ctx, results, record, output)}, channels_last; top-1 err {record['top1_err']:.1f}%"


def compiled(ctx: Context) -> str:
    if not ctx.sizes.gpu_only:
        raise Skipped("inductor compiles C++ for minutes on a CPU; the CUDA run is the one that matters")
    if "compiler" in ctx.failed_preflight:
        raise Skipped(f"preflight: {ctx.failed_preflight['compiler']}")
    results = ctx.work / "compile"
    record, output = completed_run(ctx, results, cifar_run(ctx, *AMP_ON_GPU_LOADER, "trainer.compile=true"))
    expect("compile on" in output, "the run's log does not say compile on", output)
    return f"{describe_amp(ctx, results, record, output)}, compiled; {record['wall_time_s']:.0f} s of training"


def fp16(ctx: Context) -> str:
    if not ctx.on_cuda:
        raise Skipped("AMP (and so float16 with its GradScaler) is CUDA-only")
    if FP16_KEY not in compose_config([]).trainer:
        raise Skipped(f"no way to force fp16: the config has no trainer.{FP16_KEY} (trainer.amp picks bf16 here)")
    results = ctx.work / "fp16"
    record, output = completed_run(ctx, results, cifar_run(ctx, *AMP_ON_GPU_LOADER, f"trainer.{FP16_KEY}={FP16_VALUE}"))
    scale = checkpoint_of(results, record)["scaler"].get("scale")
    expect(scale is not None, "the checkpoint holds no GradScaler state: fp16 did not run", output)
    return f"AMP float16, GradScaler scale {float(scale):g} at the end; top-1 err {record['top1_err']:.1f}%"


def folder_run(ctx: Context, loader: str) -> list[str]:
    """One epoch of ResNet-20 on the generated JPEGs (two classes), read through `data.loader=loader`."""
    size = ctx.sizes
    return [
        "model=resnet20",
        "data=imagefolder",
        f"data.root={ctx.work / 'jpegs'}",
        "data.num_classes=2",
        f"data.image_size={size.folder_image_size}",
        f"data.loader={loader}",
        f"data.num_workers={size.workers}",
        "trainer=smoke",
        f"trainer.device={ctx.device}",
        "trainer.epochs=1",
        f"trainer.batch_size={min(size.batch, size.folder_images) // 2}",
        "trainer.amp=true",
        "trainer.progress=false",
    ]


def image_folder(ctx: Context) -> str:
    record, _ = completed_run(ctx, ctx.work / "folder", folder_run(ctx, "dataloader"))
    expect(record["config"]["data"]["loader"] == "dataloader", "not data.loader=dataloader")
    how = "copied one batch ahead on a side stream" if ctx.on_cuda else "on the CPU (no copy stream)"
    return f"{ctx.sizes.folder_images} JPEGs per split, DataLoader workers, {how}; {smoke_rate(record)}"


def dali(ctx: Context) -> str:
    if importlib.util.find_spec("nvidia") is None or importlib.util.find_spec("nvidia.dali") is None:
        raise Skipped("nvidia.dali is not importable here (its wheel is too large to carry to the GPU machine)")
    record, _ = completed_run(ctx, ctx.work / "dali", folder_run(ctx, "dali"))
    decoder = "the mixed decoder (nvJPEG on the GPU)" if ctx.on_cuda else "DALI's CPU operators"
    return f"{ctx.sizes.folder_images} JPEGs per split through {decoder}; {smoke_rate(record)}"


LOSSES, ERRORS = ("train_loss", "val_loss"), ("train_top1_err", "top1_err", "top5_err")


def losses_apart(resumed: dict, reference: dict) -> tuple[float, float]:
    """The largest relative difference of the per-epoch losses, and of the errors in points."""
    expect(len(resumed["epochs"]) == len(reference["epochs"]), f"{len(resumed['epochs'])} epochs after the resume")
    pairs = list(zip(resumed["epochs"], reference["epochs"], strict=True))
    loss = max(abs(ours[key] - theirs[key]) / abs(theirs[key]) for ours, theirs in pairs for key in LOSSES)
    error = max(abs(ours[key] - theirs[key]) for ours, theirs in pairs for key in ERRORS if theirs[key] is not None)
    return loss, error


def kill_and_resume(ctx: Context) -> str:
    """SIGKILL in epoch 2 of 3, the same command again, against an uninterrupted run: equal (bit for
    bit on a CPU, within CUDA_LOSS_TOLERANCE on a GPU). The data is learnable and the loss must
    fall, so a resume that lost state shows (tests/test_gpu_check.py drops the optimiser's)."""
    settings = ("data.loader=gpu", "trainer.amp=false")
    overrides = cifar_run(ctx, *settings, steps=ctx.sizes.long_steps, epochs=3)
    results = ctx.work / "killed"
    with train(ctx, ctx.work / "whole", overrides) as uninterrupted:  # meanwhile, the run to compare with
        run = train(ctx, results, cifar_run(ctx, *settings, steps=ctx.sizes.long_steps, epochs=3, progress=True))
        run.wait_for("epoch 2/3  step")  # epoch 1 is checkpointed: kill epoch 2 mid-way
        run.kill()
        run.finish()
        killed = only_record(results, run.text)
        expect(killed["status"] == "running" and len(killed["epochs"]) == 1, f"killed: {killed['status']}", run.text)
        resumed, _ = completed_run(ctx, results, overrides)
        expect(uninterrupted.finish() == 0, "the uninterrupted run did not exit 0", uninterrupted.text)
    reference = only_record(ctx.work / "whole", uninterrupted.text)
    expect_completed(reference, uninterrupted.text)
    first, last = reference["epochs"][0]["train_loss"], reference["epochs"][-1]["train_loss"]
    expect(last < 0.9 * first, f"training loss {first:.3f} -> {last:.3f}: the data did not train, the check is blind")
    loss, error = losses_apart(resumed, reference)
    loss_tolerance, error_tolerance = ctx.sizes.resume_tolerance
    expect(
        loss <= loss_tolerance and error <= error_tolerance,
        f"resumed run: losses {loss:.2g} apart (tolerance {loss_tolerance:g}), errors {error:.2f} points "
        f"(tolerance {error_tolerance:g}) from the uninterrupted run",
    )
    how = "bit for bit" if loss == error == 0 else f"losses within {loss:.2g} relative, errors {error:.2f} points"
    return f"killed in epoch 2 of 3, resumed: {how} (fp32; training loss {first:.2f} -> {last:.2f})"


def sigusr2(ctx: Context) -> str:
    steps = ctx.sizes.long_steps
    overrides = cifar_run(ctx, *AMP_ON_GPU_LOADER, steps=steps, epochs=1)
    results = ctx.work / "sigusr2"
    run = train(ctx, results, cifar_run(ctx, *AMP_ON_GPU_LOADER, steps=steps, epochs=1, progress=True))
    run.wait_for("epoch 1/1  step")  # training, with the stop handlers in place
    run.signal(signal.SIGUSR2)
    status = run.finish()
    expect(status == 5, f"exit status {status} after SIGUSR2, expected 5", run.text)
    record = only_record(results, run.text)
    where = record.get("interrupted_at") or {}
    expect(record["status"] == "interrupted" and where.get("signal") == "SIGUSR2", f"record: {record['status']}")
    expect(where["epoch"] == 1 and 0 < where["step"] < steps, f"stopped at {where}, not mid-epoch", run.text)
    completed_run(ctx, results, overrides)
    return f"exit 5, interrupted at step {where['step']} of {steps}; the same command completed the run"


def out_of_memory(ctx: Context) -> str:
    """ResNet-152 at 224 px and batch 2560 needs several hundred GB of activations under AMP: more
    than any GPU has, so the first forward pass raises a real CUDA out-of-memory error. No single
    tensor reaches 2**31 elements (the stem's output: 2560 x 64 x 112 x 112 = 2.06e9), where a
    kernel could refuse the size before memory runs out; the 2560 images (1.5 GB) fit in host memory."""
    if not ctx.on_cuda:
        raise Skipped("a CUDA out-of-memory error needs CUDA (a CPU would swap or be killed instead)")
    batch = 2560
    overrides = ["model=resnet152", "data=synthetic", "data.image_size=224", f"data.train_size={batch}"]
    overrides += ["data.val_size=8", "trainer=smoke", "trainer.device=cuda", "trainer.amp=true", "trainer.epochs=1"]
    overrides += [f"trainer.batch_size={batch}", "trainer.max_steps_per_epoch=1", "trainer.progress=false"]
    record, output = train_to_end(ctx, ctx.work / "oom", overrides, expected_status=1)
    advice = f"CUDA out of memory at trainer.batch_size={batch}: try trainer.batch_size={batch // 2} "
    expect(record["status"] == "failed", f"record says {record['status']}", output)
    expect((record.get("error") or "").startswith(advice), f"recorded error: {record.get('error')!r}", output)
    return f"recorded as failed: {record['error']}"


def two_ranks(ctx: Context) -> str:
    """2 processes under torchrun on the one device, each with half of every global batch, against one
    process taking the same global batch in 2 accumulation steps: the same optimiser steps, so the
    same training losses (BatchNorm sees the same half batches either way). On generated, learnable
    data, whose loss moves (random CIFAR labels stay at ln 10), and unaugmented (the GPU loader draws
    a crop per global batch, which the accumulating process would draw per half). fp32: parameters
    and gradients are fp32 under AMP too, so DDP's all-reduce is the same either way."""
    steps, batch = ctx.sizes.short_steps, ctx.sizes.batch
    generated = ["model=resnet20", "data=synthetic", f"data.train_size={steps * batch}", f"data.val_size={batch}"]
    generated += ["trainer=smoke", f"trainer.device={ctx.device}", "trainer.epochs=1", "trainer.progress=false"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ranks = [*generated, f"trainer.batch_size={batch}", f"results_dir={ctx.work / 'ddp'}"]
    run = Run([*torchrun, __file__, SHARED_DEVICE_RANK, *ranks], ctx)
    expect(run.finish() == 0, "torchrun did not exit 0", run.text)
    ddp = only_record(ctx.work / "ddp", run.text)
    expect_completed(ddp, run.text)
    expect(ddp["env"]["world_size"] == 2, f"world size {ddp['env']['world_size']}")
    accumulating = [*generated, f"trainer.batch_size={batch // 2}", "trainer.accumulate_steps=2"]
    single, _ = completed_run(ctx, ctx.work / "single", accumulating)
    ours, reference = ddp["epochs"][0]["train_loss"], single["epochs"][0]["train_loss"]
    apart = abs(ours - reference) / reference
    expect(apart <= 1e-3, f"training loss {ours:.5f} with 2 ranks, {reference:.5f} with 1 process (tolerance 1e-3)")
    backend = "gloo with CUDA tensors" if ctx.on_cuda else "gloo"
    return (
        f"2 ranks on one device ({backend}: NCCL refuses two ranks on one GPU), training loss {apart:.1g} "
        "relative from 1 process; untested until 2 GPUs: NCCL, SyncBatchNorm, a device per LOCAL_RANK"
    )


def shared_device_rank(overrides: list[str]) -> None:
    """One of torchrun's ranks when both share one GPU: the real CLI, given the two things a single
    device cannot give: every rank on GPU 0 (LOCAL_RANK 0) and gloo instead of NCCL, which refuses
    two ranks on one device."""
    import torch.distributed

    os.environ["LOCAL_RANK"] = "0"
    join = torch.distributed.init_process_group

    def join_with_gloo(backend=None, *args, **kwargs):
        kwargs.pop("device_id", None)  # binds an NCCL communicator to its GPU; gloo takes none
        return join("gloo", *args, **kwargs)

    torch.distributed.init_process_group = join_with_gloo
    sys.argv = ["senet_ablate", *overrides]
    runpy.run_module("senet_ablate", run_name="__main__", alter_sys=True)


# --- sections ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    run: Callable[[Context], str]
    alone: bool = False  # after the section's other checks, with the device to itself (all its memory)
    limit_s: float = RUN_LIMIT_S  # each run it starts is killed after this (on the GPU; scaled on a CPU)


@dataclass(frozen=True)
class Section:
    """Checks that run together within `budget_s` seconds (on the GPU; scaled on a CPU), `parallel`
    at a time; skipped when preflight found none of what `needs` names (imports, the CLI)."""

    name: str
    budget_s: float
    checks: dict[str, Check]
    parallel: int = 1
    needs: tuple[str, ...] = ("imports", "cli")


SECTIONS = (
    Section(
        "preflight",
        10,
        {
            "imports": Check(imports),
            "python -m senet_ablate --help": Check(cli_help),
            "C compiler and Python.h": Check(compiler),
            "/dev/shm": Check(shared_memory),
        },
        parallel=4,
        needs=(),
    ),
    Section(
        "key figures",
        90,
        {
            "eager benchmark: ours vs timm": Check(lambda ctx: benchmark(ctx, KEY_MODELS, False)),
            "trainer=cifar_fast epochs/s": Check(cifar_fast_timing),
        },
    ),
    Section(
        "CUDA paths",
        130,
        {
            "gpu loader, AMP, channels_last": Check(gpu_loader),
            "kill and resume": Check(kill_and_resume),
            "SIGUSR2 mid-epoch, then resume": Check(sigusr2),
            "2 ranks under torchrun": Check(two_ranks),
            "fp16 with GradScaler": Check(fp16),
            "image folder, data.loader=dataloader": Check(image_folder),
            "data.loader=dali": Check(dali),
            "CUDA out of memory": Check(out_of_memory, alone=True),
        },
        parallel=4,
    ),
    Section(
        "compile",
        220,
        {
            "compiled benchmark: ours vs timm SE-ResNet-50": Check(
                lambda ctx: benchmark(ctx, COMPILED_MODELS, True), limit_s=170
            ),
            "trainer.compile=true": Check(compiled),
        },
    ),
)


def run_check(section: str, name: str, check: Check, ctx: Context) -> Outcome:
    """Run one check; whatever it raises becomes its outcome, so the next check still runs."""
    started = time.monotonic()
    try:
        if started >= ctx.deadline:
            raise Skipped("not started: its section's budget was spent")
        ctx = replace(ctx, run_limit_s=check.limit_s * ctx.scale)
        status, detail, output = "passed", check.run(ctx), ""
    except Skipped as reason:
        status, detail, output = "skipped", str(reason), ""
    except CheckFailed as failure:
        status, detail, output = "failed", str(failure), failure.output[-4000:]
    except Exception as error:
        status, detail, output = "failed", f"{type(error).__name__}: {error}", traceback.format_exc()[-4000:]
    return Outcome(section, name, status, detail, time.monotonic() - started, output)


def run_sections(ctx: Context, report: "Report") -> None:
    for section in SECTIONS:
        run_section(section, ctx, report)


def run_section(section: Section, ctx: Context, report: "Report") -> None:
    """The section's checks, `parallel` at a time, then those that need the device alone; the
    section fails if it took longer than its budget."""
    started = time.monotonic()
    budget = section.budget_s * ctx.scale
    ctx = replace(ctx, deadline=started + budget)
    report.start(section.name)
    blocked = [ctx.failed_preflight[need] for need in section.needs if need in ctx.failed_preflight]
    together = [name for name, check in section.checks.items() if not check.alone]
    alone = [name for name, check in section.checks.items() if check.alone]
    for names, parallel in [(together, section.parallel)] + [([name], 1) for name in alone]:
        if blocked:
            for name in names:
                report.add(Outcome(section.name, name, "skipped", f"preflight: {blocked[0]}", 0))
        else:
            run_together(section, names, parallel, ctx, report)
    report.end(section.name, budget, time.monotonic() - started)


def run_together(section: Section, names: list[str], parallel: int, ctx: Context, report: "Report") -> None:
    """`names`, `parallel` at a time. At the section's deadline every run still going is killed
    (its check fails), and a check still going GRACE_S later is recorded as failed and left behind."""
    todo: queue.Queue[str] = queue.Queue()
    for name in names:
        todo.put(name)

    def worker() -> None:
        while True:
            try:
                name = todo.get_nowait()
            except queue.Empty:
                return
            report.add(run_check(section.name, name, section.checks[name], ctx))

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(min(parallel, len(names)))]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=max(ctx.deadline - time.monotonic(), 0))
    if any(thread.is_alive() for thread in workers):
        with ctx.lock:
            late = list(ctx.runs)
        for run in late:
            run.kill()
        for thread in workers:
            thread.join(timeout=GRACE_S)
        for name in names:  # those that ended keep their outcome
            report.add(Outcome(section.name, name, "failed", "still running at its section's deadline", 0))


class Report:
    """`gpu_check.md`, rewritten (atomically) after every check and section: a machine taken back
    half-way leaves the outcomes of the checks that ended. The first outcome of a check stands."""

    def __init__(self, path: Path, ctx: Context):
        self.path, self.ctx = path, ctx
        self.outcomes: dict[str, Outcome] = {}
        self.sections: dict[str, str] = {section.name: "not run yet" for section in SECTIONS}
        self.over_budget = False
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def start(self, section: str) -> None:
        with self.lock:
            self.sections[section] = "running"
            self._write()

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.setdefault(outcome.name, outcome)
            self._write()
        if self.outcomes[outcome.name] is outcome:
            print(
                f"{outcome.status:>7}  {outcome.name} ({outcome.seconds:.0f} s): {outcome.detail}",
                file=sys.stderr,
                flush=True,
            )

    def end(self, section: str, budget: float, seconds: float) -> None:
        verdict = "within budget" if seconds <= budget else "OVER BUDGET"
        with self.lock:
            self.over_budget |= seconds > budget
            self.sections[section] = f"{seconds:.0f} s of {budget:.0f} s: {verdict}"
            self._write()
        print(f"section {section}: {self.sections[section]}", file=sys.stderr, flush=True)

    @property
    def failed(self) -> bool:
        return self.over_budget or any(outcome.status == "failed" for outcome in self.outcomes.values())

    def _write(self) -> None:
        with atomic_file(self.path) as tmp:
            tmp.write_text(markdown(self.ctx, self.sections, list(self.outcomes.values()), self.started))


def markdown(ctx: Context, sections: dict[str, str], outcomes: list[Outcome], started: float) -> str:
    counts = {status: sum(o.status == status for o in outcomes) for status in ("passed", "failed", "skipped")}
    budgets = "as on the GPU" if ctx.on_cuda else f"the GPU's x {ctx.scale:.1f} (CPU rehearsal: `time_scale`)"
    lines = [
        "# GPU check",
        "",
        f"Written by `scripts/gpu_check.py` on {device_name(torch.device(ctx.device))}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"Python {platform.python_version()}.  ",
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
        f"in {time.monotonic() - started:.0f} s; time budgets {budgets}.",
        "",
        "| section | time |",
        "|---|---|",
        *[f"| {name} | {state} |" for name, state in sections.items()],
        "",
        "| section | check | result | s | detail |",
        "|---|---|---|---:|---|",
    ]
    for outcome in outcomes:
        detail = outcome.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {outcome.section} | {outcome.name} | {outcome.status} | {outcome.seconds:.0f} | {detail} |")
    for outcome in outcomes:
        if outcome.output:
            lines += ["", f"## {outcome.name}: output", "", "```", outcome.output.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def time_scale(sizes: Sizes) -> float:
    """The sizes' scale (1 on the GPU), and on a CPU times the load other work puts on it when the
    check starts (load average per core, at least 1): a rehearsal on a shared CI machine checks the
    structure, not how busy the machine's neighbours are."""
    if sizes.gpu_only:
        return sizes.scale
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return sizes.scale * max(1.0, os.getloadavg()[0] / cores)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.md and benchmarks.md")
    parser.add_argument(
        "--device", choices=("auto", "cuda", "cpu"), default="auto", help="auto (default): cuda where visible"
    )
    args = parser.parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device is visible")
    return args


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == SHARED_DEVICE_RANK:
        return shared_device_rank(sys.argv[2:])
    args = parse_arguments()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="senet-gpu-check-") as scratch:
        sizes = GPU_SIZES if args.device == "cuda" else CPU_SIZES
        ctx = Context(args.device, sizes, Path(scratch), out, scale=time_scale(sizes))
        write_cifar_batches(ctx.work / "cifar", sizes.images_per_cifar_file)
        write_jpeg_folder(ctx.work / "jpegs", sizes.folder_images)
        report = Report(out / "gpu_check.md", ctx)
        run_sections(ctx, report)
    print(f"written to {report.path}", file=sys.stderr)
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
