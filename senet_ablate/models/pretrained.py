"""Load published ImageNet weights (timm `seresnet50`, torchvision `resnet50`) into our models."""

from collections.abc import Mapping

import torch
from torch import nn

from senet_ablate.base.errors import ConfigError

SOURCES = ("timm", "torchvision")


def load_pretrained(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """Copy `state_dict` from `source` into `model` in place and return it.

    Our modules are named like torchvision's ResNet and our SE like timm's SEModule (`se.fc1`,
    `se.fc2`), so no key is renamed; what this checks is that the two networks compute the
    same function: both sources are trained in the torchvision layout (stride in the 3x3), so a
    model in the paper's Caffe layout would load without a shape error and silently compute
    something else. Every key and shape must match exactly.
    """
    if source not in SOURCES:
        raise ConfigError("source", source, "choose one of " + ", ".join(SOURCES))
    if getattr(model, "stride_in_1x1", False):
        raise ConfigError(
            "model.stride_in_1x1",
            True,
            f"{source} weights are trained with the stride in the 3x3 conv: build with false",
        )
    ours = model.state_dict()
    missing = sorted(set(ours) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(ours))
    if missing or unexpected:
        raise ConfigError(
            "state_dict",
            f"{len(missing)} missing keys (e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})",
            f"a {source} state dict of the same architecture and SE settings",
        )
    for key, tensor in state_dict.items():
        if tuple(tensor.shape) != tuple(ours[key].shape):
            raise ConfigError(
                f"state_dict[{key!r}]", tuple(tensor.shape), f"shape {tuple(ours[key].shape)} (check se.reduction)"
            )
    model.load_state_dict(state_dict)
    return model
