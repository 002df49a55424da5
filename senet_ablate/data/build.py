"""Config -> train and validation DataLoaders."""

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, default_collate

from senet_ablate.data.cifar import cifar_datasets
from senet_ablate.data.imagefolder import collate_skipping_none, imagefolder_datasets
from senet_ablate.data.synthetic import make_synthetic
from senet_ablate.distributed import DistributedContext
from senet_ablate.errors import ConfigError


class SeededPerImage(Dataset):
    """Reseeds torch's RNG before each image's augmentation from (epoch seed, index).

    Without it, DataLoader workers draw augmentations from per-worker streams, so the same run
    with 2 or 8 workers (or resumed on another machine) would see different crops. torchvision's
    transforms read the global RNG, hence the reseed rather than a private generator. The epoch
    seed reaches the workers because they are started anew for every epoch.
    """

    def __init__(self, dataset: Dataset):
        self.dataset, self.epoch_seed = dataset, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        torch.manual_seed((self.epoch_seed * 0x9E3779B97F4A7C15 + index) % 2**63)  # epochs far apart
        return self.dataset[index]


class GlobalBatchSampler(Sampler[list[int]]):
    """This process's share of each global batch of a shuffled epoch.

    Every process draws the same permutation from `generator` (reseeded each epoch) and cuts it
    into global batches of `global_batch` images; rank r takes the r-th slice of each. The union
    of the ranks' batches at a step is therefore exactly the batch one process would train on,
    whatever the world size, and no image is padded in twice (unlike DistributedSampler).
    `start_step` skips the first batches of the epoch's order without loading them: a run resumed
    mid-epoch gets exactly the batches it had not trained on.
    """

    def __init__(self, size: int, global_batch: int, rank: int, world_size: int, generator: torch.Generator):
        self.size, self.global_batch, self.generator = size, global_batch, generator
        self.share = global_batch // world_size
        self.offset = rank * self.share
        self.drop_last = size > global_batch  # a last batch of one image would break BatchNorm
        self.start_step = 0

    def __len__(self) -> int:
        return self.size // self.global_batch if self.drop_last else math.ceil(self.size / self.global_batch)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.size, generator=self.generator).tolist()
        for start in range(self.start_step * self.global_batch, len(self) * self.global_batch, self.global_batch):
            batch = order[start : start + self.global_batch]
            yield batch[self.offset : self.offset + self.share]

    def images(self, steps: int) -> int:
        """How many images this process is handed in the first `steps` steps of an epoch."""
        full_batches = min(steps, self.size // self.global_batch)
        last = self.size - full_batches * self.global_batch if steps > full_batches else 0
        return full_batches * self.share + min(self.share, max(0, last - self.offset))


@dataclass
class Loaders:
    train: DataLoader
    val: DataLoader
    train_generator: torch.Generator  # drawn from by every process alike: see GlobalBatchSampler

    def set_epoch(self, seed: int, start_step: int = 0) -> None:
        """Make the epoch's shuffling and augmentations a function of `seed`, so a resumed run
        draws exactly what an uninterrupted one does; the epoch starts at batch `start_step`."""
        torch.manual_seed(seed)
        self.train_generator.manual_seed(seed)
        self.train.dataset.epoch_seed = seed
        self.train.batch_sampler.start_step = start_step


def build_datasets(cfg: DictConfig) -> tuple[Dataset, Dataset]:
    data = cfg.data
    if data.name == "synthetic":
        return (
            make_synthetic("train", data.train_size, data.num_classes, data.image_size),
            make_synthetic("val", data.val_size, data.num_classes, data.image_size),
        )
    if data.name in ("cifar10", "cifar100"):
        return cifar_datasets(data.name, data.root, data.download)
    return imagefolder_datasets(data.root, data.image_size, data.num_classes, skip_corrupt=data.skip_corrupt)


def workers_per_loader(configured: int | None) -> int:
    """`data.num_workers`, or by default half the CPUs this process may use (train and val each)."""
    if configured is not None:
        return configured
    return len(os.sched_getaffinity(0)) // 2 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2) // 2


def build_loaders(cfg: DictConfig, dist: DistributedContext) -> Loaders:
    """Per-process loaders; `trainer.batch_size` is the global batch, split over processes.

    Validation is sharded without padding (rank r takes images r, r + W, ...), so that summing
    the ranks' counts evaluates every image exactly once."""
    train_set, val_set = build_datasets(cfg)
    train_set = SeededPerImage(train_set)
    if cfg.trainer.batch_size % dist.world_size:
        raise ConfigError(
            "trainer.batch_size", cfg.trainer.batch_size, f"a multiple of the {dist.world_size} processes"
        )
    if dist.world_size > 1 and len(train_set) < cfg.trainer.batch_size:  # a rank would get no images
        raise ConfigError("trainer.batch_size", cfg.trainer.batch_size, f"at most the {len(train_set)} training images")
    generator = torch.Generator()
    common = dict(
        num_workers=workers_per_loader(cfg.data.num_workers),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,  # new workers each epoch carry the epoch's augmentation seed
        collate_fn=collate_skipping_none if cfg.data.skip_corrupt else default_collate,
    )
    sampler = GlobalBatchSampler(len(train_set), cfg.trainer.batch_size, dist.rank, dist.world_size, generator)
    train = DataLoader(train_set, batch_sampler=sampler, **common)
    val_shard = Subset(val_set, range(dist.rank, len(val_set), dist.world_size))
    val = DataLoader(val_shard, cfg.trainer.batch_size // dist.world_size, shuffle=False, **common)
    return Loaders(train, val, generator)
