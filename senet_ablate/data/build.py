"""Config -> train and validation loaders that hand the trainer batches on its device.

Two kinds (`data.loader`):
  dataloader  torchvision datasets read by DataLoader workers as uint8, pinned, copied to the
              device one batch ahead, and turned into float model input there (4x fewer bytes
              over PCIe and no float maths in the workers);
  gpu         CIFAR only: the whole dataset held on the device, shuffled, cropped, flipped and
              normalised there, with no worker in the loop (see `gpu_cifar.py`);
  dali        image folders: NVIDIA DALI decodes each crop window (on the GPU on CUDA), resizes,
              flips and normalises it; the windows are the DataLoader path's (see `dali.py`).
Both then apply Cutout (`data.cutout`, CIFAR only) on the device, to normalised batches (`cutout.py`).
`auto` picks gpu for CIFAR on CUDA and dataloader otherwise; the choice is part of a run's id,
since the two draw their augmentations from different random streams.
"""

import errno
import math
import multiprocessing
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, default_collate

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.stop_signals import held_while_workers_start, ignore_stop_signals
from senet_ablate.data.cutout import CutoutBatches
from senet_ablate.data.gpu_cifar import DeviceCifarTrain, DeviceCifarVal, first_epoch_flips
from senet_ablate.data.imagefolder import Augmentation, collate_skipping_none
from senet_ablate.data.registry import DATASETS, auto_loader, build_datasets
from senet_ablate.data.seeds import mix_seed

Batch = tuple[Tensor, Tensor]
SHARED_MEMORY = "/dev/shm"  # where DataLoader workers' queues and batches live on Linux


