"""Our (SE-)ResNets as Faster R-CNN backbones with FPN, for the SE paper's COCO table (Table 7).

torchvision's detection models do the rest (RPN, RoI heads, losses, COCO evaluation in its
`references/detection`); this module only supplies the backbone in the form they expect, built
from the same config keys as a classification run, so `se.*` axes apply to detection too.
As torchvision does for its ResNet backbones, BatchNorm is frozen (detection batches are a few
images per GPU) and only the last `trainable_stages` residual stages train.
"""

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.engine.checkpoint import load_checkpoint
from senet_ablate.models.build import build_model
from senet_ablate.models.resnet import ResNet

STAGE_LAYERS = ("layer1", "layer2", "layer3", "layer4")  # paper stages 2..5


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm2d replaced by a FrozenBatchNorm2d holding its statistics."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, key).copy_(getattr(child, key).detach())
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


def detection_backbone(
    overrides: Sequence[str] = (), trainable_stages: int = 3, checkpoint: str | Path | None = None
) -> BackboneWithFPN:
    """An FPN over stages 2..5 of the ImageNet ResNet that `overrides` configure (e.g.
    `["model=resnet101", "se.enabled=false"]`), initialised from `checkpoint` if given: the
    `results/runs/<run_id>/checkpoint.pt` of an ImageNet run of the same config, as the paper
    started detection from its ImageNet models."""
    cfg = compose_config(list(overrides))
    model = build_model(cfg)
    if not isinstance(model, ResNet):
        raise ConfigError("model.name", cfg.model.name, "a detection backbone is an ImageNet ResNet or ResNeXt")
    if checkpoint is not None:
        # a checkpoint whose weights do not fit this model counts as damaged (named in a warning)
        state = load_checkpoint(
            Path(checkpoint), torch.device("cpu"), lambda state: model.load_state_dict(state["model"])
        )
        if state is None:
            raise ConfigError("checkpoint", str(checkpoint), "no readable checkpoint of this model there")
    if not 0 <= trainable_stages <= len(STAGE_LAYERS):
        raise ConfigError("trainable_stages", trainable_stages, "must be 0 <= trainable_stages <= 4")
    trainable = STAGE_LAYERS[len(STAGE_LAYERS) - trainable_stages :]
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name.split(".")[0] in trainable)
    channels = [getattr(model, layer)[-1].bn3.num_features for layer in STAGE_LAYERS]
    freeze_batchnorm(model)
    return BackboneWithFPN(
        model,
        return_layers={layer: str(index) for index, layer in enumerate(STAGE_LAYERS)},
        in_channels_list=channels,
        out_channels=256,
        extra_blocks=LastLevelMaxPool(),
    )


def faster_rcnn(
    overrides: Sequence[str] = (), num_classes: int = 91, checkpoint: str | Path | None = None, **kwargs
) -> FasterRCNN:
    """torchvision's Faster R-CNN with FPN on our backbone; `kwargs` go to FasterRCNN (e.g.
    `min_size`). 91 classes: COCO's category ids, as torchvision's COCO models."""
    return FasterRCNN(detection_backbone(overrides, checkpoint=checkpoint), num_classes=num_classes, **kwargs)
