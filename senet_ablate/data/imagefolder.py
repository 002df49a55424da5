"""ImageNet-style folders: `<root>/train/<class>/*` and `<root>/val/<class>/*`.

Train: RandomResizedCrop(image_size) + flip. Eval: resize the shorter side to
image_size * 256 / 224, centre crop image_size (the paper's 256 -> 224 protocol).

An unreadable image (truncated, empty, not an image) stops the run with its path named, or,
with `data.skip_corrupt=true`, is left out of its batch with a warning naming it; the trainer
counts the images a batch lacks.
"""

import logging
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import default_collate
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import pil_loader
from torchvision.transforms import v2

from senet_ablate.errors import ConfigError

log = logging.getLogger(__name__)
IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
SPLITS = ("train", "val")


class CorruptImage(RuntimeError):
    """An image file PIL cannot decode. One string argument, so a DataLoader worker can re-raise it."""


def load_image(path: str):
    """PIL's RGB image at `path`; a decoding failure becomes CorruptImage naming the file.

    pil_loader converts to RGB, which decodes the pixels, so a file truncated after a valid
    header fails here too, not later in a transform (ImageFile.LOAD_TRUNCATED_IMAGES stays False).
    A damaged header can also claim an absurd size, which PIL refuses as a decompression bomb."""
    try:
        return pil_loader(path)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:  # PIL's "cannot decode"
        raise CorruptImage(
            f"unreadable image {path} ({error}): set data.skip_corrupt=true to skip such images"
        ) from error


class CheckedImageFolder(ImageFolder):
    """ImageFolder whose unreadable images fail with their path, or are skipped (`None`)."""

    def __init__(self, root: str, transform, skip_corrupt: bool):
        super().__init__(root, transform, loader=load_image)
        self.skip_corrupt = skip_corrupt

    def __getitem__(self, index: int):
        try:
            return super().__getitem__(index)
        except CorruptImage as error:
            if not self.skip_corrupt:
                raise
            log.warning("skipping unreadable image %s (%s)", self.samples[index][0], error.__cause__)
            return None


def collate_skipping_none(batch: list):
    """default_collate over the samples that are not None (images skipped by CheckedImageFolder).

    A batch of nothing but skipped images becomes `(torch.empty(0), empty long labels)`: no image
    size is known here, so the trainer tests `labels.numel() == 0` and passes over it."""
    kept = [sample for sample in batch if sample is not None]
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.long)
    return default_collate(kept)


def split_dirs(root: str) -> list[Path]:
    """`<root>/train` and `<root>/val`, or a ConfigError saying what is expected."""
    dirs = [Path(root) / split for split in SPLITS]
    for folder in dirs:
        if not folder.is_dir():
            raise ConfigError(
                "data.root", root, f"expected {folder} with one folder per class: pass data.root=... or data=synthetic"
            )
    return dirs


def imagefolder_datasets(
    root: str, image_size: int, num_classes: int, skip_corrupt: bool = False
) -> tuple[ImageFolder, ImageFolder]:
    """Train (RandomResizedCrop, flip) and val (resize, centre crop) sets of uint8 image tensors,
    normalised by the loader on the device with IMAGENET_MEAN_STD; with `skip_corrupt`,
    unreadable images come out as None (batch them with collate_skipping_none)."""
    train_dir, val_dir = split_dirs(root)
    train_transform = v2.Compose(
        [v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip(), v2.PILToTensor()]
    )
    eval_transform = v2.Compose(
        [v2.Resize(round(image_size * 256 / 224), antialias=True), v2.CenterCrop(image_size), v2.PILToTensor()]
    )
    train = CheckedImageFolder(str(train_dir), train_transform, skip_corrupt)
    val = CheckedImageFolder(str(val_dir), eval_transform, skip_corrupt)
    if len(train.classes) != num_classes:
        raise ConfigError("data.num_classes", num_classes, f"{root}/train has {len(train.classes)} class folders")
    if val.classes != train.classes:  # labels are class indices: val's would silently mean other classes
        raise ConfigError("data.root", root, f"{val_dir} must have the same class folders as {train_dir}")
    return train, val
