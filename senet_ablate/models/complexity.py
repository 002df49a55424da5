"""Parameters and GFLOPs of a configured model, counted by torch's FlopCounterMode.

GFLOPs here are multiply-adds of convolutions and linear layers (FlopCounterMode counts a
multiply-add as 2 FLOPs, so its total is halved), at `data.image_size`, batch 1. Pooling,
element-wise ops and the SE block's channel-wise scale are not counted: this is the convention
of the paper's ResNet-50 ablation tables (vanilla 3.858, SE 3.8605 -> printed 3.86 / 3.87).
The command line is `python -m senet_ablate.complexity`.
"""

from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from senet_ablate.models.build import build_model


@dataclass(frozen=True)
class Complexity:
    params_m: float  # parameters, millions
    gflops: float  # multiply-adds of convs and linears, billions, one image


def count_complexity(model: nn.Module, image_size: int) -> Complexity:
    """Count `model` on one `image_size` x `image_size` RGB image in eval mode."""
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size))
    model.train(was_training)
    return Complexity(params_m=params / 1e6, gflops=counter.get_total_flops() / 2 / 1e9)


def config_complexity(cfg: DictConfig) -> Complexity:
    """Counted on the meta device: shapes only, no memory or arithmetic, so even ResNet-152 at
    224x224 is counted in well under a second."""
    with torch.device("meta"):
        model = build_model(cfg)
        return count_complexity(model, cfg.data.image_size)
