"""ShuffleNet 1x, g=3 (Zhang et al., 2018), vanilla and SE: the second row of the SE paper's Table 3.

A unit: 1x1 group conv -> BN -> ReLU -> channel shuffle -> 3x3 depthwise conv -> BN -> 1x1
group conv -> BN, added to the input (stride 1), or concatenated with the input's 3x3/2 average
pool (stride 2, the branch then widening by what the stage adds); ReLU after either. SE sits on
the branch before the addition or concatenation (`se.position=standard`), as in SE-ResNet, so a
down-sampling unit's SE sees only the branch's channels. The first unit's first 1x1 conv is not
grouped (its 24 input channels are too few), as in the ShuffleNet paper.

Stages are numbered like ResNet's: 1 is the stem (3x3/2 conv, 3x3/2 max pool), 2..4 the three
stages of units (at 28, 14 and 7 px).
"""

import torch
from torch import Tensor, nn

from senet_ablate.models.registry import Classifier, per_stage, register_model
from senet_ablate.models.residual import init_weights

GROUPS = 3
STAGE_CHANNELS = (240, 480, 960)  # 1x with g=3
STAGE_UNITS = (4, 8, 4)
STEM_CHANNELS = 24


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of the groups, so that the next group conv mixes them."""
    count, channels, height, width = x.shape
    return x.view(count, groups, channels // groups, height, width).transpose(1, 2).reshape(x.shape)


class ShuffleUnit(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, group_first: bool, se=None):
        super().__init__()
        self.stride = stride
        branch_channels = out_channels - in_channels if stride == 2 else out_channels
        hidden = out_channels // 4
        self.groups_first = GROUPS if group_first else 1
        self.conv1 = nn.Conv2d(in_channels, hidden, 1, groups=self.groups_first, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, stride, padding=1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, branch_channels, 1, groups=GROUPS, bias=False)
        self.bn3 = nn.BatchNorm2d(branch_channels)
        self.relu = nn.ReLU(inplace=True)
        self.se = None if se is None else se(branch_channels)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        if self.groups_first > 1:
            out = channel_shuffle(out, self.groups_first)
        out = self.bn3(self.conv3(self.bn2(self.conv2(out))))
        if self.se is not None:
            out = self.se(out)
        if self.pool is not None:
            return self.relu(torch.cat([self.pool(x), out], dim=1))
        return self.relu(out + x)


class ShuffleNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 1000,
        stage_attention=None,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(3, STEM_CHANNELS, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = STEM_CHANNELS
        stages = zip(STAGE_CHANNELS, STAGE_UNITS, per_stage(stage_attention, len(STAGE_UNITS)), strict=True)
        for index, (out_channels, units, stage_se) in enumerate(stages):
            stage = []
            for unit in range(units):
                group_first = not (index == 0 and unit == 0)
                stage.append(ShuffleUnit(in_channels, out_channels, 2 if unit == 0 else 1, group_first, stage_se))
                in_channels = out_channels
            setattr(self, f"stage{index + 2}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = Classifier(in_channels, num_classes)
        init_weights(self, zero_init_residual=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.stage4(self.stage3(self.stage2(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("imagenet", (2, 3, 4), ("standard",), residual=False)
def shufflenet_g3(**kwargs) -> ShuffleNet:
    """ShuffleNet 1x (g=3)."""
    return ShuffleNet(**kwargs)
