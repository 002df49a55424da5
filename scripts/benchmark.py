"""The one benchmark behind every speed claim: ours against named peers, measured in one process.

It times, each as the median of `--repeats` timed runs after `--warmup` steps:
  1. training steps (images/s, and peak memory on CUDA) of our ResNet-50 and SE-ResNet-50 in
     the torchvision layout against timm's `resnet50` / `seresnet50` and torchvision's
     `resnet50`, all at the same batch, dtype, memory format and compile setting; our
     SE-ResNet-50 also without the fused scale-and-add (`ResidualUnit.fuse_se_scale`);
  2. the SE overhead: our SE-ResNet-50's throughput over our ResNet-50's, beside timm's ratio;
  3. our GPU-resident CIFAR loader (`data.loader=gpu`) against torchvision's DataLoader with the
     same augmentation (RandomCrop(32, padding=4), flip, normalise), each delivering float
     batches on the device, timed over whole epochs (the DataLoader's persistent workers started
     by a warm-up epoch): a pass cut short would leave prefetched batches queued for the next
     pass's timing;
  4. image-folder loading (generated ImageNet-sized JPEGs, 224 px batches on the device): our
     `data.loader=dataloader` (torchvision decode and transforms in DataLoader workers) against
     `data.loader=dali` (NVIDIA DALI: nvJPEG on CUDA, its CPU operators on the CPU) with as many
     DALI threads as DataLoader workers, when DALI is installed;
  5. projections from measured partial epochs of our real training loop: SE-ResNet-110 under
     `trainer=cifar_paper`, and one `trainer=imagenet_ablation` ResNet-50 epoch.

It prints a markdown section and writes it into `--out` (results/benchmarks.md), replacing the
section of the same device and settings and keeping the others, with versions and the command.
The section is written again after each measurement, and a measurement that fails is shown with
its error: one failure does not lose the figures measured before or after it.

Training steps are the trainer's (`engine/trainer.py`'s TrainStep); AMP (`--amp`) autocasts in its dtype
(`autocast_dtype`: bf16 where the GPU computes it natively, else fp16 with a GradScaler; `--amp-dtype`).

    python scripts/benchmark.py                                  # CPU-sized defaults (make bench)
    python scripts/benchmark.py --device cuda --batch-size 256 --image-size 224 --amp --channels-last
"""

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import timm
import torch
import torchvision
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from torchvision.transforms import v2

import senet_ablate
from senet_ablate.base.distributed import DistributedContext
from senet_ablate.config import compose_config
from senet_ablate.config.schema import AMP_DTYPES
from senet_ablate.data.build import GlobalBatchSampler, Loaders, Normalize
from senet_ablate.data.cifar import CifarArrays
from senet_ablate.data.datasets import CIFAR_MEAN_STD
from senet_ablate.data.gpu_cifar import PAD, DeviceCifarTrain, DeviceCifarVal
from senet_ablate.engine.machine import for_device
from senet_ablate.engine.optim import sgd
from senet_ablate.engine.trainer import Trainer, TrainStep, autocast_dtype
from senet_ablate.models.build import build_model
from senet_ablate.models.residual import ResidualUnit

