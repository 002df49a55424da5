"""Image folders decoded, cut, resized and normalised by NVIDIA DALI (`data.loader=dali`).

On ImageNet the DataLoader path needs a CPU core for every ~150 images a second (`make bench`
here: 286 img/s from 2 workers on 500x375 JPEGs), most of it decoding; a GPU trains ResNet-50
far faster than that, so DALI decodes on the GPU (nvJPEG, its `mixed` decoder) and resizes there.

Python decides, DALI computes. The order (the run's GlobalBatchSampler, so a resumed run starts
at the right batch and every rank takes its slice of the global batch), each training image's
crop window and flip (torchvision's RandomResizedCrop and RandomHorizontalFlip, drawn from the
same per-image seed as the DataLoader path's SeededPerImage) and the evaluation resize and centre
crop (torchvision's Resize + CenterCrop arithmetic) are computed here from each file's header.
DALI then decodes only the window, resizes it, flips and normalises. Both loaders therefore cut
the same windows; only the decoder's and resampler's pixel arithmetic differ, which is why the
loader is part of a run's id. On the CPU device the same pipeline runs on DALI's CPU operators
(for tests). RandAugment (PIL) and skipping unreadable images are left to the DataLoader path.
"""

import io
import math
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from senet_ablate.base.errors import ConfigError
from senet_ablate.data.facts import IMAGENET_MEAN_STD
from senet_ablate.data.imagefolder import Augmentation, CheckedImages, CorruptImage
from senet_ablate.data.seeds import mix_seed

INSTALL = "pip install 'senet-ablate[dali]' (NVIDIA DALI for CUDA 13), or use data.loader=dataloader"
INTERPOLATION = {"bilinear": "INTERP_LINEAR", "bicubic": "INTERP_CUBIC"}
PAIRS = ("anchor", "shape", "resize", "crop")  # the Plan's (x, y) inputs, fed as float pairs


def import_dali():
    """The `nvidia.dali` module, or a one-line ConfigError saying how to install it."""
    try:
        import nvidia.dali as dali
        import nvidia.dali.plugin.pytorch  # noqa: F401 (feed_ndarray, used by DaliBatches)
    except ImportError:
        raise ConfigError("data.loader", "dali", f"NVIDIA DALI is not installed: {INSTALL}") from None
    return dali


@dataclass
class Plan:
    """What DALI does to one batch: per image its encoded file, the window of the original to
    decode ((left, top), (width, height)), the size to resize that window to, the square to keep
    of the result (its (left, top)) and whether to mirror it."""

    encoded: list[np.ndarray]
    anchor: list[np.ndarray]
    shape: list[np.ndarray]
    resize: list[np.ndarray]
    crop: list[np.ndarray]
    flip: list[np.ndarray]
    labels: Tensor
    paths: list[str]  # named if DALI fails on the batch

    def feed(self, pipe) -> None:
        for name in ("encoded", *PAIRS, "flip"):
            pipe.feed_input(name, getattr(self, name))


def _pair(first: int, second: int) -> np.ndarray:
    return np.array([first, second], dtype=np.float32)


SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)  # RandomResizedCrop's defaults, which the DataLoader path uses
LOG_RATIO = torch.log(torch.tensor(RATIO))


def train_cut(seed: int, width: int, height: int, generator: torch.Generator) -> tuple[tuple[int, ...], bool]:
    """(left, top, width, height) of the training window and the flip of the image seeded `seed`.

    torchvision's RandomResizedCrop.get_params followed by RandomHorizontalFlip's draw, line for
    line, but from `generator` instead of torch's global one: the plans are made on a thread of
    their own, and reseeding the process-wide generator there would disturb the trainer's draws.
    Seeded alike, the draws are those of the DataLoader path (tests/test_dali.py checks both
    against v2.RandomResizedCrop + v2.RandomHorizontalFlip)."""
    generator.manual_seed(seed)
    area = height * width
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(*SCALE, generator=generator).item()
        aspect_ratio = torch.exp(torch.empty(1).uniform_(LOG_RATIO[0], LOG_RATIO[1], generator=generator)).item()
        crop_width = int(round(math.sqrt(target_area * aspect_ratio)))
        crop_height = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < crop_width <= width and 0 < crop_height <= height:
            top = torch.randint(0, height - crop_height + 1, size=(1,), generator=generator).item()
            left = torch.randint(0, width - crop_width + 1, size=(1,), generator=generator).item()
            break
    else:  # ten misses: the largest centred window within the ratio range
        if width / height < min(RATIO):
            crop_width, crop_height = width, int(round(width / min(RATIO)))
        elif width / height > max(RATIO):
            crop_width, crop_height = int(round(height * max(RATIO))), height
        else:
            crop_width, crop_height = width, height
        top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return (left, top, crop_width, crop_height), bool(torch.rand(1, generator=generator) < 0.5)


