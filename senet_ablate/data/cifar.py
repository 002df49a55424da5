"""CIFAR-10/100 from the pickled batches of torchvision's layout, read by us.

torchvision's CIFAR classes check each batch file's md5, so files written by tests (or by
scripts/gpu_check.py) cannot pass through them; the batches are plain pickles of uint8 arrays,
cheap to read directly. torchvision still does the download when asked.

A data dir is other people's input, and unpickling runs whatever a pickle asks for. So a batch
is read by `BatchUnpickler`, which builds only what the published files hold (a dict of bytes,
lists of ints and numpy arrays) and refuses any other global, then checked for CIFAR's shape: uint8
rows of 3072 pixels and as many labels, each a class index. A file that fails either, or is
truncated, is refused in one line naming it: nothing in it runs.
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
PIXELS = 3 * 32 * 32  # one image, as a row of a batch's data: its red, green, then blue plane
_LAYOUT = {
    # name: (folder, train files, test files, label key, classes, torchvision class)
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        b"labels",
        10,
        torchvision.datasets.CIFAR10,
    ),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", 100, torchvision.datasets.CIFAR100),
}
# The only globals a batch may name: how numpy pickles an array (numpy 1's `numpy.core` is numpy 2's
# `numpy._core`; the published files, from Python 2, use `_reconstruct`; protocol 5 `_frombuffer`),
# a numpy integer among the labels, and how Python 3 writes bytes at protocol 2 (torch's safe
# unpickler allows it too).
_SAFE_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    *((f"numpy.{core}.multiarray", name) for core in ("core", "_core") for name in ("_reconstruct", "scalar")),
    *((f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")),
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
    folder_name, train_files, test_files, _, _, torchvision_class = _LAYOUT[name]
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


class BatchUnpickler(pickle.Unpickler):
    """pickle's reader, restricted to `_SAFE_GLOBALS`: any other global (a function to call, a
    class to build) is an UnpicklingError before it is imported. Bytes stay bytes, as in CIFAR's
    Python 2 pickles."""

    def __init__(self, handle):
        super().__init__(handle, encoding="bytes")

    def find_class(self, module: str, name: str):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"it asks for {module}.{name}, which a CIFAR batch never holds")
        return super().find_class(module, name)


def read_batch(path: Path, label_key: bytes, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The images (N, 3, 32, 32) and labels (N,) of one batch file; ValueError saying why it is
    not one (a damaged file's pickle errors included), OSError if it cannot be read."""
    with open(path, "rb") as handle:
        try:
            batch = BatchUnpickler(handle).load()
        except Exception as error:  # a damaged pickle can raise almost anything: EOFError, KeyError, ...
            raise ValueError(f"{type(error).__name__}: {error}") from error
    if not isinstance(batch, dict) or not {b"data", label_key} <= batch.keys():
        raise ValueError(f"not a dict with keys {b'data'!r} and {label_key!r}")
    data, labels = batch[b"data"], np.asarray(batch[label_key])
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == PIXELS):
        raise ValueError(f"its data is not uint8 rows of {PIXELS} pixels")
    if not (labels.shape == (len(data),) and np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(f"it has {len(data)} images but not as many integer labels")
    if len(labels) and not 0 <= labels.min() <= labels.max() < classes:
        raise ValueError(f"its labels run from {labels.min()} to {labels.max()}, outside 0..{classes - 1}")
    return data.reshape(-1, 3, 32, 32), labels


def _read_batches(name: str, root: str, files: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every batch of `files`, concatenated; a file that is not one is a ConfigError naming it."""
    label_key, classes = _LAYOUT[name][3:5]
    images, labels = [], []
    for path in files:
        try:
            batch_images, batch_labels = read_batch(path, label_key, classes)
        except OSError as error:
            raise ConfigError("data.root", root, f"cannot read {path}: {error.strerror}") from None
        except ValueError as error:
            raise ConfigError(
                "data.root",
                root,
                f"{path} is not a {name} batch file ({error}): replace it with the published one "
                f"(delete {path.parent} and run again with data.download=true)",
            ) from None
        images.append(batch_images)
        labels.append(batch_labels)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels).astype(np.int64))


def cifar_datasets(name: str, root: str, download: bool) -> tuple[CifarArrays, CifarArrays]:
    """Train (4-pixel zero pad, random 32 crop, flip) and test sets of uint8 images; the loader
    normalises them on the device with the dataset's `mean_std` (datasets.py)."""
    train_files = _LAYOUT[name][1]
    files = batch_files(name, root, download)
    train_transform = v2.Compose([v2.RandomCrop(32, padding=PAD), v2.RandomHorizontalFlip()])
    train = CifarArrays(*_read_batches(name, root, files[: len(train_files)]), train_transform)
    test = CifarArrays(*_read_batches(name, root, files[len(train_files) :]), v2.Identity())
    return train, test
