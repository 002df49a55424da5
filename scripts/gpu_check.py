"""Run every CUDA path of senet-ablate on one GPU in a few minutes, and say which of them work.

A GPU is lent to us now and then, for minutes: this is the script that is ready before it comes.
Each check starts the real training CLI (`python -m senet_ablate ...`) on generated data and
asserts on what it leaves behind (exit status, run record, checkpoint, log):
  gpu loader       CIFAR-shaped batch files, data.loader=gpu, AMP (bf16 where the GPU has it), channels_last
  compile          the same with trainer.compile=true
  fp16             AMP forced to float16, with its GradScaler (needs a config key that forces it)
  image folder     generated JPEGs through data.loader=dataloader (on CUDA: the side-stream prefetch)
  kill and resume  SIGKILL in epoch 2, the same command again: ends as an uninterrupted run
  SIGUSR2          mid-epoch: exit 5, `interrupted` at a step; the same command completes the run
  out of memory    an absurd batch: a real CUDA OOM, recorded as failed with the advice
  two ranks        torchrun, 2 processes on the one device, against 1 process with 2 accumulation steps
  dali             data.loader=dali (on CUDA its `mixed` decoder), when DALI is importable
  benchmark        scripts/benchmark.py at bf16, channels_last, batch 256, 224 px, without and with compile
A check that fails does not stop the others. It writes `<out>/gpu_check.md` (each check passed,
failed with its error, or skipped with the reason; written again after each check) and the
benchmark's section of `<out>/benchmarks.md`, and exits 1 if any check failed. The short runs go
4 at a time; the OOM run and the benchmarks have the device to themselves. Within --budget-s (6
minutes) or not at all: a run still going then is killed and its check failed, later checks skipped.

    python scripts/gpu_check.py                                    # on the GPU: writes results/
    python scripts/gpu_check.py --device cpu --out /tmp/rehearsal  # the CPU rehearsal (tests/test_gpu_check.py)

On a CPU the same functions run on tiny data; what only a GPU can show (AMP, compile, an OOM) is
skipped with the reason, and nothing is written under results/ unless --out says so.
"""

import argparse
import importlib.util
import json
import os
import pickle
import platform
import queue
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from benchmark import device_name, write_jpeg_folder  # scripts/benchmark.py: its JPEGs, its device names

from senet_ablate import compose_config
from senet_ablate.engine.checkpoint import load_checkpoint

BENCHMARK = Path(__file__).with_name("benchmark.py")
SHARED_DEVICE_RANK = "--shared-device-rank"  # how torchrun starts this file as one of two ranks on one GPU
# The config key and value that force float16 AMP. None exists yet (trainer.amp picks bf16 where
# the GPU supports it); the check runs as soon as the key is in the config.
FP16_KEY, FP16_VALUE = "amp_dtype", "float16"
# Kill-and-resume on CUDA: cuDNN's backward convolutions and atomic reductions add in an order that
# varies between processes, and nothing asks torch for deterministic kernels, so two uninterrupted
# runs already differ in the last bits. The run trains in fp32 (differences stay at rounding level,
# where bf16 would amplify them) and its per-epoch losses must agree to this relative difference;
# a resume that trained other batches or other augmentations differs by percents. On a CPU: exact.
CUDA_LOSS_TOLERANCE = 1e-3
CUDA_ERROR_TOLERANCE = 0.5  # top-1 error points: a few near-tie images may flip with the rounding


class Skipped(Exception):
    """This check cannot run here; the message says why."""


@dataclass(frozen=True)
class Sizes:
    """How large each check's data and runs are: CIFAR's own sizes on a GPU, seconds on a CPU."""

    images_per_cifar_file: int  # CIFAR has 5 training batch files and a test batch of this many each
    batch: int
    short_steps: int  # steps per epoch of the short runs
    long_steps: int  # steps per epoch of runs stopped mid-epoch: time for a signal to land
    folder_images: int  # generated JPEGs in train/ and as many in val/
    folder_image_size: int
    workers: int
    benchmark: tuple[str, ...]  # scripts/benchmark.py's sizes and settings
    compile_on_this_device: bool


