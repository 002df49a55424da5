"""Config -> train and validation DataLoaders."""

import os
from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, DistributedSampler, default_collate

from senet_ablate.data.cifar import cifar_datasets
from senet_ablate.data.imagefolder import collate_skipping_none, imagefolder_datasets
from senet_ablate.data.synthetic import make_synthetic
from senet_ablate.distributed import DistributedContext


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


@dataclass
class Loaders:
    train: DataLoader
    val: DataLoader
    train_generator: torch.Generator  # shuffling of a single process

    def set_epoch(self, seed: int, epoch: int) -> None:
        """Make the epoch's shuffling and augmentations a function of `seed`, so a resumed run
        draws exactly what an uninterrupted one does."""
        torch.manual_seed(seed)
        self.train_generator.manual_seed(seed)
        self.train.dataset.epoch_seed = seed
        if isinstance(self.train.sampler, DistributedSampler):
            self.train.sampler.set_epoch(epoch)


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
    """Per-process loaders; `trainer.batch_size` is the global batch, split over processes."""
    train_set, val_set = build_datasets(cfg)
    train_set = SeededPerImage(train_set)
    batch = max(1, cfg.trainer.batch_size // dist.world_size)
    generator = torch.Generator()
    common = dict(
        num_workers=workers_per_loader(cfg.data.num_workers),
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,  # new workers each epoch carry the epoch's augmentation seed
        collate_fn=collate_skipping_none if cfg.data.skip_corrupt else default_collate,
    )
    if dist.world_size > 1:
        train_sampler = DistributedSampler(train_set, dist.world_size, dist.rank, shuffle=True, seed=cfg.seed)
        train = DataLoader(train_set, batch, sampler=train_sampler, drop_last=True, **common)
        val_sampler = DistributedSampler(val_set, dist.world_size, dist.rank, shuffle=False)
        val = DataLoader(val_set, batch, sampler=val_sampler, **common)
    else:
        drop_last = len(train_set) > batch  # a last batch of one image would break BatchNorm
        train = DataLoader(train_set, batch, shuffle=True, drop_last=drop_last, generator=generator, **common)
        val = DataLoader(val_set, batch, shuffle=False, **common)
    return Loaders(train, val, generator)