TORCHVISION_LAYOUT = ["model=resnet50", "model.stride_in_1x1=false"]  # stride in the 3x3, as timm and torchvision
MODELS: dict[str, tuple[Callable[[], torch.nn.Module], bool]] = {  # label: (builder, fused SE scale)
    "ours ResNet-50": (lambda: senet_ablate.create_model([*TORCHVISION_LAYOUT, "se.enabled=false"]), True),
    "ours SE-ResNet-50": (lambda: senet_ablate.create_model(TORCHVISION_LAYOUT), True),
    "ours SE-ResNet-50, unfused scale": (lambda: senet_ablate.create_model(TORCHVISION_LAYOUT), False),
    "timm resnet50": (lambda: timm.create_model("resnet50"), True),
    "timm seresnet50": (lambda: timm.create_model("seresnet50"), True),
    "torchvision resnet50": (lambda: torchvision.models.resnet50(), True),
}
CIFAR_TRAIN, CIFAR_VAL, IMAGENET_TRAIN, IMAGENET_VAL = 50_000, 10_000, 1_281_167, 50_000


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TrainingSteps:
    """A fresh model with its optimizer and a fixed batch, warmed up, whose training steps can be
    timed again and again; `peak_gib` is the memory its warm-up steps took above what was already
    allocated (CUDA only)."""

    def __init__(self, build: Callable[[], torch.nn.Module], fused: bool, args, image_size: int):
        self.device, self.fused, self.args = torch.device(args.device), fused, args
        memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device) if self.device.type == "cuda" else 0
        torch.manual_seed(0)
        self.model = build().to(self.device, memory_format=memory_format).train()
        optimizer = sgd(self.model.parameters(), lr=0.01, momentum=0.9)  # the trainer's (fused on CUDA)
        network = torch.compile(self.model) if args.compile else self.model
        self.step = TrainStep(network, optimizer, torch.nn.CrossEntropyLoss(), self.device, args.amp, args.amp_dtype)
        images = torch.randn(args.batch_size, 3, image_size, image_size, device=self.device)
        self.images = images.contiguous(memory_format=memory_format)
        self.labels = torch.randint(1000, (args.batch_size,), device=self.device)
        self.run(args.warmup)
        self.peak_gib = None
        if self.device.type == "cuda":
            self.peak_gib = (torch.cuda.max_memory_allocated(self.device) - before) / 2**30

    def run(self, steps: int) -> None:
        ResidualUnit.fuse_se_scale = self.fused  # read at each forward: set for this model's steps
        try:
            for _ in range(steps):
                self.step(self.images, self.labels)
        finally:
            ResidualUnit.fuse_se_scale = True

    def rate(self) -> float:
        """Images/s of one timed run of `args.steps` steps."""
        synchronize(self.device)
        started = time.perf_counter()
        self.run(self.args.steps)
        synchronize(self.device)
        return self.args.steps * self.args.batch_size / (time.perf_counter() - started)


def model_rows(args) -> dict[str, tuple[float, float | None]]:
    """Median training images/s and peak memory per model. The repeats go round the models in
    turn (model 1, 2, ..., then again), so a machine that slows down or speeds up during the
    benchmark shifts every model alike instead of whichever was measured then."""
    chosen = {label: MODELS[label] for label in args.models}
    runners = {label: TrainingSteps(build, fused, args, args.image_size) for label, (build, fused) in chosen.items()}
    rates: dict[str, list[float]] = {label: [] for label in runners}
    for _ in range(args.repeats):
        for label, runner in runners.items():
            rates[label].append(runner.rate())
    rows = {label: (statistics.median(rates[label]), runner.peak_gib) for label, runner in runners.items()}
    for label, (rate, _) in rows.items():
        print(f"  {label}: {rate:.1f} img/s", file=sys.stderr)
    return rows


def cifar_like(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator)
    return images, torch.randint(10, (count,), generator=generator)


def pass_rate(loader, device: torch.device, to_device: bool) -> float:
    """Images/s of one whole pass over `loader`, each batch made float model input on the device
    (copied there first if `to_device`)."""
    synchronize(device)
    started, images = time.perf_counter(), 0
    for batch, targets in loader:
        if to_device:
            batch, targets = batch.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        images += len(targets)
    synchronize(device)
    return images / (time.perf_counter() - started)