GPU_SIZES = Sizes(
    images_per_cifar_file=10_000,
    batch=128,
    short_steps=30,
    long_steps=200,
    folder_images=128,
    folder_image_size=224,
    workers=4,
    benchmark=("--batch-size", "256", "--image-size", "224", "--amp", "--channels-last", "--steps", "10")
    + ("--warmup", "3", "--repeats", "3", "--projection-steps", "50"),
    compile_on_this_device=True,
)
CPU_SIZES = Sizes(
    images_per_cifar_file=40,
    batch=8,
    short_steps=3,
    long_steps=25,
    folder_images=8,
    folder_image_size=64,
    workers=1,
    # no --amp: bf16 autocast on a CPU is many times slower, and the trainer uses none there
    benchmark=("--batch-size", "2", "--image-size", "32", "--channels-last", "--steps", "1", "--warmup", "1")
    + ("--repeats", "1")
    + ("--cifar-batch", "8", "--cifar-images", "64", "--folder-images", "4", "--folder-batch", "2")
    + ("--projection-steps", "1", "--workers", "1"),
    # inductor compiles C++ for minutes on a CPU: the CUDA check is the one that matters
    compile_on_this_device=False,
)


@dataclass
class Outcome:
    name: str
    status: str  # passed | failed | skipped
    detail: str
    seconds: float
    output: str = ""  # a failed check's error and the tail of the run's output


@dataclass
class Context:
    """What every check needs: the device, the sizes, a scratch folder, where results go, and the
    time (time.monotonic()) by which everything must have ended."""

    device: str
    sizes: Sizes
    work: Path
    out: Path
    deadline: float

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def on_cuda(self) -> bool:
        return self.device == "cuda"


# --- running the CLI ---------------------------------------------------------------------------


class CheckFailed(AssertionError):
    """A check's assertion, with the output of the run it is about."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


class Run:
    """A started command (a training run, torchrun, the benchmark), in a process group of its own as
    a job step has, whose merged output a thread reads as it comes so that a check can wait for a line."""

    def __init__(self, command: list[str], ctx: Context):
        self.deadline = ctx.deadline
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

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exception) -> None:
        """A check that failed half-way leaves no run behind in the scratch folder it is about to delete."""
        if self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout_s: float) -> None:
        """Return once a line containing `text` has been printed; fail if the run ends or time runs out first."""
        deadline = min(time.monotonic() + timeout_s, self.deadline)
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.signal(signal.SIGKILL)
                raise CheckFailed(f"no line with {text!r} in time: killed", self.text) from None
            if line is None:
                raise CheckFailed(f"the run ended (exit {self.process.wait()}) before printing {text!r}", self.text)
            self.output.append(line)
            if text in line:
                return

    def signal(self, signum: int) -> None:
        """`signum` to the whole process group, as SLURM signals every process of a job step."""
        os.killpg(self.process.pid, signum)

    def finish(self, timeout_s: float) -> int:
        """Wait for the run to end (killed after `timeout_s`, or when the check's budget runs out); its exit status."""
        try:
            status = self.process.wait(timeout=max(min(timeout_s, self.deadline - time.monotonic()), 0.01))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait()
            self._drain()
            raise CheckFailed("still running when its time ran out (see --budget-s): killed", self.text) from None
        self._drain()
        return status

    def _drain(self) -> None:
        while (line := self.lines.get()) is not None:
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)


def train(ctx: Context, results: Path, overrides: list[str]) -> Run:
    """Start `python -m senet_ablate` on `overrides`, writing into `results`."""
    return Run([sys.executable, "-m", "senet_ablate", *overrides, f"results_dir={results}"], ctx)


