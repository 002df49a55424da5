"""The attention blocks by name (`attention=<name>`), each with the config keys its arguments come from.

As timm's `create_attn(attn_layer, channels, **kwargs)`, a block is a class that takes its own
typed arguments and nothing else: `register_attention("eca", reads={"kernel_size":
"eca.kernel_size"})` says which config key sets each argument, and `models/build.py` makes of it a
factory (a partial awaiting the channel width) that the model builders receive inside an
`AttentionSpec`. No block and no model sees the run's config.

A block of the user's own (a plugin, `plugins=[my_lab.blocks]`) registers the same way and
declares its keys as a dataclass: `register_attention("my_gate", config=MyGateConfig)` adds the
group `my_gate:` to the schema and reads each field into the argument of its name. The groups
that count towards a model's params and FLOPs (`attention_groups`) are those the registered
blocks read, so a new block's keys count without a list to keep.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

from torch import nn

from senet_ablate.config import register_config_group

PLACEMENT_GROUP = "se"  # se.enabled, se.position and se.stages place every block, whichever it is


@dataclass(frozen=True)
class AttentionBlock:
    module: type[nn.Module]  # built as module(channels, **arguments)
    reads: Mapping[str, str]  # constructor argument -> the dotted config key that sets it


ATTENTION: dict[str, AttentionBlock] = {}


def register_attention(
    name: str, reads: Mapping[str, str] | None = None, config: type | None = None
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Register the decorated block as `attention=<name>`, built with the arguments `reads` names
    (argument -> dotted config key); `config`, a dataclass, becomes the config group `<name>:`,
    each of its fields read into the argument of the same name (`reads` may add others' keys)."""
    own = {} if config is None else {field.name: f"{name}.{field.name}" for field in fields(config)}

    def register(module: type[nn.Module]) -> type[nn.Module]:
        if name in ATTENTION:
            raise ValueError(f"attention {name!r} is registered twice")
        if config is not None:
            register_config_group(name, config)
        ATTENTION[name] = AttentionBlock(module, {**own, **(reads or {})})
        return module

    return register


def attention_groups() -> tuple[str, ...]:
    """The config groups the registered blocks read, placement first: with `attention` and
    `model`, what a model's params and FLOPs depend on besides its input."""
    read = (key.split(".", 1)[0] for block in ATTENTION.values() for key in block.reads.values())
    return tuple(dict.fromkeys([PLACEMENT_GROUP, *read]))


@dataclass(frozen=True)
class AttentionSpec:
    """What a model needs to place attention blocks: their position (`se.position`), and a factory
    that builds one block for a given channel width."""

    position: str
    block: Callable[[int], nn.Module]

    def __call__(self, channels: int) -> nn.Module:
        return self.block(channels)
