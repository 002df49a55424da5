"""The training loss and batch mixing of a recipe: torch's cross-entropy or timm's one-vs-all BCE,
and timm's Mixup / CutMix.

With mixing on, timm's Mixup builds the soft targets, label smoothing included, so the loss must
not smooth them again (as timm's train.py does).
"""

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn


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
    resumed mid-epoch mix its remaining batches as the uninterrupted run did. Every process of a
    DDP run mixes its slice of a step's batch with the same weight. Mixup pairs images within a
    batch, so a batch of odd size (left by skipped corrupt images) trains unmixed.
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
        with torch.no_grad():
            return self.mixup(images, labels)
