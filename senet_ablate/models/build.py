"""Config -> nn.Module, through the model registry."""

from collections.abc import Callable
from functools import partial

from omegaconf import DictConfig, OmegaConf
from torch import nn

from senet_ablate.attention import ATTENTION, AttentionSpec
from senet_ablate.config import check_config
from senet_ablate.models.checks import check_model, se_stages
from senet_ablate.models.registry import MODELS


def attention_factory(cfg: DictConfig) -> Callable[[int], nn.Module]:
    """The block `attention=` names, with its arguments read from the config keys it declares: a
    partial that awaits only the channel width, so the model builders never see the config."""
    block = ATTENTION[cfg.attention]
    return partial(block.module, **{argument: OmegaConf.select(cfg, key) for argument, key in block.reads.items()})


def build_model(cfg: DictConfig) -> nn.Module:
    """Build `cfg.model.name` with the SE settings of `cfg.se` and `cfg.data.num_classes` outputs."""
    check_config(cfg)
    check_model(cfg)
    spec = MODELS[cfg.model.name]
    se = AttentionSpec(cfg.se.position, attention_factory(cfg)) if cfg.se.enabled else None
    chosen = se_stages(cfg) if se else ()
    stage_attention = tuple(se if stage in chosen else None for stage in spec.stages)  # the registry's order
    options = dict(num_classes=cfg.data.num_classes, stage_attention=stage_attention)
    if spec.residual:
        options["zero_init_residual"] = cfg.model.zero_init_residual
    if spec.stride_in_1x1 is not None:
        stride_in_1x1 = cfg.model.stride_in_1x1
        options["stride_in_1x1"] = spec.stride_in_1x1 if stride_in_1x1 is None else stride_in_1x1
    if spec.shake is not None:
        model = cfg.model
        options["shake"] = spec.shake.overridden(model.shake_forward, model.shake_backward, model.shake_level)
    return spec.builder(**options)
