"""BN-Inception and Inception-ResNet-v2, vanilla and SE: the last two rows of the SE paper's Table 2.

BN-Inception (Ioffe & Szegedy, 2015) is the BN paper's Inception network as laid out in its
appendix figure (Fig. 5): GoogLeNet with each 5x5 conv replaced by two 3x3 convs, BN after every
conv, and two stride-2 "reduction" modules (3c, 4e) whose pooling branch passes through. The SE
paper (section 3.3, Fig. 2) puts one SE block on the output of each whole Inception module, so
all ten modules (3a .. 5b) get one, the two reduction modules included (their output is a
concatenation like every other module's). The stem convs are not Inception modules and get
none. The authors' released SE-BN-Inception (hujie-frank/SENet, models/SE-BN-Inception.prototxt)
places SE the same way, and ours has exactly its 11,931,622 parameters (11,285,224 without SE).
Counted as `senet_ablate.complexity` does (conv and FC multiply-adds, 224 px): 2.0326 / 2.0332
GFLOPs, Table 2's 2.03 / 2.04.

Inception-ResNet-v2 (Szegedy et al., 2016) is laid out as the authors' released TF-slim model
(and timm's `inception_resnet_v2`, whose parameter count ours equals): a 320-wide stem ending in
the Mixed_5b module, 10 Inception-ResNet-A (Block35), 20 -B (Block17) and 10 -C (Block8) units,
each scaling its branch (0.17, 0.10, 0.20; 1.0 for the final C unit, which has no ReLU) before
adding the shortcut. The SE paper puts SE on the residual branch before the summation (section
3.3, Fig. 3): every one of the 40 residual units gets one (`se.position=standard`); the stem and
the two reduction modules (Mixed_6a, Mixed_7a) have no residual branch and get none. The SE
block sees the already-scaled branch: its first FC layer is linear in its input, so this is the
same family of functions as SE before the scale (the factor folds into that layer's weights) and
keeps the one residual forward of `ResidualUnit`. At 299 px it counts 13.156 / 13.164 GFLOPs
(timm's count of its own model is also 13.156), not Table 2's 11.75 / 11.76: the paper does not
say how it counted, and the 1.41 G gap is not one of the known conventions (pooling, scale, BN).

Stages are numbered by output resolution like the other ImageNet models, stage k at stride 2^k:
  BN-Inception at 224:        1 conv1 (112 px), 2 conv2 (56), 3 modules 3a-3b (28),
                              4 modules 3c-4d (14), 5 modules 4e-5b (7).
  Inception-ResNet-v2 at 299: 1 convs 1a-2b (147 px), 2 convs 3b-4a (71), 3 Mixed_5b + 10 A (35),
                              4 Mixed_6a + 20 B (17), 5 Mixed_7a + 10 C + conv 7b (8).
SE blocks exist in stages 3-5 only, so those are the stages `se.stages` takes.

Inception-ResNet-v2 uses unpadded convs as the original does, so it needs inputs of at least 75 px
(registered as its `min_image_size`: the config check refuses smaller ones).
"""

import torch
from torch import Tensor, nn

from senet_ablate.models.registry import Classifier, per_stage, register_model
from senet_ablate.models.residual import ResidualUnit, init_weights


def conv_bn(in_channels: int, out_channels: int, kernel_size, stride: int = 1, padding=0) -> nn.Sequential:
    """Conv (no bias: BN follows) -> BN -> ReLU, the unit both networks are built of. BN's epsilon
    is TensorFlow's 1e-3, as the Inception papers' own (TF) implementations use."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False),
        nn.BatchNorm2d(out_channels, eps=1e-3),
        nn.ReLU(inplace=True),
    )


class Branches(nn.Module):
    """Parallel branches whose outputs are concatenated along channels: an Inception module."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)


# --- BN-Inception ------------------------------------------------------------------------------

# One row per module of the BN paper's Fig. 5: #1x1, #3x3 reduce, #3x3, #double 3x3 reduce,
# #double 3x3, pool ("avg"/"max"), #pool projection (0: pass-through), stride.
BN_INCEPTION_MODULES = {
    "3a": (64, 64, 64, 64, 96, "avg", 32, 1),
    "3b": (64, 64, 96, 64, 96, "avg", 64, 1),
    "3c": (0, 128, 160, 64, 96, "max", 0, 2),
    "4a": (224, 64, 96, 96, 128, "avg", 128, 1),
    "4b": (192, 96, 128, 96, 128, "avg", 128, 1),
    "4c": (160, 128, 160, 128, 160, "avg", 128, 1),
    "4d": (96, 128, 192, 160, 192, "avg", 128, 1),
    "4e": (0, 128, 192, 192, 256, "max", 0, 2),
    "5a": (352, 192, 320, 160, 224, "avg", 128, 1),
    "5b": (352, 192, 320, 192, 224, "max", 128, 1),
}
# The stage each module's output belongs to (by resolution, see the module docstring): stages 3, 4, 5.
BN_INCEPTION_STAGES = {"stage3": ("3a", "3b"), "stage4": ("3c", "4a", "4b", "4c", "4d"), "stage5": ("4e", "5a", "5b")}