def eval_cut(width: int, height: int, size: int, crop_pct: float) -> tuple[tuple[int, int], tuple[int, int]]:
    """(width, height) after torchvision's Resize(round(size / crop_pct)), which sets the shorter
    side and truncates the longer, and the (left, top) of CenterCrop(size) in the result."""
    short = round(size / crop_pct)
    if width <= height:
        new_width, new_height = short, int(short * height / width)
    else:
        new_width, new_height = int(short * width / height), short
    return (new_width, new_height), (int(round((new_width - size) / 2.0)), int(round((new_height - size) / 2.0)))


def read_image(path: str) -> tuple[np.ndarray, tuple[int, int]]:
    """The file's bytes and the (width, height) its header declares (nothing is decoded here)."""
    encoded = np.fromfile(path, dtype=np.uint8)
    try:
        with Image.open(io.BytesIO(encoded.tobytes())) as image:
            return encoded, image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptImage(f"unreadable image {path} ({error}): data.loader=dataloader can skip such images") from error


class Planner:
    """Turns lists of sample indices into Plans: files read by a thread pool (I/O releases the
    GIL), windows and flips drawn from a generator of its own."""

    def __init__(self, samples: list[tuple[str, int]], augmentation: Augmentation, threads: int):
        self.samples, self.augmentation = samples, augmentation
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="dali-read")
        self.generator = torch.Generator()  # the windows' and flips' (see train_cut)

    def _read(self, indices: list[int]) -> tuple[list, list, dict]:
        """Encoded files, their (width, height), and the Plan's labels and paths."""
        paths = [self.samples[index][0] for index in indices]
        files = list(self.pool.map(read_image, paths))
        labels = torch.tensor([self.samples[index][1] for index in indices])
        return [encoded for encoded, _ in files], [size for _, size in files], dict(labels=labels, paths=paths)

    def train(self, epoch_seed: int, indices: list[int]) -> Plan:
        encoded, sizes, batch = self._read(indices)
        side = self.augmentation.train_image_size or self.augmentation.image_size
        cuts = [
            train_cut(mix_seed(epoch_seed, index), *size, self.generator)
            for index, size in zip(indices, sizes, strict=True)
        ]
        return Plan(
            encoded,
            anchor=[_pair(left, top) for (left, top, _, _), _ in cuts],
            shape=[_pair(width, height) for (_, _, width, height), _ in cuts],
            resize=[_pair(side, side)] * len(cuts),
            crop=[_pair(0, 0)] * len(cuts),
            flip=[np.array(flip, dtype=np.int32) for _, flip in cuts],
            **batch,
        )

    def eval(self, indices: list[int]) -> Plan:
        encoded, sizes, batch = self._read(indices)
        size, crop_pct = self.augmentation.image_size, self.augmentation.eval_crop_pct or 224 / 256
        cuts = [eval_cut(width, height, size, crop_pct) for width, height in sizes]
        return Plan(
            encoded,
            anchor=[_pair(0, 0)] * len(sizes),
            shape=[_pair(width, height) for width, height in sizes],
            resize=[_pair(*resized) for resized, _ in cuts],
            crop=[_pair(*corner) for _, corner in cuts],
            flip=[np.array(0, dtype=np.int32)] * len(sizes),
            **batch,
        )


