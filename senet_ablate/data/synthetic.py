"""Generated images that a network can learn: each class is a smooth random pattern.

An image is its class's pattern, randomly shifted and with a random contrast, plus pixel noise.
The patterns are low-frequency (8x8 noise upsampled), so a small CNN reaches low error in a
few epochs while a mislabelled or broken pipeline stays at chance: the demo and the tests
can tell training from noise. The data is a pure function of (seed, split).
"""

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

GENERATOR_VERSION = 1  # part of every synthetic run's id: bump it when the generated images change
_PATTERN_SEED = 20180601  # the class patterns are shared by both splits
_SPLIT_SEEDS = {"train": 1, "val": 2}


def make_synthetic(split: str, size: int, num_classes: int, image_size: int, noise: float = 2.0) -> TensorDataset:
    patterns_rng = torch.Generator().manual_seed(_PATTERN_SEED)
    coarse = torch.randn(num_classes, 3, 8, 8, generator=patterns_rng)
    patterns = F.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)
    patterns = patterns / patterns.std(dim=(1, 2, 3), keepdim=True)

    rng = torch.Generator().manual_seed(_PATTERN_SEED + _SPLIT_SEEDS[split])
    labels = torch.randint(num_classes, (size,), generator=rng)
    shifts = torch.randint(-image_size // 8, image_size // 8 + 1, (size, 2), generator=rng)
    contrast = 0.5 + torch.rand(size, 1, 1, 1, generator=rng)
    images = patterns[labels] * contrast
    images = torch.stack(
        [torch.roll(img, tuple(shift.tolist()), dims=(1, 2)) for img, shift in zip(images, shifts, strict=True)]
    )
    images = images + noise * torch.randn(images.shape, generator=rng)
    return TensorDataset(images.contiguous(), labels)
