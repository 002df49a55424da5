"""1.0 MobileNet-224 (Howard et al., 2017), vanilla and SE: the first row of the SE paper's Table 3.

Thirteen depthwise-separable blocks (3x3 depthwise conv, 1x1 pointwise conv, each followed by
BN and ReLU). There is no residual branch, so SE has one place: on the output of each block,
after the pointwise conv's ReLU (`se.position=standard`). That gives the +0.5M parameters of
Table 3 (4.2M -> 4.7M at r=16).

Stages follow the resolution a block outputs, numbered like ResNet's: stage 1 is the stem
(the 3x3/2 conv and the first block, both at 112 px), stages 2..5 output 56, 28, 14 and 7 px.
"""

import torch
from torch import Tensor, nn

from senet_ablate.models.registry import Classifier, per_stage, register_model
from senet_ablate.models.residual import conv1x1, init_weights

# (output channels, stride) of the 13 blocks of 1.0 MobileNet-224 (Table 1 of its paper).
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1))


def conv_bn_relu(conv: nn.Conv2d) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels), nn.ReLU(inplace=True))


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv -> BN -> ReLU -> 1x1 conv -> BN -> ReLU [-> SE]."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, se=None):
        super().__init__()
        depthwise = nn.Conv2d(in_channels, in_channels, 3, stride, padding=1, groups=in_channels, bias=False)
        self.depthwise = conv_bn_relu(depthwise)
        self.pointwise = conv_bn_relu(conv1x1(in_channels, out_channels))
        self.se = None if se is None else se(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pointwise(self.depthwise(x))
        return x if self.se is None else self.se(x)


class MobileNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        stage_attention=None,
    ):
        super().__init__()
        self.stem = conv_bn_relu(nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False))
        # a stage starts at each stride 2; the first block, before any, is the stem's and takes none
        stage_attention = (None, *per_stage(stage_attention, sum(stride == 2 for _, stride in BLOCKS)))
        blocks, in_channels, stage = [], 32, 0
        for out_channels, stride in BLOCKS:
            stage += stride == 2
            blocks.append(DepthwiseSeparable(in_channels, out_channels, stride, stage_attention[stage]))
            in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = Classifier(in_channels, num_classes)
        init_weights(self, zero_init_residual=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("imagenet", (2, 3, 4, 5), ("standard",), residual=False)
def mobilenet(**kwargs) -> MobileNet:
    """1.0 MobileNet-224."""
    return MobileNet(**kwargs)