def build_pipeline(dali, batch: int, threads: int, device_id: int | None, side: int, interpolation: str):
    """decode the window -> resize -> keep a side x side square -> mirror, normalise, CHW float.

    Every geometric value comes from the Plan fed in, so the graph is the same for training and
    evaluation. With a `device_id` the decoder is `mixed` (nvJPEG on the GPU) and the rest runs on
    the GPU; without, everything runs on DALI's CPU operators."""
    fn, types = dali.fn, dali.types
    mean, std = ([255 * value for value in values] for values in IMAGENET_MEAN_STD)

    # The dynamic executor (named, not left to the version's default): the only one that binds
    # outputs to a CUDA stream, which DaliBatches asks for (share_outputs(cuda_stream=...)), and
    # whose outputs stay valid after release_outputs, freed in that stream's order.
    @dali.pipeline_def(
        batch_size=batch, num_threads=threads, device_id=device_id, prefetch_queue_depth=1, exec_dynamic=True
    )
    def pipeline():
        encoded = fn.external_source(name="encoded", dtype=types.UINT8)
        anchor, shape, resize, crop = (fn.external_source(name=name, dtype=types.FLOAT) for name in PAIRS)
        flip = fn.external_source(name="flip", dtype=types.INT32)
        pixels = dict(axis_names="WH", normalized_anchor=False, normalized_shape=False)  # (x, y) pairs, in pixels
        decoder = "mixed" if device_id is not None else "cpu"
        # adjust_orientation=False: PIL (the DataLoader path, and the header sizes here) ignores EXIF rotation
        window = fn.decoders.image_slice(
            encoded, anchor, shape, device=decoder, output_type=types.RGB, adjust_orientation=False, **pixels
        )
        interp = getattr(types, INTERPOLATION[interpolation])
        resized = fn.resize(window, resize_x=resize[0], resize_y=resize[1], interp_type=interp, antialias=True)
        square = fn.slice(resized, crop, _pair(side, side), **pixels)
        return fn.crop_mirror_normalize(square, mirror=flip, mean=mean, std=std, dtype=types.FLOAT, output_layout="CHW")

    pipe = pipeline()
    pipe.build()
    return pipe


class DaliFailure(RuntimeError):
    """DALI could not make a batch for a reason it does not pin on one file (a CUDA error, an
    operator's failure): not the images' fault, so not a CorruptImage."""


def dali_failure(paths: list[str], error: Exception) -> RuntimeError:
    """The error to raise for a batch DALI could not make: CorruptImage naming the file if DALI
    names one by its place in the batch ("Failed to decode sample #2"), else a DaliFailure with
    DALI's failing operator and the first line of its message."""
    text = str(error)
    sample = re.search(r"sample #(\d+)", text)
    if sample and int(sample[1]) < len(paths):
        return CorruptImage(
            f"unreadable image {paths[int(sample[1])]} (DALI could not decode it): use data.loader=dataloader"
        )
    operator = re.search(r"operator `([^`]+)`", text)
    files = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return DaliFailure(
        f"DALI failed in {operator[1] if operator else 'its pipeline'} on the batch of {files}: {first_line}"
    )


def planned_ahead(plans: Iterator[Plan], thread: ThreadPoolExecutor) -> Iterator[Plan]:
    """`plans`, each computed on `thread` while the one before it is used."""
    upcoming = thread.submit(next, plans, None)
    try:
        while (plan := upcoming.result()) is not None:
            upcoming = thread.submit(next, plans, None)
            yield plan
    finally:
        upcoming.exception()  # left early: wait for the plan under way (its error no longer matters)


def pinned(plans: Iterator[Plan]) -> Iterator[Plan]:
    """`plans` with their labels in pinned memory, from which a copy to the GPU does not block."""
    for plan in plans:
        plan.labels = plan.labels.pin_memory()
        yield plan


