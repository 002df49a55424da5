"""CIFAR networks of the paper's CIFAR tables: ResNet-110, ResNet-164, WRN-16-8 (+ resnet20).

All have a 3x3 stem (paper stage 1) and three residual stages (stages 2, 3, 4) of 16/32/64
base channels at 32/16/8 pixels.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from senet_ablate.models.registry import BOTTLENECK_POSITIONS, NO_3X3, Classifier, per_stage, register_model
from senet_ablate.models.residual import ResidualUnit, conv1x1, conv3x3, init_weights


class BasicBlock(ResidualUnit):
    """Post-activation 3x3-3x3 block with the parameter-free shortcut of He et al.'s CIFAR nets
    (option A: stride-2 subsampling, extra channels zero-padded)."""

    zero_init_layer = "bn2"

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, se=None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.stride = stride
        self.pad_channels = out_channels - in_channels
        self.attach_se(se, out_channels, in_channels)

    def residual(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def shortcut(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad_channels:
            x = F.pad(x, (0, 0, 0, 0, 0, self.pad_channels))
        return x

    def merge(self, summed: Tensor) -> Tensor:
        return self.relu(summed)


class _PreActShortcut(ResidualUnit):
    """Pre-activation blocks share a 1x1 projection shortcut when the shape changes.

    The projection reads the block's raw input (not its pre-activated one), which keeps the
    SE positions defined on the same tensors as in the post-activation blocks.
    """

    def make_shortcut(self, in_channels: int, out_channels: int, stride: int) -> None:
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = conv1x1(in_channels, out_channels, stride)

    def shortcut(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)


class PreActBottleneck(_PreActShortcut):
    """BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (He et al., Identity Mappings): ResNet-164."""

    expansion = 4
    zero_init_layer = "conv3"

    def __init__(self, in_channels: int, planes: int, stride: int = 1, se=None):
        super().__init__()
        out_channels = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv1x1(in_channels, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.make_shortcut(in_channels, out_channels, stride)
        self.attach_se(se, out_channels, in_channels, inner_channels=planes)

    def residual(self, x: Tensor) -> Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.maybe_se(self.conv2(self.relu(self.bn2(out))), "3x3")
        return self.conv3(self.relu(self.bn3(out)))


class WideBasicBlock(_PreActShortcut):
    """BN-ReLU-3x3, BN-ReLU-3x3 (Zagoruyko & Komodakis, no dropout): WRN-16-8."""

    zero_init_layer = "conv2"

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, se=None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.make_shortcut(in_channels, out_channels, stride)
        self.attach_se(se, out_channels, in_channels)

    def residual(self, x: Tensor) -> Tensor:
        out = self.conv1(self.relu(self.bn1(x)))
        return self.conv2(self.relu(self.bn2(out)))


class CifarResNet(nn.Module):
    """3x3 stem, three stages of `blocks_per_stage` blocks, global pool, classifier.

    Pre-activation networks end with BN-ReLU before the pool; post-activation ones apply
    BN-ReLU in the stem.
    """

    def __init__(
        self,
        block: str,
        blocks_per_stage: int,
        widths: Sequence[int],
        num_classes: int = 10,
        stage_attention=None,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        block_class = {"basic": BasicBlock, "preact_bottleneck": PreActBottleneck, "wide": WideBasicBlock}[block]
        self.preact = block_class is not BasicBlock
        self.conv1 = conv3x3(3, 16)
        self.bn1 = None if self.preact else nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        in_channels = 16
        for index, (width, stage_se) in enumerate(zip(widths, per_stage(stage_attention, len(widths)), strict=True)):
            stage_blocks = []
            for block_index in range(blocks_per_stage):
                stride = 2 if index > 0 and block_index == 0 else 1
                stage_blocks.append(block_class(in_channels, width, stride, se=stage_se))
                in_channels = width * getattr(block_class, "expansion", 1)
            setattr(self, f"layer{index + 1}", nn.Sequential(*stage_blocks))
        self.final_bn = nn.BatchNorm2d(in_channels) if self.preact else None
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = Classifier(in_channels, num_classes)
        init_weights(self, zero_init_residual)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.relu(self.bn1(x))
        x = self.layer3(self.layer2(self.layer1(x)))
        if self.final_bn is not None:
            x = self.relu(self.final_bn(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


STAGES = (2, 3, 4)


@register_model("cifar", STAGES, NO_3X3)
def resnet20(**kwargs) -> CifarResNet:
    return CifarResNet("basic", 3, (16, 32, 64), **kwargs)


@register_model("cifar", STAGES, NO_3X3)
def resnet110(**kwargs) -> CifarResNet:
    return CifarResNet("basic", 18, (16, 32, 64), **kwargs)


@register_model("cifar", STAGES, BOTTLENECK_POSITIONS)
def resnet164(**kwargs) -> CifarResNet:
    return CifarResNet("preact_bottleneck", 18, (16, 32, 64), **kwargs)


@register_model("cifar", STAGES, NO_3X3)
def wrn16_8(**kwargs) -> CifarResNet:
    return CifarResNet("wide", 2, (128, 256, 512), **kwargs)
