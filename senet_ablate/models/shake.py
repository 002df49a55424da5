"""The Shake-Shake networks of the SE paper's CIFAR rows (Hu et al., Tables 4 and 5): Shake-Shake
26 2x96d on CIFAR-10 and Shake-Even 29 2x4x64d on CIFAR-100, both trained with Cutout there.

Layouts follow Gastaldi 2017 (arXiv:1705.07485, section 3 and its reference code):
  26 2x96d       depth 26 = 3 stages of 4 blocks (2 convs each) + stem + classifier; two branches
                 ReLU-3x3-BN-ReLU-3x3-BN per block, 96/192/384 wide at 32/16/8 pixels; a 16-wide
                 3x3 conv + BN stem; where the width changes, the shortcut is ReLU, then two 1x1
                 convs of half the width each, one on the (subsampled) input and one on the input
                 shifted by a pixel, concatenated, then BN. The default mode is the paper's best for
                 CIFAR-10, Shake-Shake-Image (section 3.1, Table 1).
  29 2x4x64d     depth 29 = 3 stages of 3 bottleneck blocks (3 convs each) + stem + classifier, as
                 ResNeXt-29 (Xie et al.): per block two branches 1x1-BN-ReLU-3x3(4 groups)-BN-ReLU-
                 1x1-BN, each 4 groups of 64/128/256 channels (256/512/1024 wide) inside and
                 256/512/1024 out, summed with a 1x1 conv + BN projection where the shape changes,
                 then ReLU; a 64-wide 3x3 conv + BN + ReLU stem. The default mode is the one of the
                 paper's CIFAR-100 result, Shake-Even-Image (section 3.2, Table 3).

SE placement: one SE block per residual block, on the two branches' combination, before the
shortcut is added (`se.position=standard`). The SE paper (section 3.3, Figures 2 and 3) puts SE
on the whole output of a multi-path Inception module and on the non-identity branch of a residual
module, and SE-ResNeXt on the aggregated transformation, after its groups are merged, not on each
path; the two shaken branches together are this block's non-identity branch, as ResNeXt's groups
are. One SE per block also keeps its cost per block the paper's (one C -> C/r -> C pair), and it
rescales the combination that meets the shortcut, whatever alpha was drawn. One SE per branch
would instead put two SE blocks per block and see each branch before the shake.
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from senet_ablate.models.registry import NO_3X3, Classifier, per_stage, register_global_batch_hook, register_model
from senet_ablate.models.residual import ResidualUnit, conv1x1, conv3x3, init_weights
from senet_ablate.models.shake_mix import ShakeMode, global_batch, shake_combine

register_global_batch_hook(global_batch)  # per-image shake coefficients drawn for the global batch


class ShiftedProjection(nn.Module):
    """The 26 2xKd shortcut where the width changes: ReLU, then half the output channels from a 1x1
    conv of the input subsampled at even pixels and half from one of the input shifted by a pixel
    right and down (so that it sees the pixels the first half skips), concatenated, then BN."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv1 = conv1x1(in_channels, out_channels // 2)
        self.conv2 = conv1x1(in_channels, out_channels - out_channels // 2)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(x)
        shifted = F.pad(x, (1, -1, 1, -1))
        halves = [conv(t[:, :, :: self.stride, :: self.stride]) for conv, t in ((self.conv1, x), (self.conv2, shifted))]
        return self.bn(torch.cat(halves, dim=1))


class _ShakeBlock(ResidualUnit):
    """A residual block whose residual is the shaken combination of `branch1` and `branch2`."""

    branch1: nn.Module
    branch2: nn.Module
    shake: ShakeMode
    projection: nn.Module | None  # None where input and output shapes agree

    def residual(self, x: Tensor) -> Tensor:
        return shake_combine(self.branch1(x), self.branch2(x), self.shake, self.training)

    def shortcut(self, x: Tensor) -> Tensor:
        return x if self.projection is None else self.projection(x)


class ShakeBasicBlock(_ShakeBlock):
    """Two ReLU-3x3-BN-ReLU-3x3-BN branches; no ReLU after the addition (the branches start with one)."""

    preact = True

    def __init__(self, in_channels: int, out_channels: int, stride: int, shake: ShakeMode, se=None):
        super().__init__()
        self.shake = shake
        self.branch1, self.branch2 = (self._branch(in_channels, out_channels, stride) for _ in range(2))
        same_shape = in_channels == out_channels and stride == 1
        self.projection = None if same_shape else ShiftedProjection(in_channels, out_channels, stride)
        self.attach_se(se, out_channels, in_channels)

    @staticmethod
    def _branch(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.ReLU(),  # not in place: the block's input also feeds the shortcut
            conv3x3(in_channels, out_channels, stride),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            conv3x3(out_channels, out_channels),
            nn.BatchNorm2d(out_channels),
        )


class ShakeBottleneck(_ShakeBlock):
    """Two ResNeXt bottleneck branches (1x1, grouped 3x3, 1x1; BN after each), then ReLU after the addition."""

    preact = False

    def __init__(self, in_channels: int, out_channels: int, stride: int, shake: ShakeMode, se=None, groups: int = 4):
        super().__init__()
        self.shake = shake
        inner = out_channels  # 4 groups of out/4: 2x4x64d is 4 x 64 = 256 inside, 256 out, at the first stage
        self.branch1, self.branch2 = (self._branch(in_channels, inner, out_channels, stride, groups) for _ in range(2))
        same_shape = in_channels == out_channels and stride == 1
        self.projection = (
            None
            if same_shape
            else nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
        )
        self.attach_se(se, out_channels, in_channels)

    @staticmethod
    def _branch(in_channels: int, inner: int, out_channels: int, stride: int, groups: int) -> nn.Sequential:
        return nn.Sequential(
            conv1x1(in_channels, inner),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            conv3x3(inner, inner, stride, groups=groups),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            conv1x1(inner, out_channels),
            nn.BatchNorm2d(out_channels),
        )

    def merge(self, summed: Tensor) -> Tensor:
        return F.relu(summed)


class ShakeNet(nn.Module):
    """3x3 stem, three stages (SE stages 2, 3, 4) of shaken blocks, global pool, classifier.

    Blocks whose branches start with a ReLU (26 2xKd) leave the stem without one and end the
    network with a ReLU before the pool; post-activation blocks (29 2x4x64d) the reverse.
    """

    def __init__(
        self,
        block: type[_ShakeBlock],
        stem_channels: int,
        blocks_per_stage: int,
        widths: Sequence[int],
        shake: ShakeMode,
        num_classes: int = 10,
        stage_attention=None,
    ):
        super().__init__()
        self.stem = nn.Sequential(conv3x3(3, stem_channels), nn.BatchNorm2d(stem_channels))
        if not block.preact:
            self.stem.append(nn.ReLU(inplace=True))
        in_channels = stem_channels
        for index, (width, stage_se) in enumerate(zip(widths, per_stage(stage_attention, len(widths)), strict=True)):
            stage_blocks = []
            for block_index in range(blocks_per_stage):
                stride = 2 if index > 0 and block_index == 0 else 1
                stage_blocks.append(block(in_channels, width, stride, shake, se=stage_se))
                in_channels = width
            setattr(self, f"layer{index + 1}", nn.Sequential(*stage_blocks))
        self.final_relu = nn.ReLU(inplace=True) if block.preact else nn.Identity()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = Classifier(in_channels, num_classes)
        init_weights(self, zero_init_residual=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.avgpool(self.final_relu(x)), 1))


STAGES = (2, 3, 4)


@register_model("cifar", STAGES, NO_3X3, residual=False, shake=ShakeMode("shake", "shake", "image"))
def shake_shake26_2x96d(shake: ShakeMode, **kwargs) -> ShakeNet:
    """Shake-Shake-Image 26 2x96d (Gastaldi 2017: 26.2M parameters, its CIFAR-10 comparison table)."""
    return ShakeNet(ShakeBasicBlock, 16, 4, (96, 192, 384), shake, **kwargs)


@register_model("cifar", STAGES, NO_3X3, residual=False, shake=ShakeMode("shake", "even", "image"))
def shake_even29_2x4x64d(shake: ShakeMode, **kwargs) -> ShakeNet:
    """Shake-Even-Image 29 2x4x64d (Gastaldi 2017: 34.4M parameters, its CIFAR-100 table)."""
    return ShakeNet(ShakeBottleneck, 64, 3, (256, 512, 1024), shake, **kwargs)
