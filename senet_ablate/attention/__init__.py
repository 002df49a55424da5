"""Attention blocks that sit where the paper puts SE; `attention=<name>` picks one.

Each block is a module of its own class and typed arguments, registered with the config keys it
reads (`registry.py`); models never name one: they receive an `AttentionSpec` (where blocks go,
and a factory per channel width). A new block needs no change here: register it from a module of
your own, named in `plugins=` (docs/extending.md), with its keys as a dataclass.
Blocks that scale their input by per-channel weights also expose `excitation(x)`, which lets the
residual unit fuse the scale with the shortcut addition.
"""

from senet_ablate.attention import cbam, eca  # noqa: F401  (each registers its block)
from senet_ablate.attention.registry import ATTENTION, AttentionSpec, attention_groups, register_attention
from senet_ablate.attention.se import SqueezeExcitation

__all__ = ["ATTENTION", "AttentionSpec", "SqueezeExcitation", "attention_groups", "register_attention"]
