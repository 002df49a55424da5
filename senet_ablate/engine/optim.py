"""SGD and the learning-rate schedules of the paper's recipes, stepped once per epoch."""

import math

import torch
from omegaconf import DictConfig
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau


def effective_lr(trainer: DictConfig) -> float:
    """`trainer.lr`, scaled linearly when it is given for `base_batch_size` (Goyal et al.)."""
    if trainer.base_batch_size is None:
        return trainer.lr
    return trainer.lr * trainer.batch_size * trainer.accumulate_steps / trainer.base_batch_size


def build_optimizer(model: nn.Module, trainer: DictConfig) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(),
        lr=effective_lr(trainer),
        momentum=trainer.momentum,
        nesterov=trainer.nesterov,
        weight_decay=trainer.weight_decay,
    )


def lr_factor(trainer: DictConfig, epoch: int) -> float:
    """Multiplier of the base lr during `epoch` (0-based) for the fixed schedules."""
    if trainer.warmup_epochs and epoch < trainer.warmup_epochs:
        return 0.1 + 0.9 * epoch / trainer.warmup_epochs
    if trainer.schedule == "step":
        return 0.1 ** (epoch // trainer.step_epochs)
    if trainer.schedule == "multistep":
        milestones = [round(fraction * trainer.epochs) for fraction in trainer.milestones]
        return 0.1 ** sum(epoch >= milestone for milestone in milestones)
    if trainer.schedule == "cosine":
        start = trainer.warmup_epochs
        return 0.5 * (1 + math.cos(math.pi * (epoch - start) / max(1, trainer.epochs - start)))
    return 1.0  # plateau: the lr only moves when the validation loss stalls


def build_scheduler(optimizer: torch.optim.Optimizer, trainer: DictConfig) -> LRScheduler | ReduceLROnPlateau:
    if trainer.schedule == "plateau":
        return ReduceLROnPlateau(optimizer, mode="min", factor=0.1, patience=trainer.plateau_patience)
    return LambdaLR(optimizer, lambda epoch: lr_factor(trainer, epoch))


def step_scheduler(scheduler: LRScheduler | ReduceLROnPlateau, val_loss: float) -> None:
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(val_loss)
    else:
        scheduler.step()
