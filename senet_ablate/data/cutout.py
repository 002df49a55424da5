"""Cutout (DeVries & Taylor 2017, arXiv:1708.04552): zero a square of each training image.

As in the paper (section 3) and its reference code (github.com/uoguelph-mlrg/Cutout, whose
train.py appends Cutout after Normalize): the square's centre is a uniformly random pixel, the
square is clipped at the image border (so near an edge less than length x length is cut; the
paper found letting the square leave the image important), and it is zeroed after
normalisation, i.e. set to the dataset's mean. The sizes of its CIFAR results (section 4.1, and
the reference code's commands): 16 pixels for CIFAR-10, 8 for CIFAR-100. For an odd `length` we
cut `length` rows (the reference cuts length - 1); the paper uses even ones only.

Both CIFAR loaders apply it the same way, on the device, to normalised batches (`CutoutBatches`):
the centres are drawn for the whole global batch of a step from a generator reseeded from the
sampler's (epoch seed, step), on their own stream, and sliced per process, as the GPU loader
draws its crops. So a resumed run redraws a step's squares exactly, the number of processes
does not change them, and the two loaders' squares follow one distribution.
"""

from collections.abc import Iterable, Iterator

import torch
from torch import Tensor

CUTOUT_STREAM = 1  # the sampler's seed stream for the squares (stream 0: the GPU loader's crops and flips)


def draw_centres(count: int, height: int, width: int, generator: torch.Generator) -> Tensor:
    """(row, column) of each square's centre, uniform over the image's pixels."""
    device = generator.device
    rows = torch.randint(0, height, (count,), generator=generator, device=device)
    columns = torch.randint(0, width, (count,), generator=generator, device=device)
    return torch.stack([rows, columns], dim=1)


def cut_out(images: Tensor, centres: Tensor, length: int) -> Tensor:
    """`images` (N, C, H, W) with a length x length square around each centre set to 0, clipped at the border."""
    height, width = images.shape[-2:]
    start = centres - length // 2  # (N, 2): the square's first row and column, maybe outside the image

    def inside(size: int, first: Tensor) -> Tensor:  # (N, size): which rows (or columns) the square covers
        positions = torch.arange(size, device=images.device)
        return (positions >= first[:, None]) & (positions < first[:, None] + length)

    square = inside(height, start[:, 0])[:, :, None] & inside(width, start[:, 1])[:, None, :]
    return images.masked_fill(square[:, None], 0)


class CutoutBatches:
    """Training batches of normalised images on the device, each image with its square cut out.

    `batches` yields the sampler's steps in order, from `sampler.start_step` on (as both CIFAR
    loaders do), so the step of each batch, and with it the seed of its squares, is known.
    """

    def __init__(self, batches: Iterable[tuple[Tensor, Tensor]], sampler, length: int, device: torch.device):
        self.batches, self.sampler, self.length = batches, sampler, length
        self.generator = torch.Generator(device=device)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for step, (images, labels) in enumerate(self.batches, start=self.sampler.start_step):
            self.generator.manual_seed(self.sampler.step_seed(step, CUTOUT_STREAM))
            height, width = images.shape[-2:]
            centres = draw_centres(self.sampler.global_batch_size(step), height, width, self.generator)
            yield cut_out(images, self.sampler.mine(centres), self.length), labels
