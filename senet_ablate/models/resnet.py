"""ImageNet ResNet and ResNeXt with SE blocks, named like torchvision's so weights load as-is."""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from senet_ablate.models.registry import Classifier, per_stage, register_model
from senet_ablate.models.residual import ResidualUnit, conv1x1, conv3x3, init_weights


class Bottleneck(ResidualUnit):
    """1x1 -> 3x3 -> 1x1 bottleneck, post-activation (ResNet v1).

    `stride_in_1x1=True` puts a down-sampling block's stride in the first 1x1 conv, as the
    paper's Caffe models do (ResNet-50: 3.86 GFLOPs); False puts it in the 3x3 conv, as
    torchvision and timm do (4.09 GFLOPs).
    """

    expansion = 4
    zero_init_layer = "bn3"

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        groups: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = True,
        se=None,
    ):
        super().__init__()
        width = int(planes * base_width / 64) * groups
        out_channels = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = conv1x1(in_channels, width, stride_1x1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride_3x3, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
        self.attach_se(se, out_channels, in_channels, inner_channels=width)

    def residual(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.maybe_se(self.relu(self.bn2(self.conv2(out))), "3x3")
        return self.bn3(self.conv3(out))

    def shortcut(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)

    def merge(self, summed: Tensor) -> Tensor:
        return self.relu(summed)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max pool), four bottleneck stages (paper stages 2..5), classifier."""

    def __init__(
        self,
        layers: Sequence[int],
        num_classes: int = 1000,
        groups: int = 1,
        base_width: int = 64,
        stride_in_1x1: bool = True,
        stage_attention=None,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        self.stride_in_1x1 = stride_in_1x1
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        stages = zip((64, 128, 256, 512), layers, per_stage(stage_attention, len(layers)), strict=True)
        for index, (planes, blocks, stage_se) in enumerate(stages):
            stride = 1 if index == 0 else 2
            stage_blocks = []
            for block_index in range(blocks):
                stage_blocks.append(
                    Bottleneck(
                        in_channels,
                        planes,
                        stride if block_index == 0 else 1,
                        groups,
                        base_width,
                        stride_in_1x1,
                        stage_se,
                    )
                )
                in_channels = planes * Bottleneck.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*stage_blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = Classifier(in_channels, num_classes)
        init_weights(self, zero_init_residual)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


STAGES = (2, 3, 4, 5)


@register_model("imagenet", STAGES, stride_in_1x1=True)
def resnet50(**kwargs) -> ResNet:
    return ResNet((3, 4, 6, 3), **kwargs)


@register_model("imagenet", STAGES, stride_in_1x1=True)
def resnet101(**kwargs) -> ResNet:
    return ResNet((3, 4, 23, 3), **kwargs)


@register_model("imagenet", STAGES, stride_in_1x1=True)
def resnet152(**kwargs) -> ResNet:
    return ResNet((3, 8, 36, 3), **kwargs)


# The paper's ResNeXt models carry the stride in the grouped 3x3 conv (4.24 and 7.99 GFLOPs).
@register_model("imagenet", STAGES, stride_in_1x1=False)
def resnext50_32x4d(**kwargs) -> ResNet:
    return ResNet((3, 4, 6, 3), groups=32, base_width=4, **kwargs)


@register_model("imagenet", STAGES, stride_in_1x1=False)
def resnext101_32x4d(**kwargs) -> ResNet:
    return ResNet((3, 4, 23, 3), groups=32, base_width=4, **kwargs)
