"""ImageNet-style folders: `<root>/train/<class>/*` and `<root>/val/<class>/*`.

Train: RandomResizedCrop(image_size) + flip. Eval: resize the shorter side to
image_size * 256 / 224, centre crop image_size (the paper's 256 -> 224 protocol).
"""

from pathlib import Path

import torch
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from senet_ablate.errors import ConfigError

IMAGENET_MEAN_STD = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def imagefolder_datasets(root: str, image_size: int, num_classes: int) -> tuple[ImageFolder, ImageFolder]:
    for split in ("train", "val"):
        if not (Path(root) / split).is_dir():
            raise ConfigError(
                "data.root",
                root,
                f"expected {Path(root) / split} with one folder per class: pass data.root=... or data=synthetic",
            )
    mean, std = IMAGENET_MEAN_STD
    to_input = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    train_transform = v2.Compose(
        [v2.RandomResizedCrop(image_size, antialias=True), v2.RandomHorizontalFlip(), *to_input]
    )
    eval_transform = v2.Compose(
        [v2.Resize(round(image_size * 256 / 224), antialias=True), v2.CenterCrop(image_size), *to_input]
    )
    train = ImageFolder(str(Path(root) / "train"), train_transform)
    val = ImageFolder(str(Path(root) / "val"), eval_transform)
    if len(train.classes) != num_classes:
        raise ConfigError("data.num_classes", num_classes, f"{root}/train has {len(train.classes)} class folders")
    return train, val