def loader_rows(args) -> dict[str, float]:
    """Median images/s of whole epochs of float batches on the device: ours (held on the device)
    vs torchvision's DataLoader. A warm-up epoch each first (it starts the persistent workers);
    then the timed epochs alternate between the two. Each timed pass runs its epoch to the end:
    abandoned early, the DataLoader's iterator would leave prefetches queued, and the next pass
    would wait for them inside its timing (which understated torchvision's rate)."""
    device = torch.device(args.device)
    images, labels = cifar_like(args.cifar_images)
    normalize = Normalize(CIFAR_MEAN_STD["cifar10"], device)
    sampler = GlobalBatchSampler(len(labels), args.cifar_batch, 0, 1, torch.Generator(device=device))
    ours = DeviceCifarTrain(images.to(device), labels.to(device), sampler, normalize)
    mean, std = CIFAR_MEAN_STD["cifar10"]
    augment = v2.Compose(
        [
            v2.RandomCrop(32, padding=PAD),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )
    workers = args.workers if args.workers is not None else len(os.sched_getaffinity(0))
    theirs = DataLoader(
        CifarArrays(images, labels, augment),
        args.cifar_batch,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    loaders = {
        "ours, data.loader=gpu": (ours, False),
        f"torchvision DataLoader + v2 transforms, {workers} workers": (theirs, True),
    }
    rates: dict[str, list[float]] = {label: [] for label in loaders}
    for repeat in range(args.repeats + 1):
        for label, (loader, to_device) in loaders.items():
            rate = pass_rate(loader, device, to_device)
            if repeat:  # the first pass of each is the warm-up
                rates[label].append(rate)
    medians = {label: statistics.median(values) for label, values in rates.items()}
    for label, rate in medians.items():
        print(f"  {label}: {rate:.0f} img/s", file=sys.stderr)
    return medians


def write_jpeg_folder(root: Path, count: int) -> None:
    """`count` 500x375 JPEGs (ImageNet's most common size) in two classes, val a copy of train:
    smooth gradients with noise, so they compress and decode like photographs, not like flat colour."""
    from PIL import Image

    generator = np.random.default_rng(0)
    y, x = np.mgrid[0:375, 0:500]
    for index in range(count):
        phase = generator.uniform(0, 255, 3)
        gradient = np.stack([(x * 0.4 + phase[0]), (y * 0.5 + phase[1]), ((x + y) * 0.2 + phase[2])], -1) % 256
        pixels = np.clip(gradient + generator.normal(0, 12, gradient.shape), 0, 255).astype(np.uint8)
        for split in ("train", "val"):
            folder = root / split / ("a" if index % 2 else "b")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / f"{index}.jpg", quality=90)


def epoch_rate(loaders: Loaders, seed: int, device: torch.device) -> float:
    """Steady-state images/s of one whole training epoch of `loaders`, shuffled by `seed`: timed from
    its first batch's arrival to its end. The wait for the first batch (workers or DALI starting
    the epoch) is paid once per epoch: a real epoch of thousands of batches hides it, a benchmark's
    epoch of a few batches would be mostly it."""
    loaders.set_epoch(seed)
    batches = iter(loaders.train)
    next(batches)
    synchronize(device)
    started = time.perf_counter()
    images = sum(len(labels) for _, labels in batches)
    synchronize(device)
    if not images:
        raise ValueError("an epoch of one batch has no steady state: pass more --folder-images per --folder-batch")
    return images / (time.perf_counter() - started)


def folder_loader_rows(args) -> dict[str, float | str]:
    """Median steady-state images/s (`epoch_rate`) of 224 px float training batches on the device
    from an image folder: our DataLoader path against DALI, at the same batch and worker count; one warm-up epoch each
    (worker start-up, DALI's first allocations), then the timed epochs alternate between the two.
    A loader that cannot be built or fails its warm-up (DALI not installed, or failing) gives the
    reason instead of a rate, and the other is still measured."""
    import tempfile

    from senet_ablate.data.build import build_loaders

    device = torch.device(args.device)
    workers = args.workers if args.workers is not None else len(os.sched_getaffinity(0))
    loaders: dict[str, Loaders | str] = {}
    with tempfile.TemporaryDirectory() as root:
        write_jpeg_folder(Path(root), args.folder_images)
        for kind in ("dataloader", "dali"):
            label = f"data.loader={kind}, {workers} {'workers' if kind == 'dataloader' else 'threads'}"
            cfg = compose_config(
                ["data=imagefolder", f"data.root={root}", "data.num_classes=2", f"data.loader={kind}"]
                + [f"data.num_workers={workers}", f"trainer.batch_size={args.folder_batch}"]
            )
            try:
                loaders[label] = build_loaders(cfg, DistributedContext(0, 1), device)
                epoch_rate(loaders[label], 0, device)
            except Exception as error:  # ConfigError: DALI not installed; DaliFailure: DALI failing
                traceback.print_exc()
                loaders[label] = f"failed: {first_line(error)}"
        rates = {label: [] for label, built in loaders.items() if not isinstance(built, str)}
        for seed in range(1, args.repeats + 1):
            for label in rates:
                rates[label].append(epoch_rate(loaders[label], seed, device))
    results = {label: statistics.median(rates[label]) if label in rates else loaders[label] for label in loaders}
    for label, rate in results.items():
        print(f"  {label}: {rate if isinstance(rate, str) else f'{rate:.0f} img/s'}", file=sys.stderr)
    return results


def first_line(error: BaseException) -> str:
    """`error`'s type and the first line of its message, for a table cell or a one-line note."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def cifar_projection(args) -> tuple[str, float]:
    """Hours of `trainer=cifar_paper` SE-ResNet-110, from partial epochs of our real training loop
    (GPU-resident loader, the preset's batch, AMP and memory format) on generated CIFAR-sized data."""
    device = torch.device(args.device)
    cfg = cifar_projection_config(args)
    train_images, train_labels = cifar_like(CIFAR_TRAIN)
    val_images, val_labels = cifar_like(args.projection_steps * cfg.trainer.batch_size)
    normalize = Normalize(CIFAR_MEAN_STD["cifar10"], device)
    dist = DistributedContext(0, 1)
    sampler = GlobalBatchSampler(CIFAR_TRAIN, cfg.trainer.batch_size, 0, 1, torch.Generator(device=device))
    loaders = Loaders(
        DeviceCifarTrain(train_images.to(device), train_labels.to(device), sampler, normalize),
        DeviceCifarVal(val_images.to(device), val_labels.to(device), cfg.trainer.batch_size, normalize),
        sampler,
        CIFAR_TRAIN,
        len(val_labels),
        "gpu",
    )
    trainer = Trainer(cfg, build_model(cfg), loaders, device, dist, Path(os.devnull))
    trainer.train_one_epoch(0)  # warm-up
    train_rates, eval_rates = [], []
    for repeat in range(args.repeats):
        loaders.set_epoch(repeat + 1)
        train_rates.append(trainer.train_one_epoch(0)["images_per_s"])
        synchronize(device)
        started = time.perf_counter()
        trainer.evaluate()
        synchronize(device)
        eval_rates.append(len(val_labels) / (time.perf_counter() - started))
    train_rate, eval_rate = statistics.median(train_rates), statistics.median(eval_rates)
    epoch_s = CIFAR_TRAIN / train_rate + CIFAR_VAL / eval_rate
    line = (
        f"SE-ResNet-110, `trainer=cifar_paper` ({cfg.trainer.epochs} epochs of {CIFAR_TRAIN} + {CIFAR_VAL} images, "
        f"batch {cfg.trainer.batch_size}): {train_rate:.0f} img/s training, {eval_rate:.0f} img/s evaluating "
        f"(medians of {args.repeats} runs of {args.projection_steps} steps of our training loop) -> "
        f"{epoch_s:.1f} s per epoch, **{duration(epoch_s * cfg.trainer.epochs)}** in all"
    )
    return line, epoch_s * cfg.trainer.epochs


def cifar_projection_config(args) -> DictConfig:
    """The run the CIFAR projection measures, on `args.device`, compiled with `--compile` as every
    other measurement of the section."""
    device_type = torch.device(args.device).type
    cfg = compose_config(
        ["model=resnet110", "data=cifar10", "trainer=cifar_paper", f"trainer.device={device_type}"]
        + [f"trainer.max_steps_per_epoch={args.projection_steps}", "trainer.progress=false"]
        + [f"trainer.compile={bool(args.compile)}"]
    )
    return for_device(cfg, device_type)  # the memory format a run on this device uses


def imagenet_projection(args) -> str:
    """One `trainer=imagenet_ablation` ResNet-50 epoch from the measured step rate of the ResNet-50
    it trains (the paper's layout: stride in the first 1x1) at 224 px."""
    image_size = 224
    resnet50 = TrainingSteps(
        lambda: senet_ablate.create_model(["model=resnet50", "se.enabled=false"]), True, args, image_size
    )
    train_rate = statistics.median(resnet50.rate() for _ in range(args.repeats))
    batch = compose_config(["trainer=imagenet_ablation"]).trainer.batch_size
    epoch_s = IMAGENET_TRAIN / train_rate
    return (
        f"ResNet-50, one `trainer=imagenet_ablation` epoch ({IMAGENET_TRAIN} images, preset batch {batch}): "
        f"{train_rate:.1f} img/s training at batch {args.batch_size}, {image_size} px (model steps on "
        f"device-resident data: loading and the {IMAGENET_VAL} validation images not included) -> "
        f"**{duration(epoch_s)}** per epoch"
    )


def duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 86400 * 2 else f"{seconds / 86400:.1f} days"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU ({platform.machine()}, {cores} cores, {torch.get_num_threads()} threads)"


def settings(args) -> str:
    dtype = autocast_dtype(args.amp, torch.device(args.device), args.amp_dtype)
    precision = {torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast + GradScaler"}.get(dtype, "fp32")
    layout = "channels_last" if args.channels_last else "NCHW"
    compiled = "on" if args.compile else "off"
    chosen = "" if args.models == list(MODELS) else f", {len(args.models)} models"  # a section of its own
    return f"batch {args.batch_size}, {args.image_size} px, {precision}, {layout}, compile {compiled}{chosen}"


class Failed(str):
    """A measurement that raised: its error, shown in the section in place of its figures."""


def model_lines(models: dict[str, tuple[float, float | None]], peak: bool) -> list[str]:
    lines = [
        "| model | images/s | vs timm seresnet50 |" + (" peak memory (GiB) |" if peak else ""),
        "|---|---:|---:|" + ("---:|" if peak else ""),
    ]
    peer = models.get("timm seresnet50", (None,))[0]
    for label, (rate, memory) in models.items():
        versus = f"{rate / peer:.2f}x" if peer else ""
        lines.append(f"| {label} | {rate:.1f} | {versus} |" + (f" {memory:.2f} |" if peak else ""))
    pairs = {"ours": ("ours SE-ResNet-50", "ours ResNet-50"), "timm": ("timm seresnet50", "timm resnet50")}
    ratios = {who: models[se][0] / models[plain][0] for who, (se, plain) in pairs.items() if {se, plain} <= set(models)}
    if ratios:  # --models may leave a pair out (scripts/gpu_check.py compiles the SE models only)
        lines += [
            "",
            "### SE overhead (SE-ResNet-50 throughput / ResNet-50 throughput, same code base)",
            "",
            "| | SE / plain | overhead |",
            "|---|---:|---:|",
            *[f"| {who} | {ratio:.3f} | {100 * (1 - ratio):.1f}% |" for who, ratio in ratios.items()],
        ]
    if "ours SE-ResNet-50, unfused scale" in models:
        fused_gain = models["ours SE-ResNet-50"][0] / models["ours SE-ResNet-50, unfused scale"][0]
        lines += ["", f"Fused scale-and-add (torch.addcmul) vs unfused, our SE-ResNet-50: {fused_gain:.3f}x."]
    return lines


def cifar_loader_lines(loaders: dict[str, float]) -> list[str]:
    lines = ["| loader | images/s | vs torchvision |", "|---|---:|---:|"]
    torchvision_rate = list(loaders.values())[1]
    return lines + [f"| {label} | {rate:.0f} | {rate / torchvision_rate:.1f}x |" for label, rate in loaders.items()]


def folder_loader_lines(folder_loaders: dict[str, float | str]) -> list[str]:
    """A loader that could not be measured (DALI not installed, or failing) shows why."""
    lines = ["| loader | images/s | vs data.loader=dataloader |", "|---|---:|---:|"]
    dataloader_rate = list(folder_loaders.values())[0]
    for label, rate in folder_loaders.items():
        if isinstance(rate, str):
            lines.append(f"| {label} | {rate} | |")
        elif isinstance(dataloader_rate, str):
            lines.append(f"| {label} | {rate:.0f} | |")
        else:
            lines.append(f"| {label} | {rate:.0f} | {rate / dataloader_rate:.2f}x |")
    return lines


def section(args, results: dict[str, object]) -> str:
    """The markdown section of what `results` holds so far (see MEASUREMENTS): each part's
    figures, its error if it failed, or "not measured yet"."""
    device = torch.device(args.device)
    lines = [
        f"## {device_name(device)} · {settings(args)}",
        "",
        f"Command: `{' '.join(shlex.quote(part) for part in ['python', *sys.argv])}`  ",
        f"Versions: torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}, "
        f"senet-ablate {senet_ablate.__version__}, Python {platform.python_version()}  ",
        f"Timing: median of {args.repeats} runs of {args.steps} steps after {args.warmup} warm-up steps "
        "(training steps: the runs go round the models in turn)",
    ]
    parts = {
        "models": ("### Training step", lambda models: model_lines(models, device.type == "cuda")),
        "cifar_loaders": (
            f"### CIFAR loading (whole epochs of {args.cifar_images} images in batches of {args.cifar_batch}, float "
            f"batches on the device; median of {args.repeats} epochs after a warm-up epoch)",
            cifar_loader_lines,
        ),
        "folder_loaders": (
            f"### Image-folder loading ({args.folder_images} generated 500x375 JPEGs, batches of "
            f"{args.folder_batch}, 224 px float training batches on the device)",
            folder_loader_lines,
        ),
        "projections": ("### Projections", lambda projections: [f"- {line}" for line in projections]),
    }
    for name, (heading, render) in [(name, parts[name]) for name in args.parts]:
        lines += ["", heading, ""]
        result = results.get(name)
        if result is None:
            lines.append("Not measured yet.")
        elif isinstance(result, Failed):
            lines.append(f"Failed: `{result}`")
        else:
            lines += render(result)
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    """Replace the section with the same heading in `path`, keeping the others (other devices/settings)."""
    heading = text.splitlines()[0]
    header = (
        "# Benchmarks\n\nWritten by `scripts/benchmark.py` (`make bench`), one section per device and settings, and "
        "by `scripts/fast_cifar_evidence.py` (the fast CIFAR recipe's accuracy per epoch).\n"
    )
    sections = []
    if path.exists():
        body = path.read_text().split("\n## ")[1:]
        sections = ["## " + part.strip("\n") + "\n" for part in body if ("## " + part).splitlines()[0] != heading]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *sections, text]))


