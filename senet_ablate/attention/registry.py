"""The attention blocks by name (`attention=<name>`), each with the config keys its arguments come from.

As timm's `create_attn(attn_layer, channels, **kwargs)`, a block is a class that takes its own
typed arguments and nothing else: `register_attention("eca", reads={"kernel_size":
"eca.kernel_size"})` says which config key sets each argument, and `models/build.py` makes of it a
factory (a partial awaiting the channel width) that the model builders receive inside an
`AttentionSpec`. No block and no model sees the run's config.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class AttentionBlock:
    module: type[nn.Module]  # built as module(channels, **arguments)
    reads: Mapping[str, str]  # constructor argument -> the dotted config key that sets it


ATTENTION: dict[str, AttentionBlock] = {}


def register_attention(name: str, reads: Mapping[str, str]) -> Callable[[type[nn.Module]], type[nn.Module]]:
    def register(module: type[nn.Module]) -> type[nn.Module]:
        if name in ATTENTION:
            raise ValueError(f"attention {name!r} is registered twice")
        ATTENTION[name] = AttentionBlock(module, dict(reads))
        return module

    return register


@dataclass(frozen=True)
class AttentionSpec:
    """What a model needs to place attention blocks: their position (`se.position`), and a factory
    that builds one block for a given channel width."""

    position: str
    block: Callable[[int], nn.Module]

    def __call__(self, channels: int) -> nn.Module:
        return self.block(channels)
