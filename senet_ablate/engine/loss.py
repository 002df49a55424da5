"""The training loss and batch mixing of a recipe: torch's cross-entropy or timm's one-vs-all BCE,
and timm's Mixup / CutMix.

With mixing on, timm's Mixup builds the soft targets, label smoothing included, so the loss must
not smooth them again (as timm's train.py does).
"""

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from senet_ablate.base.errors import ConfigError


def mixing(recipe: DictConfig) -> bool:
    return recipe.mixup_alpha > 0 or recipe.cutmix_alpha > 0


def build_loss(recipe: DictConfig) -> nn.Module:
    smoothing = 0.0 if mixing(recipe) else recipe.label_smoothing
    if recipe.loss == "bce":
        from timm.loss import BinaryCrossEntropy

        return BinaryCrossEntropy(smoothing=smoothing, target_threshold=recipe.bce_target_threshold)
    return nn.CrossEntropyLoss(label_smoothing=smoothing)


class BatchMixer:
    """timm's Mixup / CutMix of a batch on the device, repeatable.

    timm draws the mixing weight, the choice between Mixup and CutMix and the CutMix box from
    numpy's global RNG; reseeding it per (epoch seed, step) makes a run repeat exactly and a run
    resumed mid-epoch mix its remaining batches as the uninterrupted run did.

    timm pairs image i with image n-1-i of the batch it is given; given a process's slice of a
    step's global batch, the pairs would depend on the number of processes. Here image 2k is
    paired with image 2k+1 of the global batch: each pair lies within one process's slice (an even
    number of images: see `check_pairs_stay_on_one_process`), and every process draws the same
    weight and CutMix box, so a step mixes as it does in one process. A batch of odd size (left
    by skipped corrupt images) trains unmixed.
    """

    def __init__(self, recipe: DictConfig, num_classes: int):
        self.mixup = None
        if mixing(recipe):
            from timm.data import Mixup

            self.mixup = Mixup(
                mixup_alpha=recipe.mixup_alpha,
                cutmix_alpha=recipe.cutmix_alpha,
                label_smoothing=recipe.label_smoothing,
                num_classes=num_classes,
            )

    def __call__(self, images: Tensor, labels: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        """(images, targets): mixed images and soft targets, or the batch unchanged with mixing off."""
        if self.mixup is None or len(labels) % 2:
            return images, labels
        np.random.seed(seed % 2**32)
        order = neighbours_facing(len(labels), images.device)
        with torch.no_grad():
            mixed, targets = self.mixup(images[order], labels[order])
        unorder = torch.argsort(order)
        return mixed[unorder], targets[unorder]


def neighbours_facing(count: int, device: torch.device) -> Tensor:
    """An order of an even `count` of images in which timm's pairing of position j with
    position count-1-j pairs image 2k with image 2k+1: the even images, then the odd ones reversed."""
    return torch.cat([torch.arange(0, count, 2, device=device), torch.arange(count - 1, 0, -2, device=device)])


def check_pairs_stay_on_one_process(recipe: DictConfig, world_size: int) -> None:
    """Refuse Mixup/CutMix where a process's slice of the global batch is odd: a pair would span
    two processes (and in one process, an odd batch would never be mixed)."""
    share = recipe.batch_size // world_size
    if mixing(recipe) and share % 2:
        raise ConfigError(
            "trainer.batch_size",
            recipe.batch_size,
            f"an even number of images per process with Mixup/CutMix, which pairs images (here {share})",
        )
