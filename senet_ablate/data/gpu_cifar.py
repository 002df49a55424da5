"""CIFAR held on the training device as uint8, batched and augmented there (`data.loader=gpu`).

A CIFAR epoch on a modern GPU takes seconds, far less than DataLoader workers need to crop and
flip 50,000 small images one at a time in Python. Here the dataset is one tensor on the device
(150 MB for CIFAR-10's training set), and each batch is one gather: a random crop of the
zero-padded image (every offset in 0..2*pad equally likely, as torchvision's
RandomCrop(32, padding=4)) and a horizontal flip with probability 1/2 (RandomHorizontalFlip),
then normalisation. The same code runs on the CPU device, for tests and the CPU benchmark.

Determinism: the order comes from the sampler (a `randperm` on the device, seeded per epoch),
and a batch's crops and flips from a generator reseeded from (epoch seed, step), drawn for the
whole global batch and sliced per process. A batch's augmentation therefore depends neither on
the batches before it (a resumed run redraws it exactly) nor on the number of processes.
"""

from collections.abc import Iterator

import torch
from torch import Tensor

from senet_ablate.data.cifar import PAD
from senet_ablate.data.seeds import mix_seed


def draw_crop_flip(count: int, pad: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Per image: the crop's (top, left) offset into the padded image, each uniform in 0..2*pad,
    and whether to flip it (probability 1/2)."""
    device = generator.device
    offsets = torch.randint(0, 2 * pad + 1, (count, 2), generator=generator, device=device)
    flips = torch.rand(count, generator=generator, device=device) < 0.5
    return offsets, flips


def crop_flip(images: Tensor, offsets: Tensor, flips: Tensor, pad: int) -> Tensor:
    """Crop each (C, H, W) image of `images` at its offset in the image zero-padded by `pad`, and
    mirror the flipped ones. One gather over the flattened padded images, with each output
    pixel's source index computed once per image and shared by its channels: 4x faster on the
    CPU than advanced indexing with four broadcast index tensors."""
    count, channels, height, width = images.shape
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad)).flatten(2)  # (N, C, (H+2p)(W+2p))
    rows = offsets[:, :1] + torch.arange(height, device=images.device)  # (N, H)
    columns = torch.arange(width, device=images.device).expand(count, width)
    columns = torch.where(flips[:, None], width - 1 - columns, columns) + offsets[:, 1:]  # (N, W)
    source = (rows[:, :, None] * (width + 2 * pad) + columns[:, None, :]).view(count, 1, height * width)
    return padded.gather(2, source.expand(count, channels, height * width)).view(count, channels, height, width)


# Where the alternating flips' first epoch is drawn from: the run's seed mixed with this, a stream
# no epoch seed reaches (epoch seeds are seed * 1_000_003 + epoch, mixed with a step's index).
FIRST_FLIPS_STREAM = 2**40 + 37


def first_epoch_flips(count: int, seed: int, device: torch.device) -> Tensor:
    """Alternating flips (`data.flip=alternate`): whether each of `count` training images is flipped
    in epoch 0, with probability 1/2, drawn from the run's `seed` alone (the same in every epoch,
    process and resume). Epoch e flips image i where this XOR (e odd) holds."""
    generator = torch.Generator(device=device).manual_seed(mix_seed(seed, FIRST_FLIPS_STREAM))
    return torch.rand(count, generator=generator, device=device) < 0.5


class DeviceCifarTrain:
    """This process's training batches, cut from the device-resident dataset in the sampler's order.

    With `first_flips` (alternating flips), an image's flip is fixed by the epoch's parity instead of
    drawn; its crop is drawn as with random flips, so the two modes crop the same."""

    def __init__(self, images: Tensor, labels: Tensor, sampler, normalize, first_flips: Tensor | None = None):
        self.images, self.labels, self.sampler, self.normalize = images, labels, sampler, normalize
        self.first_flips = first_flips
        self.generator = torch.Generator(device=images.device)

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for step, batch in self.sampler.global_batches():
            self.generator.manual_seed(self.sampler.step_seed(step))
            offsets, flips = draw_crop_flip(len(batch), PAD, self.generator)
            if self.first_flips is not None:
                flips = self.first_flips[batch] ^ bool(self.sampler.epoch % 2)
            mine = self.sampler.mine(batch)
            images = crop_flip(self.images[mine], self.sampler.mine(offsets), self.sampler.mine(flips), PAD)
            yield self.normalize(images), self.labels[mine]


class DeviceCifarVal:
    """This process's validation shard, in order, normalised batch by batch on the device."""

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, normalize):
        self.images, self.labels, self.batch_size, self.normalize = images, labels, batch_size, normalize

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for start in range(0, len(self.labels), self.batch_size):
            end = start + self.batch_size
            yield self.normalize(self.images[start:end]), self.labels[start:end]
