"""The one place that says what a model is: `@register_model` next to each model's builder.

A model's name, input family, SE stages, SE positions and default layout are declared once,
with the function that builds it (as timm's `@register_model`); registering also adds the
`model=<name>` option to Hydra's config store, and the model checks and `build_model` read
`MODELS`. A model of the user's registers the same way, from a module that `plugins=` names
(docs/extending.md). The builder takes the common keyword arguments `num_classes` and
`stage_attention`: an AttentionSpec or None for each registered stage, in the order of `stages`
(None alone: no attention anywhere), which its loop takes by position through `per_stage`, so
that only the registry numbers stages. Models with residual units also take `zero_init_residual`, those with the choice
(`stride_in_1x1` not None) `stride_in_1x1`, and those with shaken branch pairs (`shake` not None)
`shake`: their default ShakeMode with the config's `model.shake_*` keys applied.

Each model declares the `se.position` values it takes; the config check accepts any value some
registered model takes (`supported_positions`), then refuses one that the chosen model lacks.

What the trainer needs of the models beyond `nn.Module` is registered here too, so that the
engine imports the package's interface (`senet_ablate.models`), never a model family's file: a
model module whose layers draw random numbers per image registers a `global_batch_hook`, a context
manager factory `(offset, size)`, and the trainer opens `global_batch(offset, size)`, all the hooks
at once, around each training step (see `shake_mix.py`, the one such module so far). And every
model's last layer is a `Classifier`, whose logits are float32 in evaluation under autocast.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass

import torch
from hydra.core.config_store import ConfigStore
from torch import Tensor, nn

from senet_ablate.attention import AttentionSpec
from senet_ablate.models.shake_mix import ShakeMode

# The places of a ResidualUnit (senet_ablate/models/residual.py): the default of residual models.
BOTTLENECK_POSITIONS = ("standard", "pre", "post", "identity", "3x3")
NO_3X3 = tuple(position for position in BOTTLENECK_POSITIONS if position != "3x3")  # no narrow inner width


@dataclass(frozen=True)
class ModelSpec:
    """Static facts about a model name, known before anything is built.

    Stages are numbered like the paper: stage 1 is the stem, stages 2.. are the residual stages
    (conv2_x .. conv5_x on ImageNet models, conv2_x .. conv4_x on the CIFAR ones).
    """

    name: str
    family: str  # "imagenet" or "cifar": the input size it is designed for
    stages: tuple[int, ...]
    positions: tuple[str, ...]
    stride_in_1x1: bool | None  # default stride placement; None where the model has no choice
    residual: bool  # built of ResidualUnit blocks, so that model.zero_init_residual applies
    builder: Callable[..., nn.Module]
    min_image_size: int = 1  # smallest data.image_size it takes (unpadded convs need a larger input)
    shake: ShakeMode | None = None  # default Shake-Shake mode; None where the model has no branch pairs


MODELS: dict[str, ModelSpec] = {}
GlobalBatchHook = Callable[[int, int], AbstractContextManager]
GLOBAL_BATCH_HOOKS: list[GlobalBatchHook] = []


def register_model(
    family: str,
    stages: tuple[int, ...],
    positions: tuple[str, ...] = BOTTLENECK_POSITIONS,
    stride_in_1x1: bool | None = None,
    residual: bool = True,
    min_image_size: int = 1,
    shake: ShakeMode | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register the decorated builder under its function name."""

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = ModelSpec(
            name, family, tuple(stages), tuple(positions), stride_in_1x1, residual, builder, min_image_size, shake
        )
        ConfigStore.instance().store(group="model", name=name, node={"name": name})  # `model=<name>` selects it
        return builder

    return register


def register_global_batch_hook(hook: GlobalBatchHook) -> GlobalBatchHook:
    """Have `global_batch(offset, size)` open `hook(offset, size)` (see the module's docstring)."""
    if hook not in GLOBAL_BATCH_HOOKS:
        GLOBAL_BATCH_HOOKS.append(hook)
    return hook


@contextmanager
def global_batch(offset: int, size: int) -> Iterator[None]:
    """While this process trains images [offset, offset + its batch) of a global batch of `size`
    images: every registered model hook is open, so that per-image random draws are those of one
    process training the whole global batch, whatever the number of processes."""
    with ExitStack() as hooks:
        for hook in GLOBAL_BATCH_HOOKS:
            hooks.enter_context(hook(offset, size))
        yield


class Classifier(nn.Linear):
    """A model's last layer, the one that computes the logits: an nn.Linear (the same weights and
    state dict) that in evaluation computes in float32 even under autocast. Logits rounded to bf16
    (3 significant digits) tie often among 1000 classes, and top-1 and top-5 then depend on how
    ties break, and on the AMP dtype, which depends on the GPU. The rest of the model, nearly all
    of the compute, still runs in the autocast dtype. Training is unchanged: the loss is computed
    in float32 from its logits either way."""

    def forward(self, features: Tensor) -> Tensor:
        device = features.device.type  # (the meta device, where complexity is counted, has no autocast)
        if self.training or device not in ("cuda", "cpu") or not torch.is_autocast_enabled(device):
            return super().forward(features)
        with torch.autocast(device, enabled=False):
            return super().forward(features.float())


def full_precision_head(model: nn.Module) -> bool:
    """Whether `model` computes its logits with a Classifier (every registered model does), so that
    it may be evaluated under autocast."""
    return any(isinstance(module, Classifier) for module in model.modules())


def supported_positions() -> list[str]:
    """Every `se.position` that some registered model takes, sorted."""
    return sorted({position for spec in MODELS.values() for position in spec.positions})


def per_stage(stage_attention: Sequence[AttentionSpec | None] | None, count: int) -> tuple[AttentionSpec | None, ...]:
    """A builder's `stage_attention` for the `count` stages its loop builds; a registry that
    declares another number of stages than the loop builds raises at the first build."""
    stage_attention = (None,) * count if stage_attention is None else tuple(stage_attention)
    if len(stage_attention) != count:
        raise ValueError(f"the model builds {count} stages, the registry declares {len(stage_attention)}")
    return stage_attention
