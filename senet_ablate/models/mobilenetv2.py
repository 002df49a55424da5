"""1.0 MobileNetV2-224 (Sandler et al., 2018), vanilla and with attention at one of two places.

Seventeen inverted residual (MBConv) blocks: a 1x1 conv expands the width t-fold (t = 1 in the
first block: no expansion conv), a 3x3 depthwise conv filters it, each followed by BN and ReLU6;
a 1x1 projection with BN and no activation (the linear bottleneck) narrows it again, and the
input is added back where stride and width allow. The layout is Table 2 of that paper, with the
last 1x1 conv to 1280 channels; no dropout before the classifier, which the paper does not list
(torchvision adds p=0.2, which changes no count). Its Table 4 prints 3.4M parameters and 300M
multiply-adds at 224 px; we count 3,504,872 (torchvision's and timm's figure; 3,470,760 without
BN's scales and shifts, which truncates to 3.4M) and 300.8M in convs and the classifier.

Beyond the SE paper: where does SE go in an MBConv block? `se.position` chooses one of two places.
  after_depthwise  on the expanded width, after the depthwise conv's ReLU6 and before the
                   projection: EfficientNet's and MnasNet's placement.
  standard         on the projection's output, before the residual addition: the SE paper's
                   placement in residual units (section 3.3, Fig. 3).
The hidden width is the project's rule, `max(1, C // se.reduction)` of the width C where the
block sits (expanded or output), never rounded. Blocks without a residual (stride 2 or a width
change) get the block at both places too.

Stages follow the resolution a block outputs, numbered like ResNet's (and senet_ablate's
MobileNet): stage 1 is the stem and the first block (112 px), stages 2..5 output 56, 28, 14 and
7 px. Stage 1's block takes attention too, so `se.stages=all` puts it in every block, as
EfficientNet-B0 does; the stem and the last 1x1 conv never get one.
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from senet_ablate.attention import AttentionSpec
from senet_ablate.models.registry import Classifier, per_stage, register_model
from senet_ablate.models.residual import conv1x1, init_weights

# (expansion t, output channels c, blocks n, stride s of the first) per row of Table 2 of Sandler et al.
INVERTED_RESIDUALS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280


def conv_bn_relu6(conv: nn.Conv2d) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """[1x1 expand -> BN -> ReLU6] -> 3x3 depthwise -> BN -> ReLU6 -> [after_depthwise]
    -> 1x1 project -> BN -> [standard] -> (+ input, where stride 1 keeps the width)."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, expansion: int, se: AttentionSpec | None = None
    ):
        super().__init__()
        hidden = in_channels * expansion
        self.expand = conv_bn_relu6(conv1x1(in_channels, hidden)) if expansion != 1 else nn.Identity()
        self.depthwise = conv_bn_relu6(nn.Conv2d(hidden, hidden, 3, stride, padding=1, groups=hidden, bias=False))
        self.project = nn.Sequential(conv1x1(hidden, out_channels), nn.BatchNorm2d(out_channels))
        self.has_residual = stride == 1 and in_channels == out_channels
        self.se_position = None if se is None else se.position
        self.se = None if se is None else se(hidden if se.position == "after_depthwise" else out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.depthwise(self.expand(x))
        if self.se_position == "after_depthwise":
            out = self.se(out)
        out = self.project(out)
        if self.se_position == "standard":
            out = self.se(out)
        return x + out if self.has_residual else out


class MobileNetV2(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        stage_attention: Sequence[AttentionSpec | None] | None = None,
    ):
        super().__init__()
        self.stem = conv_bn_relu6(nn.Conv2d(3, STEM_CHANNELS, 3, stride=2, padding=1, bias=False))
        # the stem's stage, then one more at each stride 2
        stage_attention = per_stage(stage_attention, 1 + sum(row[3] == 2 for row in INVERTED_RESIDUALS))
        blocks, in_channels, stage = [], STEM_CHANNELS, 0
        for expansion, out_channels, repeats, first_stride in INVERTED_RESIDUALS:
            for index in range(repeats):
                stride = first_stride if index == 0 else 1
                stage += stride == 2
                blocks.append(InvertedResidual(in_channels, out_channels, stride, expansion, stage_attention[stage]))
                in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = conv_bn_relu6(conv1x1(in_channels, HEAD_CHANNELS))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = Classifier(HEAD_CHANNELS, num_classes)
        init_weights(self, zero_init_residual=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("imagenet", (1, 2, 3, 4, 5), ("after_depthwise", "standard"), residual=False)
def mobilenet_v2(**kwargs) -> MobileNetV2:
    """1.0 MobileNetV2-224."""
    return MobileNetV2(**kwargs)
