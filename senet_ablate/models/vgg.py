"""VGG-16 with BatchNorm (Simonyan & Zisserman, 2015), vanilla and SE: a row of the SE paper's Table 2.

The paper trains VGG-16 with BN after each convolution and integrates SE "after the
non-linearity following each convolution" (section 3.3): 13 SE blocks, one per conv, so
`se.position=standard` is that place. Layers are laid out as torchvision's `vgg16_bn`
(including the 7x7 adaptive pool before the classifier), so the parameter counts agree.

Stages follow VGG's own naming, conv1_x .. conv5_x: stage k is the k-th block of convs (VGG has
no separate stem).
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from senet_ablate.models.registry import Classifier, per_stage, register_model
from senet_ablate.models.residual import init_weights

# Output channels of the convs of each stage of VGG-16; each stage ends with a 2x2/2 max pool.
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


class ConvBNReLU(nn.Module):
    """3x3 conv (with a bias, as torchvision's vgg16_bn) -> BN -> ReLU [-> SE]."""

    def __init__(self, in_channels: int, out_channels: int, se=None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.se = None if se is None else se(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn(self.conv(x)))
        return x if self.se is None else self.se(x)


class VGG(nn.Module):
    def __init__(
        self,
        stages: Sequence[Sequence[int]],
        num_classes: int = 1000,
        stage_attention=None,
    ):
        super().__init__()
        in_channels = 3
        for index, (widths, stage_se) in enumerate(zip(stages, per_stage(stage_attention, len(stages)), strict=True)):
            layers = []
            for width in widths:
                layers.append(ConvBNReLU(in_channels, width, stage_se))
                in_channels = width
            setattr(self, f"stage{index + 1}", nn.Sequential(*layers, nn.MaxPool2d(2)))
        self.stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(in_channels * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            Classifier(4096, num_classes),
        )
        init_weights(self, zero_init_residual=False)

    def forward(self, x: Tensor) -> Tensor:
        for index in range(self.stages):
            x = getattr(self, f"stage{index + 1}")(x)
        return self.classifier(torch.flatten(self.avgpool(x), 1))


@register_model("imagenet", (1, 2, 3, 4, 5), ("standard",), residual=False)
def vgg16(**kwargs) -> VGG:
    """VGG-16 with BN."""
    return VGG(VGG16_STAGES, **kwargs)
