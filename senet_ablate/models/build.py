"""Config -> nn.Module."""

from omegaconf import DictConfig, OmegaConf
from torch import nn

from senet_ablate.config import check_config, se_stages
from senet_ablate.model_specs import MODEL_SPECS
from senet_ablate.models.cifar import CIFAR_DEPTHS, CifarResNet
from senet_ablate.models.resnet import IMAGENET_DEPTHS, ResNet


def build_model(cfg: DictConfig) -> nn.Module:
    """Build `cfg.model.name` with the SE settings of `cfg.se` and `cfg.data.num_classes` outputs."""
    check_config(cfg)
    name = cfg.model.name
    se = OmegaConf.to_object(cfg.se) if cfg.se.enabled else None
    common = dict(
        num_classes=cfg.data.num_classes,
        se=se,
        se_stages=se_stages(cfg) if se else (),
        zero_init_residual=cfg.model.zero_init_residual,
    )
    if name in IMAGENET_DEPTHS:
        stride_in_1x1 = cfg.model.stride_in_1x1
        if stride_in_1x1 is None:
            stride_in_1x1 = MODEL_SPECS[name].stride_in_1x1
        return ResNet(**IMAGENET_DEPTHS[name], stride_in_1x1=stride_in_1x1, **common)
    return CifarResNet(**CIFAR_DEPTHS[name], **common)