class DaliBatches:
    """One split's batches on the device: the next Plan is fed to DALI before the current batch is
    handed over, so DALI decodes batch k+1 while the model trains on batch k, and the Plan after it
    is made on a thread of its own, off the thread that drives the model (measured on the CPU
    loader alone, 2 cores: ~5% more images/s; more where that thread is busy launching kernels).

    `plans` is called at the start of each pass and yields that pass's Plans. DALI's output
    buffer is bound to the training stream (`stream`; None on the CPU: synchronised with the host)
    and copied into a tensor of ours on it, after the kernels already queued there and before the
    next step's: no host sync, and no other stream to order against. It is released at once, so
    DALI can write the next batch while the model still reads this one (the dynamic executor frees
    the old buffer in the stream's order, after the copy). Labels are pinned on the planning
    thread, so their copy to the GPU is asynchronous too. A pass left early
    (preemption, a partial epoch) collects the batch still in the pipeline, so the next pass does
    not receive it."""

    def __init__(self, pipe, plans: Callable[[], Iterator[Plan]], steps: int, device: torch.device):
        self.pipe, self.plans, self.steps, self.device = pipe, plans, steps, device
        self.stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
        self.planner = ThreadPoolExecutor(1, thread_name_prefix="dali-plan")

    def __len__(self) -> int:
        return self.steps

    def _take_output(self) -> Tensor:
        """The scheduled batch's images, copied out of DALI's buffer, which is then released."""
        from nvidia.dali.plugin.pytorch import feed_ndarray

        (images,) = self.pipe.share_outputs(cuda_stream=self.stream)
        images = images.as_tensor()
        out = torch.empty(images.shape(), dtype=torch.float32, device=self.device)
        feed_ndarray(images, out, cuda_stream=self.stream)
        self.pipe.release_outputs()
        return out

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        plans = planned_ahead(pinned(self.plans()) if self.device.type == "cuda" else self.plans(), self.planner)

        def schedule() -> Plan | None:
            """Feed and start the next Plan; None at the end of the pass."""
            plan = next(plans, None)
            if plan is not None:
                plan.feed(self.pipe)
                self.pipe.schedule_run()
            return plan

        plan = schedule()
        try:
            while plan is not None:
                try:
                    images = self._take_output()
                except RuntimeError as error:  # the pipeline is now unusable
                    paths, plan = plan.paths, None
                    raise dali_failure(paths, error) from error
                batch, plan = (images, plan.labels.to(self.device, non_blocking=True)), None
                plan = schedule()
                yield batch
        finally:
            plans.close()
            if plan is not None:  # left early: collect the batch DALI is making
                self.pipe.share_outputs()
                self.pipe.release_outputs()


def dali_loaders(
    train_set: CheckedImages,
    val_set: CheckedImages,
    augmentation: Augmentation,
    sampler,
    val_shard: slice,
    val_batch: int,
    threads: int,
    device: torch.device,
) -> tuple[DaliBatches, DaliBatches]:
    """Training batches in `sampler`'s order and the validation shard's batches, made by DALI."""
    dali = import_dali()
    threads = max(1, threads)  # data.num_workers=0 still needs one DALI and one reading thread
    device_id = None  # DALI's CPU operators
    if device.type == "cuda":
        device_id = device.index if device.index is not None else torch.cuda.current_device()
    side = augmentation.train_image_size or augmentation.image_size

    def pipe(batch: int, square: int):
        return build_pipeline(dali, batch, threads, device_id, square, augmentation.interpolation)

    train_planner = Planner(train_set.samples, augmentation, threads)

    def train_plans() -> Iterator[Plan]:
        for _, batch in sampler.global_batches():
            yield train_planner.train(sampler.epoch_seed, sampler.mine(batch).tolist())

    val_indices = list(range(len(val_set.samples)))[val_shard]
    val_planner = Planner(val_set.samples, augmentation, threads)

    def val_plans() -> Iterator[Plan]:
        for start in range(0, len(val_indices), val_batch):
            yield val_planner.eval(val_indices[start : start + val_batch])

    train = DaliBatches(pipe(sampler.share, side), train_plans, len(sampler), device)
    val_steps = -(-len(val_indices) // val_batch)
    val = DaliBatches(pipe(val_batch, augmentation.image_size), val_plans, val_steps, device)
    return train, val