class SeededPerImage(Dataset):
    """Reseeds the RNGs (torch's, Python's, numpy's) before each image's augmentation from (epoch seed, index).

    Without it, DataLoader workers draw augmentations from per-worker streams, so the same run
    with 2 or 8 workers (or resumed on another machine) would see different crops. torchvision's
    transforms read the global RNG, hence the reseed rather than a private generator. The epoch
    seed travels with each index (the sampler yields `(seed, index)` pairs), so persistent
    workers, started once per run, still draw each epoch's augmentations.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, seed_and_index: tuple[int, int]):
        seed, index = seed_and_index
        image_seed = mix_seed(seed, index)
        torch.default_generator.manual_seed(image_seed)  # the CPU's only: torch.manual_seed costs 0.35 ms
        random.seed(image_seed)  # timm's RandAugment draws from Python's and numpy's RNGs
        np.random.seed(image_seed % 2**32)
        return self.dataset[index]


class GlobalBatchSampler(Sampler[list[tuple[int, int]]]):
    """This process's share of each global batch of a shuffled epoch.

    Every process draws the same permutation from `generator` (reseeded each epoch, on the
    generator's device) and cuts it into global batches of `global_batch` images; rank r takes
    the r-th slice of each. The union of the ranks' batches at a step is therefore exactly the
    batch one process would train on, whatever the world size, and no image is padded in twice
    (unlike DistributedSampler). `start_step` skips the first batches of the epoch's order
    without loading them: a run resumed mid-epoch gets exactly the batches it had not trained on.
    """

    def __init__(self, size: int, global_batch: int, rank: int, world_size: int, generator: torch.Generator):
        self.size, self.global_batch, self.generator = size, global_batch, generator
        self.share = global_batch // world_size
        self.offset = rank * self.share
        self.drop_last = size > global_batch  # a last batch of one image would break BatchNorm
        self.epoch_seed, self.start_step, self.epoch = 0, 0, 0

    def set_epoch(self, seed: int, start_step: int = 0, epoch: int = 0) -> None:
        self.epoch_seed, self.start_step, self.epoch = seed, start_step, epoch
        self.generator.manual_seed(seed)

    def __len__(self) -> int:
        return self.size // self.global_batch if self.drop_last else math.ceil(self.size / self.global_batch)

    def global_batches(self) -> Iterator[tuple[int, Tensor]]:
        """(step, indices of the whole global batch) from `start_step` on, as tensors on the generator's device."""
        order = torch.randperm(self.size, generator=self.generator, device=self.generator.device)
        for step in range(self.start_step, len(self)):
            yield step, order[step * self.global_batch : (step + 1) * self.global_batch]

    def step_seed(self, step: int, stream: int = 0) -> int:
        """A seed for what is drawn for the batch of `step`: stream 0 the GPU loader's crops and flips,
        others each their own (Cutout's squares), so that no two draws share a seed."""
        seed = mix_seed(self.epoch_seed, step)
        return mix_seed(seed, stream) if stream else seed

    def global_batch_size(self, step: int) -> int:
        """Images in the global batch of `step` (fewer at a last, partial batch)."""
        return min(self.global_batch, self.size - step * self.global_batch)

    def mine(self, global_batch: Tensor) -> Tensor:
        """This process's slice of a global batch (or of anything drawn per image of it)."""
        return global_batch[self.offset : self.offset + self.share]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for _, batch in self.global_batches():
            yield [(self.epoch_seed, index) for index in self.mine(batch).tolist()]

    def images(self, steps: int) -> int:
        """How many images this process is handed in the first `steps` steps of an epoch."""
        full_batches = min(steps, self.size // self.global_batch)
        last = self.size - full_batches * self.global_batch if steps > full_batches else 0
        return full_batches * self.share + min(self.share, max(0, last - self.offset))


class Normalize:
    """uint8 images -> float model input, on whatever device they are: x / 255, then (x - mean) / std,
    the arithmetic of torchvision's ToDtype(scale=True) + Normalize."""

    def __init__(self, mean_std: tuple[tuple[float, ...], tuple[float, ...]], device: torch.device):
        mean, std = mean_std
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def __call__(self, images: Tensor) -> Tensor:
        return images.float().div_(255).sub_(self.mean).div_(self.std)


class OnDevice:
    """A DataLoader's host batches, moved to `device` and made model input there by `prepare`.

    On CUDA, the next batch is copied from pinned memory on a side stream while the current one
    trains, so the copy overlaps compute. A batch with no images (all skipped as unreadable) is
    moved too: under DDP the trainer runs the model on it (see collate_skipping_none).
    """

    def __init__(self, loader: DataLoader, device: torch.device, prepare=None):
        self.loader, self.device = loader, device
        self.prepare = prepare or (lambda images: images)

    def __len__(self) -> int:
        return len(self.loader)

    def _to_device(self, batch: Batch) -> Batch:
        images, labels = batch
        images = images.to(self.device, non_blocking=True)
        return self.prepare(images), labels.to(self.device, non_blocking=True)

    def __iter__(self) -> Iterator[Batch]:
        batches = start_workers(self.loader)
        if self.device.type != "cuda":
            yield from map(self._to_device, batches)
            return
        side, main = torch.cuda.Stream(self.device), torch.cuda.current_stream(self.device)

        def fetch() -> Batch | None:
            batch = next(batches, None)
            if batch is None:
                return None
            with torch.cuda.stream(side):
                return self._to_device(batch)

        upcoming = fetch()
        while upcoming is not None:
            main.wait_stream(side)
            for tensor in upcoming:
                tensor.record_stream(main)  # made on the side stream, used on the main one
            current, upcoming = upcoming, fetch()
            yield current


def start_workers(loader: DataLoader) -> Iterator:
    """`iter(loader)`, which starts its workers (persistent ones: at the first call only).

    If that fails part-way (no file descriptor left: `ulimit -n`; shared memory full), torch loses
    the workers it had started, and at exit multiprocessing would wait for them forever: they
    ignore SIGTERM (stop_signals.py). So they are killed here, and the error is raised without
    the frames below this one: they hold the half-built iterator, whose pipes would keep the file
    descriptors the run needs to record its failure. A full shared memory raises an OSError naming
    no file, which the run would blame on its results dir: it is named here."""
    before = set(multiprocessing.active_children())
    try:
        with held_while_workers_start():  # see stop_signals.py
            return iter(loader)
    except BaseException as error:
        for worker in set(multiprocessing.active_children()) - before:
            worker.kill()
            worker.join()
        error = error.with_traceback(None)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC and not error.filename:
            full = OSError(error.errno, f"{error.strerror} (the loader workers' shared memory)", SHARED_MEMORY)
            raise full from error
        raise error


@dataclass
class Loaders:
    """What the trainer iterates: batches of model input on the run's device."""

    train: Iterable[Batch]
    val: Iterable[Batch]
    sampler: GlobalBatchSampler  # the training order: steps per epoch, images per step, epoch seed
    train_size: int
    val_size: int  # images in the whole validation set, over every process
    kind: str  # dataloader | gpu | dali
    dataloaders: tuple[DataLoader, ...] = ()  # those with workers, for `close`

    def close(self) -> None:
        """Stop the loader workers now, however the run ended. Persistent workers otherwise live as
        long as their iterator, which an exception's traceback or a reference cycle can keep until
        exit, where multiprocessing waits for them forever (they ignore SIGTERM: stop_signals.py).
        torch has no public call for it: `_shutdown_workers` is what its iterator's `__del__` calls."""
        for loader in self.dataloaders:
            iterator, loader._iterator = loader._iterator, None
            if iterator is not None and hasattr(iterator, "_shutdown_workers"):
                iterator._shutdown_workers()

    def set_epoch(self, seed: int, start_step: int = 0, epoch: int = 0) -> None:
        """Make the epoch's shuffling and augmentations a function of `seed`, so a resumed run
        draws exactly what an uninterrupted one does; the epoch starts at batch `start_step`.
        `epoch` (0-based) is read only by alternating flips (`data.flip=alternate`)."""
        torch.manual_seed(seed)
        self.sampler.set_epoch(seed, start_step, epoch)


def workers_per_loader(configured: int | None, local_world_size: int = 1) -> int:
    """`data.num_workers`, or by default this process's share of the CPUs it may use, halved (train
    and val each): the `local_world_size` processes of a machine (one per GPU) see the same CPUs,
    and each taking half of them would start that many times too many workers (or DALI threads).
    A launcher that binds each process to CPUs of its own leaves fewer here: set data.num_workers."""
    if configured is not None:
        return configured
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
    return cpus // (2 * local_world_size)


def build_loaders(cfg: DictConfig, dist: DistributedContext, device: torch.device) -> Loaders:
    """Per-process loaders; `trainer.batch_size` is the global batch, split over processes.

    Validation is sharded without padding (rank r takes images r, r + W, ...), so that summing
    the ranks' counts evaluates every image exactly once."""
    kind = auto_loader(cfg.data, device.type)
    if kind == "dali":
        from senet_ablate.data.dali import import_dali

        import_dali()  # a missing DALI is refused before a million files are listed, not after
    train_set, val_set = build_datasets(cfg)
    if cfg.trainer.batch_size % dist.world_size:
        raise ConfigError(
            "trainer.batch_size", cfg.trainer.batch_size, f"a multiple of the {dist.world_size} processes"
        )
    if dist.world_size > 1 and len(train_set) < cfg.trainer.batch_size:  # a rank would get no images
        raise ConfigError("trainer.batch_size", cfg.trainer.batch_size, f"at most the {len(train_set)} training images")
    stats = DATASETS[cfg.data.name].mean_std
    normalize = Normalize(stats, device) if stats else None
    val_batch = cfg.trainer.batch_size // dist.world_size
    sampler_device = device if kind == "gpu" else torch.device("cpu")
    generator = torch.Generator(device=sampler_device)
    sampler = GlobalBatchSampler(len(train_set), cfg.trainer.batch_size, dist.rank, dist.world_size, generator)
    sizes = dict(sampler=sampler, train_size=len(train_set), val_size=len(val_set), kind=kind)
    val_shard = slice(dist.rank, None, dist.world_size)
    if kind == "gpu":
        first_flips = first_epoch_flips(len(train_set), cfg.seed, device) if cfg.data.flip == "alternate" else None
        train = DeviceCifarTrain(
            train_set.images.to(device), train_set.labels.to(device), sampler, normalize, first_flips
        )
        val_images, val_labels = val_set.images[val_shard].to(device), val_set.labels[val_shard].to(device)
        val = DeviceCifarVal(val_images, val_labels, val_batch, normalize)
        return Loaders(with_cutout(train, cfg.data.cutout, sampler, device), val, **sizes)
    workers = workers_per_loader(cfg.data.num_workers, dist.local_world_size)
    if kind == "dali":
        from senet_ablate.data.dali import dali_loaders

        augmentation = Augmentation.from_config(cfg)
        train, val = dali_loaders(train_set, val_set, augmentation, sampler, val_shard, val_batch, workers, device)
        return Loaders(train, val, **sizes)
    common = dict(
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,  # each index carries its epoch's seed: see SeededPerImage
        worker_init_fn=ignore_stop_signals,  # a cluster's stop signal reaches workers too: the run decides
    )
    train_side, val_side = cfg.trainer.train_image_size or cfg.data.image_size, cfg.data.image_size
    train = DataLoader(SeededPerImage(train_set), batch_sampler=sampler, collate_fn=collate(cfg, train_side), **common)
    mine = Subset(val_set, range(len(val_set))[val_shard])
    val = DataLoader(mine, val_batch, shuffle=False, collate_fn=collate(cfg, val_side), **common)
    train_batches = with_cutout(OnDevice(train, device, normalize), cfg.data.cutout, sampler, device)
    return Loaders(train_batches, OnDevice(val, device, normalize), **sizes, dataloaders=(train, val))


def collate(cfg: DictConfig, side: int):
    """The batches' collate function: with `data.skip_corrupt`, one that leaves skipped images out
    and makes a batch of none of them images of this split's `side`."""
    return partial(collate_skipping_none, side=side) if cfg.data.skip_corrupt else default_collate


def with_cutout(train: Iterable[Batch], length: int, sampler: GlobalBatchSampler, device: torch.device):
    """The training batches, with Cutout's squares (`data.cutout` pixels wide) when it is on."""
    return CutoutBatches(train, sampler, length, device) if length else train
