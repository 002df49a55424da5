"""Channel-attention blocks. Each takes `channels` first and returns a same-shaped tensor."""

from senet_ablate.attention.se import SqueezeExcitation

__all__ = ["SqueezeExcitation"]
