"""Config -> train and validation DataLoaders."""

from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from senet_ablate.data.cifar import cifar_datasets
from senet_ablate.data.imagefolder import imagefolder_datasets
from senet_ablate.data.synthetic import make_synthetic
from senet_ablate.engine.distributed import DistributedContext


@dataclass
class Loaders:
    train: DataLoader
    val: DataLoader
    train_generator: torch.Generator  # reseeded each epoch, so a resumed run shuffles identically


def build_datasets(cfg: DictConfig) -> tuple[Dataset, Dataset]:
    data = cfg.data
    if data.name == "synthetic":
        return (
            make_synthetic("train", data.train_size, data.num_classes, data.image_size),
            make_synthetic("val", data.val_size, data.num_classes, data.image_size),
        )
    if data.name in ("cifar10", "cifar100"):
        return cifar_datasets(data.name, data.root, data.download)
    return imagefolder_datasets(data.root, data.image_size, data.num_classes)


def build_loaders(cfg: DictConfig, dist: DistributedContext) -> Loaders:
    """Per-process loaders; `trainer.batch_size` is the global batch, split over processes."""
    train_set, val_set = build_datasets(cfg)
    batch = max(1, cfg.trainer.batch_size // dist.world_size)
    generator = torch.Generator()
    common = dict(num_workers=cfg.data.num_workers, pin_memory=torch.cuda.is_available(), persistent_workers=False)
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