def projections(args) -> list[str]:
    cifar_line, _ = cifar_projection(args)
    return [cifar_line, imagenet_projection(args)]


# What main measures, in order: the section's part each fills, and the function measuring it.
MEASUREMENTS = {
    "models": model_rows,
    "cifar_loaders": loader_rows,
    "folder_loaders": folder_loader_rows,
    "projections": projections,
}


def measure_all(args) -> str:
    """Every measurement in turn, the section written after each; one that raises is recorded as
    Failed (its traceback on stderr) and the others still run."""
    results: dict[str, object] = {}
    for name, measure in [(name, MEASUREMENTS[name]) for name in args.parts]:
        try:
            results[name] = measure(args)
        except Exception as error:  # any failure: keep the other figures
            traceback.print_exc()
            results[name] = Failed(first_line(error))
        write_section(args.out, section(args, results))
    return section(args, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=8, help="training-step batch (ResNet-50s)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3, help="steps per timed run")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument("--amp", action="store_true", help="autocast in the trainer's dtype (bf16 where native)")
    parser.add_argument("--amp-dtype", choices=AMP_DTYPES, default="auto", help="as trainer.amp_dtype")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile every model")
    parser.add_argument("--cifar-batch", type=int, default=128)
    parser.add_argument("--cifar-images", type=int, default=CIFAR_TRAIN, help="images per timed CIFAR loader epoch")
    parser.add_argument("--workers", type=int, default=None, help="torchvision DataLoader workers (default: all CPUs)")
    parser.add_argument(
        "--folder-images", type=int, default=512, help="JPEGs generated for the image-folder loaders (an epoch)"
    )
    parser.add_argument("--folder-batch", type=int, default=32, help="image-folder loaders' batch")
    parser.add_argument("--projection-steps", type=int, default=3, help="steps per measured partial CIFAR epoch")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks.md"))
    parser.add_argument(
        "--parts", nargs="+", choices=list(MEASUREMENTS), default=list(MEASUREMENTS), help="measure only these"
    )
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=list(MODELS), help="time only these models"
    )
    args = parser.parse_args()

    print(f"{device_name(torch.device(args.device))}: {settings(args)}", file=sys.stderr)
    print(measure_all(args))
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
