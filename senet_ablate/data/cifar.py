"""CIFAR-10/100 from the pickled batches of torchvision's layout, read by us.

torchvision's CIFAR classes check each batch file's md5, so files written by tests (or a
the GPU-resident loader, `gpu_cifar.py`) cannot pass through them; the batches are plain pickles of uint8
arrays, cheap to read directly. torchvision still does the download when asked.
"""

import pickle
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch.utils.data import Dataset
from torchvision.transforms import v2

from senet_ablate.base.errors import ConfigError

PAD = 4  # pixels of zero padding around each image before the random crop (He et al.'s CIFAR protocol)
_LAYOUT = {
    # name: (folder, train files, test files, label key, torchvision class)
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        b"labels",
        torchvision.datasets.CIFAR10,
    ),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", torchvision.datasets.CIFAR100),
}


class CifarArrays(Dataset):
    """uint8 images (N, 3, 32, 32) and labels in memory, with a per-image transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), self.labels[index]


def batch_files(name: str, root: str, download: bool) -> list[Path]:
    """The train then test batch files of `name` under `root`, fetched by torchvision if asked."""
    folder_name, train_files, test_files, _, torchvision_class = _LAYOUT[name]
    folder = Path(root) / folder_name
    files = [folder / file_name for file_name in train_files + test_files]
    if not all(path.exists() for path in files):
        if not download:
            raise ConfigError(
                "data.root",
                root,
                f"no {name} batches in {folder}: pass data.root=..., data.download=true or data=synthetic",
            )
        torchvision_class(root, train=True, download=True)
    return files


def _read_batches(files: list[Path], label_key: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for path in files:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(batch[label_key])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.long)


def cifar_datasets(name: str, root: str, download: bool) -> tuple[CifarArrays, CifarArrays]:
    """Train (4-pixel zero pad, random 32 crop, flip) and test sets of uint8 images; the loader
    normalises them on the device with the dataset's `mean_std` (datasets.py)."""
    _, train_files, _, label_key, _ = _LAYOUT[name]
    files = batch_files(name, root, download)
    train_transform = v2.Compose([v2.RandomCrop(32, padding=PAD), v2.RandomHorizontalFlip()])
    train = CifarArrays(*_read_batches(files[: len(train_files)], label_key), train_transform)
    test = CifarArrays(*_read_batches(files[len(train_files) :], label_key), v2.Identity())
    return train, test