def train_to_end(ctx: Context, results: Path, overrides: list[str], expected_status: int = 0) -> tuple[dict, str]:
    """Run the CLI to its end, check its exit status; the run's record and the CLI's output."""
    run = train(ctx, results, overrides)
    status = run.finish(timeout_s=600)
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


# --- data --------------------------------------------------------------------------------------


def write_cifar_batches(root: Path, per_file: int) -> None:
    """CIFAR-10's six pickled batch files of random uint8 images under `root` (torchvision's classes
    would refuse them by md5; ours read the pickles)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (per_file, 3 * 32 * 32), dtype=np.uint8),
            b"labels": rng.integers(0, 10, per_file).tolist(),
        }
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


# --- the checks --------------------------------------------------------------------------------


def gpu_loader(ctx: Context) -> str:
    results = ctx.work / "gpu-loader"
    record, output = completed_run(ctx, results, cifar_run(ctx, *AMP_ON_GPU_LOADER))
    config = record["config"]
    expect(config["data"]["loader"] == "gpu" and config["trainer"]["channels_last"], "not gpu loader, channels_last")
    return f"{describe_amp(ctx, results, record, output)}, channels_last; top-1 err {record['top1_err']:.1f}%"


def compiled(ctx: Context) -> str:
    if not ctx.sizes.compile_on_this_device:
        raise Skipped("inductor compiles C++ for minutes on a CPU; the CUDA run is the one that matters")
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
    return f"{ctx.sizes.folder_images} JPEGs per split, DataLoader workers, {how}; {record['images_per_s']:.0f} img/s"


def dali(ctx: Context) -> str:
    if importlib.util.find_spec("nvidia") is None or importlib.util.find_spec("nvidia.dali") is None:
        raise Skipped("nvidia.dali is not importable here (its wheel is too large to carry to the GPU machine)")
    record, _ = completed_run(ctx, ctx.work / "dali", folder_run(ctx, "dali"))
    decoder = "the mixed decoder (nvJPEG on the GPU)" if ctx.on_cuda else "DALI's CPU operators"
    return f"{ctx.sizes.folder_images} JPEGs per split through {decoder}; {record['images_per_s']:.0f} img/s"


LOSSES, ERRORS = ("train_loss", "val_loss"), ("train_top1_err", "top1_err", "top5_err")


def losses_apart(resumed: dict, reference: dict) -> tuple[float, float]:
    """The largest relative difference of the per-epoch losses, and of the errors in points."""
    pairs = list(zip(resumed["epochs"], reference["epochs"], strict=True))
    loss = max(abs(ours[key] - theirs[key]) / abs(theirs[key]) for ours, theirs in pairs for key in LOSSES)
    error = max(abs(ours[key] - theirs[key]) for ours, theirs in pairs for key in ERRORS if theirs[key] is not None)
    return loss, error


def kill_and_resume(ctx: Context) -> str:
    settings = ("data.loader=gpu", "trainer.amp=false")
    overrides = cifar_run(ctx, *settings, steps=ctx.sizes.long_steps)
    results = ctx.work / "killed"
    with train(ctx, ctx.work / "whole", overrides) as uninterrupted:  # meanwhile, the run to compare with
        run = train(ctx, results, cifar_run(ctx, *settings, steps=ctx.sizes.long_steps, progress=True))
        run.wait_for("epoch 2/2  step", timeout_s=600)  # epoch 1 is checkpointed: kill epoch 2 mid-way
        run.signal(signal.SIGKILL)
        run.finish(60)
        killed = only_record(results, run.text)
        expect(killed["status"] == "running" and len(killed["epochs"]) == 1, f"killed: {killed['status']}", run.text)
        resumed, _ = completed_run(ctx, results, overrides)
        expect(uninterrupted.finish(600) == 0, "the uninterrupted run did not exit 0", uninterrupted.text)
    reference = only_record(ctx.work / "whole", uninterrupted.text)
    expect_completed(reference, uninterrupted.text)
    loss, error = losses_apart(resumed, reference)
    if loss == error == 0:
        return f"killed in epoch 2 of 2 ({ctx.sizes.long_steps} steps each), resumed: equal bit for bit, fp32"
    expect(ctx.on_cuda, f"on the CPU a resumed run ends bit for bit equal; losses {loss:.2g} apart")
    expect(
        loss <= CUDA_LOSS_TOLERANCE and error <= CUDA_ERROR_TOLERANCE,
        f"losses {loss:.2g} apart (tolerance {CUDA_LOSS_TOLERANCE:g}), errors {error:.2f} points",
    )
    return (
        f"killed in epoch 2 of 2, resumed: fp32 losses within {loss:.2g} relative, errors within {error:.2f} points "
        f"(tolerance {CUDA_LOSS_TOLERANCE:g}: GPU kernels add in a varying order)"
    )


def sigusr2(ctx: Context) -> str:
    steps = ctx.sizes.long_steps
    overrides = cifar_run(ctx, *AMP_ON_GPU_LOADER, steps=steps, epochs=1)
    results = ctx.work / "sigusr2"
    run = train(ctx, results, cifar_run(ctx, *AMP_ON_GPU_LOADER, steps=steps, epochs=1, progress=True))
    run.wait_for("epoch 1/1  step", timeout_s=600)  # training, with the stop handlers in place
    run.signal(signal.SIGUSR2)
    status = run.finish(600)
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
    expect(run.finish(600) == 0, "torchrun did not exit 0", run.text)
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


def benchmark(ctx: Context, compile_models: bool) -> str:
    if compile_models and not ctx.sizes.compile_on_this_device:
        raise Skipped("compiling seven ResNet-50s takes minutes on a CPU; the same benchmark ran without compile")
    arguments = ["--device", ctx.device, *ctx.sizes.benchmark]
    arguments += ["--compile"] * compile_models + ["--out", str(ctx.out / "benchmarks.md")]
    run = Run([sys.executable, str(BENCHMARK), *arguments], ctx)
    expect(run.finish(600) == 0, "scripts/benchmark.py did not exit 0", run.text)
    expect("SE-ResNet-110" in run.text and "SE overhead" in run.text, "no projection or SE overhead", run.text)
    overhead = next(line for line in run.output if line.startswith("| ours | "))
    return f"section written to {ctx.out / 'benchmarks.md'}; our SE overhead: {overhead.strip()}"


@dataclass(frozen=True)
class Check:
    run: Callable[[Context], str]
    alone: bool = False  # needs the device to itself: all its memory (OOM) or undisturbed timings (benchmark)


CHECKS: dict[str, Check] = {
    "gpu loader, AMP, channels_last": Check(gpu_loader),
    "trainer.compile=true": Check(compiled),
    "fp16 with GradScaler": Check(fp16),
    "image folder, data.loader=dataloader": Check(image_folder),
    "kill and resume": Check(kill_and_resume),
    "SIGUSR2 mid-epoch, then resume": Check(sigusr2),
    "2 ranks under torchrun": Check(two_ranks),
    "data.loader=dali": Check(dali),
    "CUDA out of memory": Check(out_of_memory, alone=True),
    "benchmark": Check(lambda ctx: benchmark(ctx, compile_models=False), alone=True),
    "benchmark, compiled": Check(lambda ctx: benchmark(ctx, compile_models=True), alone=True),
}


# --- the report --------------------------------------------------------------------------------


def run_check(name: str, check: Callable[[Context], str], ctx: Context) -> Outcome:
    """Run one check; whatever it raises becomes its outcome, so the next check still runs."""
    started = time.perf_counter()
    try:
        if ctx.seconds_left() <= 0:
            raise Skipped("not started: the time budget (--budget-s) was spent")
        status, detail, output = "passed", check(ctx), ""
    except Skipped as reason:
        status, detail, output = "skipped", str(reason), ""
    except CheckFailed as failure:
        status, detail, output = "failed", str(failure), failure.output[-4000:]
    except Exception as error:
        status, detail, output = "failed", f"{type(error).__name__}: {error}", traceback.format_exc()[-4000:]
    outcome = Outcome(name, status, detail, time.perf_counter() - started, output)
    print(f"{outcome.status:>7}  {name} ({outcome.seconds:.0f} s): {outcome.detail}", file=sys.stderr, flush=True)
    return outcome


class Report:
    """`gpu_check.md`, written again after every check: a machine taken back half-way leaves the
    outcomes of the checks that ended."""

    def __init__(self, path: Path, ctx: Context, names: list[str]):
        self.path, self.ctx, self.names = path, ctx, names
        self.outcomes: dict[str, Outcome] = {}
        self.started = time.perf_counter()
        self.lock = threading.Lock()

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes[outcome.name] = outcome
            ended = [self.outcomes[name] for name in self.names if name in self.outcomes]
            self.path.write_text(markdown(self.ctx, ended, len(self.names), time.perf_counter() - self.started))

    @property
    def failed(self) -> bool:
        return any(outcome.status == "failed" for outcome in self.outcomes.values())


def run_checks(report: Report, parallel: int) -> None:
    """The short runs `parallel` at a time (each is mostly start-up: imports, config, data), then the
    checks that need the device alone, one after the other."""

    def run(name: str) -> None:
        report.add(run_check(name, CHECKS[name].run, report.ctx))

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(run, [name for name in report.names if not CHECKS[name].alone]))
    for name in report.names:
        if CHECKS[name].alone:
            run(name)


def markdown(ctx: Context, outcomes: list[Outcome], checks: int, seconds: float) -> str:
    counts = {status: sum(o.status == status for o in outcomes) for status in ("passed", "failed", "skipped")}
    lines = [
        "# GPU check",
        "",
        f"Written by `scripts/gpu_check.py` on {device_name(torch.device(ctx.device))}, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"Python {platform.python_version()}.  ",
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped of {checks} checks "
        f"in {seconds:.0f} s.",
        "",
        "| check | result | s | detail |",
        "|---|---|---:|---|",
    ]
    for outcome in outcomes:
        detail = outcome.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {outcome.name} | {outcome.status} | {outcome.seconds:.0f} | {detail} |")
    for outcome in outcomes:
        if outcome.output:
            lines += ["", f"## {outcome.name}: output", "", "```", outcome.output.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument(
        "--out", type=Path, help="folder for gpu_check.md and benchmarks.md (default results/, on cuda only)"
    )
    parser.add_argument("--parallel", type=int, default=4, help="short runs at a time (default 4)")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=360,
        help="wall time for all checks (default 360): runs still going then are killed (failed), later checks skipped",
    )
    parser.add_argument("--only", nargs="+", choices=list(CHECKS), metavar="CHECK", help="run only these checks")
    parser.add_argument(
        "--report", type=Path, help="where this run's report goes (default <out>/gpu_check.md): keep the full one"
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device is visible: the rehearsal is --device cpu --out <folder>")
    if args.out is None and args.device == "cpu":
        parser.error("--device cpu needs --out: a rehearsal never writes into results/")
    args.out = args.out or Path("results")
    return args


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == SHARED_DEVICE_RANK:
        return shared_device_rank(sys.argv[2:])
    args = parse_arguments()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.budget_s
    with tempfile.TemporaryDirectory(prefix="senet-gpu-check-") as scratch:
        sizes = GPU_SIZES if args.device == "cuda" else CPU_SIZES
        ctx = Context(args.device, sizes, Path(scratch), args.out, deadline)
        write_cifar_batches(ctx.work / "cifar", sizes.images_per_cifar_file)
        write_jpeg_folder(ctx.work / "jpegs", sizes.folder_images)
        report = Report(args.report or args.out / "gpu_check.md", ctx, args.only or list(CHECKS))
        run_checks(report, args.parallel)
    print(f"written to {report.path}", file=sys.stderr)
    sys.exit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