class InceptionModule(nn.Module):
    """1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool [-> 1x1], concatenated [-> SE on the whole output].

    A stride-2 module (3c, 4e) has no 1x1 branch, strides its last 3x3 convs and its max pool,
    and passes the pooled input through unprojected.
    """

    def __init__(self, in_channels: int, widths: tuple, se=None):
        super().__init__()
        n1x1, n3x3_reduce, n3x3, n_double_reduce, n_double, pool, n_pool_proj, stride = widths
        branches = [] if n1x1 == 0 else [conv_bn(in_channels, n1x1, 1)]
        branches.append(nn.Sequential(conv_bn(in_channels, n3x3_reduce, 1), conv_bn(n3x3_reduce, n3x3, 3, stride, 1)))
        branches.append(
            nn.Sequential(
                conv_bn(in_channels, n_double_reduce, 1),
                conv_bn(n_double_reduce, n_double, 3, 1, 1),
                conv_bn(n_double, n_double, 3, stride, 1),
            )
        )
        pooling = nn.MaxPool2d(3, stride, 1) if pool == "max" else nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        branches.append(pooling if n_pool_proj == 0 else nn.Sequential(pooling, conv_bn(in_channels, n_pool_proj, 1)))
        self.branches = Branches(*branches)
        self.out_channels = n1x1 + n3x3 + n_double + (n_pool_proj or in_channels)
        self.se = None if se is None else se(self.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = self.branches(x)
        return x if self.se is None else self.se(x)


class BNInception(nn.Module):
    def __init__(self, num_classes: int = 1000, stage_attention=None):
        super().__init__()
        self.stage1 = conv_bn(3, 64, 7, 2, 3)
        self.stage2 = nn.Sequential(nn.MaxPool2d(3, 2, 1), conv_bn(64, 64, 1), conv_bn(64, 192, 3, 1, 1))
        in_channels = 192
        stages = zip(BN_INCEPTION_STAGES.items(), per_stage(stage_attention, len(BN_INCEPTION_STAGES)), strict=True)
        for index, ((stage, names), module_se) in enumerate(stages):
            modules = [] if index else [nn.MaxPool2d(3, 2, 1)]
            for name in names:
                modules.append(InceptionModule(in_channels, BN_INCEPTION_MODULES[name], module_se))
                in_channels = modules[-1].out_channels
            setattr(self, stage, nn.Sequential(*modules))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = Classifier(in_channels, num_classes)
        init_weights(self, zero_init_residual=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stage5(self.stage4(self.stage3(self.stage2(self.stage1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("imagenet", (3, 4, 5), ("standard",), residual=False)
def bn_inception(**kwargs) -> BNInception:
    """BN-Inception (Inception with batch normalization), 224 x 224."""
    return BNInception(**kwargs)


# --- Inception-ResNet-v2 -----------------------------------------------------------------------


class InceptionResNetUnit(ResidualUnit):
    """x + scale * conv1x1(concat(branches(x))) [-> ReLU]: Inception-ResNet-A, -B and -C.

    The 1x1 up-projection is linear (a bias, no BN or ReLU), as in the paper's Fig. 16-19; it is
    the layer `zero_init_residual` zeroes, and its bias starts at zero (TF-slim's initialiser), so
    that a zero-initialised unit is exactly the identity: its input is non-negative (a ReLU or a
    concatenation of ReLUs precedes every unit), so the closing ReLU leaves it unchanged.
    """

    zero_init_layer = "up"

    def __init__(self, branches: Branches, branch_channels: int, channels: int, scale: float, relu: bool, se=None):
        super().__init__()
        self.branches = branches
        self.up = nn.Conv2d(branch_channels, channels, 1)
        nn.init.zeros_(self.up.bias)
        self.scale = scale
        self.relu = nn.ReLU(inplace=True) if relu else nn.Identity()
        self.attach_se(se, channels, channels)

    def residual(self, x: Tensor) -> Tensor:
        return self.up(self.branches(x)) * self.scale

    def merge(self, summed: Tensor) -> Tensor:
        return self.relu(summed)


def block35(se=None) -> InceptionResNetUnit:
    """Inception-ResNet-A at 35 x 35, 320 channels (Fig. 16; widths of the released model)."""
    branches = Branches(
        conv_bn(320, 32, 1),
        nn.Sequential(conv_bn(320, 32, 1), conv_bn(32, 32, 3, 1, 1)),
        nn.Sequential(conv_bn(320, 32, 1), conv_bn(32, 48, 3, 1, 1), conv_bn(48, 64, 3, 1, 1)),
    )
    return InceptionResNetUnit(branches, 128, 320, 0.17, relu=True, se=se)


def block17(se=None) -> InceptionResNetUnit:
    """Inception-ResNet-B at 17 x 17, 1088 channels (Fig. 17)."""
    branches = Branches(
        conv_bn(1088, 192, 1),
        nn.Sequential(
            conv_bn(1088, 128, 1), conv_bn(128, 160, (1, 7), 1, (0, 3)), conv_bn(160, 192, (7, 1), 1, (3, 0))
        ),
    )
    return InceptionResNetUnit(branches, 384, 1088, 0.10, relu=True, se=se)


def block8(scale: float = 0.20, relu: bool = True, se=None) -> InceptionResNetUnit:
    """Inception-ResNet-C at 8 x 8, 2080 channels (Fig. 19)."""
    branches = Branches(
        conv_bn(2080, 192, 1),
        nn.Sequential(
            conv_bn(2080, 192, 1), conv_bn(192, 224, (1, 3), 1, (0, 1)), conv_bn(224, 256, (3, 1), 1, (1, 0))
        ),
    )
    return InceptionResNetUnit(branches, 448, 2080, scale, relu=relu, se=se)


def mixed_5b() -> Branches:
    """The stem's last module: 192 -> 320 channels at 35 x 35."""
    return Branches(
        conv_bn(192, 96, 1),
        nn.Sequential(conv_bn(192, 48, 1), conv_bn(48, 64, 5, 1, 2)),
        nn.Sequential(conv_bn(192, 64, 1), conv_bn(64, 96, 3, 1, 1), conv_bn(96, 96, 3, 1, 1)),
        nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv_bn(192, 64, 1)),
    )


def reduction_a() -> Branches:
    """Mixed_6a, 35 -> 17 px, 320 -> 1088 channels (Reduction-A with k, l, m, n = 256, 256, 384, 384)."""
    return Branches(
        conv_bn(320, 384, 3, 2),
        nn.Sequential(conv_bn(320, 256, 1), conv_bn(256, 256, 3, 1, 1), conv_bn(256, 384, 3, 2)),
        nn.MaxPool2d(3, 2),
    )


def reduction_b() -> Branches:
    """Mixed_7a, 17 -> 8 px, 1088 -> 2080 channels (Reduction-B, Fig. 18)."""
    return Branches(
        nn.Sequential(conv_bn(1088, 256, 1), conv_bn(256, 384, 3, 2)),
        nn.Sequential(conv_bn(1088, 256, 1), conv_bn(256, 288, 3, 2)),
        nn.Sequential(conv_bn(1088, 256, 1), conv_bn(256, 288, 3, 1, 1), conv_bn(288, 320, 3, 2)),
        nn.MaxPool2d(3, 2),
    )


class InceptionResNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, stage_attention=None, zero_init_residual=False):
        super().__init__()
        se3, se4, se5 = per_stage(stage_attention, 3)  # SE blocks in stages 3-5 only
        self.stage1 = nn.Sequential(conv_bn(3, 32, 3, 2), conv_bn(32, 32, 3), conv_bn(32, 64, 3, 1, 1))
        self.stage2 = nn.Sequential(nn.MaxPool2d(3, 2), conv_bn(64, 80, 1), conv_bn(80, 192, 3))
        self.stage3 = nn.Sequential(nn.MaxPool2d(3, 2), mixed_5b(), *[block35(se3) for _ in range(10)])
        self.stage4 = nn.Sequential(reduction_a(), *[block17(se4) for _ in range(20)])
        last_c = block8(scale=1.0, relu=False, se=se5)
        c_units = [*[block8(se=se5) for _ in range(9)], last_c]
        self.stage5 = nn.Sequential(reduction_b(), *c_units, conv_bn(2080, 1536, 1))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)  # the paper's Fig. 15: dropout, keep 0.8
        self.fc = Classifier(1536, num_classes)
        init_weights(self, zero_init_residual)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stage5(self.stage4(self.stage3(self.stage2(self.stage1(x)))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


@register_model("imagenet", (3, 4, 5), ("standard",), min_image_size=75)
def inception_resnet_v2(**kwargs) -> InceptionResNetV2:
    """Inception-ResNet-v2, 299 x 299."""
    return InceptionResNetV2(**kwargs)
