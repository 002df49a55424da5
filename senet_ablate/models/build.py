"""Config -> nn.Module, through the model registry."""

from omegaconf import DictConfig
from torch import nn

from senet_ablate.attention import AttentionSpec
from senet_ablate.config import check_config, se_stages
from senet_ablate.models.registry import MODELS


def build_model(cfg: DictConfig) -> nn.Module:
    """Build `cfg.model.name` with the SE settings of `cfg.se` and `cfg.data.num_classes` outputs."""
    check_config(cfg)
    spec = MODELS[cfg.model.name]
    se = AttentionSpec(cfg.attention, cfg.se.position, cfg) if cfg.se.enabled else None
    options = dict(
        num_classes=cfg.data.num_classes,
        se=se,
        se_stages=se_stages(cfg) if se else (),
    )
    if spec.residual:
        options["zero_init_residual"] = cfg.model.zero_init_residual
    if spec.stride_in_1x1 is not None:
        stride_in_1x1 = cfg.model.stride_in_1x1
        options["stride_in_1x1"] = spec.stride_in_1x1 if stride_in_1x1 is None else stride_in_1x1
    if spec.shake is not None:
        model = cfg.model
        options["shake"] = spec.shake.overridden(model.shake_forward, model.shake_backward, model.shake_level)
    return spec.builder(**options)
