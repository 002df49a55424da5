"""The optimiser and the learning-rate schedules of the recipes, stepped once per epoch.

Every schedule may start with a linear warm-up from lr/10 (`trainer.warmup_epochs`). The fixed
schedules are one LambdaLR; the plateau schedule is torch's ReduceLROnPlateau behind the same
warm-up. The one-cycle schedule (fast recipes, whose few epochs want the lr to move at every step)
is torch's OneCycleLR, stepped after every optimiser step instead of every epoch. All have state
dicts, so a resumed run continues its schedule (plateau counters included) exactly where it stopped.
"""

import math

import torch
from omegaconf import DictConfig
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR, ReduceLROnPlateau


def build_optimizer(model: nn.Module, recipe: DictConfig) -> torch.optim.Optimizer:
    """`recipe.optimizer` at `recipe.lr`, exactly as configured (presets put the linear rule in the
    config itself): torch's SGD, or timm's optimiser of that name with timm's parameter groups
    (no weight decay on biases and normalisation weights, as its train.py)."""
    if recipe.optimizer != "sgd":
        from timm.optim import create_optimizer_v2

        return create_optimizer_v2(
            model, recipe.optimizer, lr=recipe.lr, weight_decay=recipe.weight_decay, momentum=recipe.momentum
        )
    return sgd(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )


def sgd(parameters, **settings) -> torch.optim.SGD:
    """torch's SGD, with its fused kernel where the parameters are on CUDA (`fused_kernel`)."""
    parameters = list(parameters)
    return torch.optim.SGD(parameters, fused=fused_kernel(parameters), **settings)


def fused_kernel(parameters: list[torch.Tensor]) -> bool | None:
    """True (SGD's fused kernel) where every parameter is on CUDA, else None (torch's default).

    Besides one kernel for all parameters: fp16's GradScaler, given an unfused optimiser, reads
    on the host whether any gradient was infinite (an `.item()`, a sync at every step); a fused
    one checks on the device and skips the step there."""
    return True if parameters and all(parameter.device.type == "cuda" for parameter in parameters) else None


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """`optimizer.load_state_dict(state)`, keeping the kernel chosen for this run's device: torch
    takes `fused` from the checkpoint's groups, so a run resumed on another device kept the other's."""
    optimizer.load_state_dict(state)
    if type(optimizer) is torch.optim.SGD:  # `sgd`'s; timm's optimisers keep their own choice
        for group in optimizer.param_groups:
            group["fused"] = fused_kernel(group["params"])


def warmup_factor(recipe: DictConfig, epoch: int) -> float:
    """lr/10 at epoch 0, rising linearly to the full lr at `warmup_epochs`; 1 after it."""
    if epoch < recipe.warmup_epochs:
        return 0.1 + 0.9 * epoch / recipe.warmup_epochs
    return 1.0


def lr_factor(recipe: DictConfig, epoch: int) -> float:
    """Multiplier of the peak lr during `epoch` (0-based) for the fixed schedules."""
    if epoch < recipe.warmup_epochs:
        return warmup_factor(recipe, epoch)
    if recipe.schedule == "step":
        return 0.1 ** (epoch // recipe.step_epochs)
    if recipe.schedule == "multistep":
        milestones = [round(fraction * recipe.epochs) for fraction in recipe.milestones]
        return 0.1 ** sum(epoch >= milestone for milestone in milestones)
    start = recipe.warmup_epochs  # cosine: from the peak after warm-up down to 0 at the last epoch
    return 0.5 * (1 + math.cos(math.pi * (epoch - start) / max(1, recipe.epochs - start)))


class WarmupThenPlateau:
    """Warm-up epochs, then lr /10 whenever the validation loss stops improving, at most
    `plateau_drops` times (the lr then stays at peak / 10**drops).

    torch cannot chain ReduceLROnPlateau in a SequentialLR, hence this pair: the plateau detector
    sees only the losses of epochs trained at the full lr.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, recipe: DictConfig):
        self.warmup_epochs = recipe.warmup_epochs
        self.warmup = LambdaLR(optimizer, lambda epoch: warmup_factor(recipe, epoch))
        drops = recipe.plateau_drops
        floor = 0.0 if drops is None else recipe.lr * 0.1**drops  # reached after `drops` drops; no lower
        self.plateau = ReduceLROnPlateau(
            optimizer, mode="min", factor=0.1, patience=recipe.plateau_patience, min_lr=floor
        )

    def step(self, val_loss: float) -> None:
        if self.warmup.last_epoch < self.warmup_epochs:
            self.warmup.step()
        else:
            self.plateau.step(val_loss)

    def state_dict(self) -> dict:
        return {"warmup": self.warmup.state_dict(), "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.warmup.load_state_dict(state["warmup"])
        self.plateau.load_state_dict(state["plateau"])


def build_scheduler(
    optimizer: torch.optim.Optimizer, recipe: DictConfig, updates_per_epoch: int = 1
) -> LRScheduler | WarmupThenPlateau:
    """The schedule of `recipe`; `updates_per_epoch` (optimiser steps) sizes the one-cycle schedule."""
    if recipe.schedule == "plateau":
        return WarmupThenPlateau(optimizer, recipe)
    if recipe.schedule == "onecycle":
        # One lr more than the run's updates: the peak is the lr of the first update after the
        # warm-up epochs, and the lowest the one left after the last update (the last epoch's lr).
        total = recipe.epochs * updates_per_epoch + 1
        return OneCycleLR(
            optimizer,
            max_lr=recipe.lr,
            total_steps=total,
            pct_start=(recipe.warmup_epochs * updates_per_epoch + 1) / total,
            anneal_strategy="linear",
            cycle_momentum=False,  # trainer.momentum stays as configured
            div_factor=10,  # from lr/10, as the other schedules' warm-up
        )
    return LambdaLR(optimizer, lambda epoch: lr_factor(recipe, epoch))


def step_scheduler(scheduler: LRScheduler | WarmupThenPlateau, val_loss: float) -> None:
    """Advance the schedule by one epoch; only the plateau schedule reads the validation loss, and
    the one-cycle schedule moves at every optimiser step instead (`step_after_update`)."""
    if isinstance(scheduler, WarmupThenPlateau):
        scheduler.step(val_loss)
    elif not isinstance(scheduler, OneCycleLR):
        scheduler.step()


def step_after_update(scheduler: LRScheduler | WarmupThenPlateau) -> None:
    """Advance a per-step schedule (one-cycle) after an optimiser step; the others wait for the epoch's end."""
    if isinstance(scheduler, OneCycleLR):
        scheduler.step()
