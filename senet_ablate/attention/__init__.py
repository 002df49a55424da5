"""Attention blocks that sit where the paper puts SE; `attention=<name>` picks one.

A module registers itself with `@register_attention(name)` and builds itself from the run's
config with `from_config(channels, cfg)`, reading `se.*` (reduction, ...) and its own keys
(`eca.*`, `cbam.*`). Models never name a module: they receive an `AttentionSpec` (where blocks go,
and a builder per channel width), so a new module is one file here plus its keys in config.py.
Modules that scale their input by per-channel weights also expose `excitation(x)`, which lets the
residual unit fuse the scale with the shortcut addition.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

ATTENTION: dict[str, type[nn.Module]] = {}


def register_attention(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def register(module: type[nn.Module]) -> type[nn.Module]:
        if name in ATTENTION:
            raise ValueError(f"attention {name!r} is registered twice")
        ATTENTION[name] = module
        return module

    return register


@dataclass(frozen=True)
class AttentionSpec:
    """What a model needs to place attention blocks: their position, and one block per width."""

    name: str  # a key of ATTENTION
    position: str  # se.position
    cfg: Any  # the run's config, read by the module's from_config

    def __call__(self, channels: int) -> nn.Module:
        return ATTENTION[self.name].from_config(channels, self.cfg)


from senet_ablate.attention import cbam, eca  # noqa: E402, F401  (each registers its module)
from senet_ablate.attention.se import SqueezeExcitation  # noqa: E402

__all__ = ["ATTENTION", "AttentionSpec", "SqueezeExcitation", "register_attention"]
