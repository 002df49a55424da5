"""The residual unit that every block of every model derives from.

It owns the one decision the integration ablation varies: where the SE block sits.
  standard  on the residual branch, after its last BN, before the addition
  pre       on the residual branch's input (so it sees the block's *input* width)
  post      after the addition (and the ReLU of post-activation blocks)
  identity  on the shortcut branch, in parallel to the residual branch; at a down-sampling
            block it acts on the projected shortcut
  3x3       inside the branch, after the 3x3 conv (bottlenecks only: the narrow width)
The paper prints no parameter counts for SE-PRE and SE-Identity; these choices define ours.
"""

import torch
from torch import Tensor, nn

from senet_ablate.attention import AttentionSpec


class ResidualUnit(nn.Module):
    """Subclasses implement `residual` (and `shortcut`, `merge` where they differ)."""

    se_position: str | None = None
    # At the standard position, scale the residual and add the shortcut in one pass over the
    # feature map (torch.addcmul) instead of two (multiply, then add): the scale is memory-bound,
    # so this is where SE's cost beyond its FLOPs lies. A class switch so that the benchmark can
    # time both; the results are equal up to float rounding (tests/test_se.py).
    fuse_se_scale: bool = True
    # The residual branch's last layer: zeroing its weight makes the block start as the identity
    # (zero_init_residual). The last BN of post-activation blocks; the last conv of pre-activation
    # ones, which end in a conv (as timm's `zero_init_last` does for its pre-activation blocks).
    zero_init_layer: str

    def attach_se(
        self, se: AttentionSpec | None, out_channels: int, in_channels: int, inner_channels: int | None = None
    ) -> None:
        """Add `self.se` (the attention block: SE, or what `attention=` names) sized for its position."""
        if se is None:
            self.se = None
            return
        channels = {"pre": in_channels, "3x3": inner_channels}.get(se.position, out_channels)
        self.se_position = se.position
        self.se = se(channels)

    def residual(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def shortcut(self, x: Tensor) -> Tensor:
        return x

    def merge(self, summed: Tensor) -> Tensor:
        """What follows the addition: ReLU for post-activation blocks, nothing for pre-activation."""
        return summed

    def maybe_se(self, x: Tensor, position: str) -> Tensor:
        return self.se(x) if self.se_position == position else x

    def forward(self, x: Tensor) -> Tensor:
        shortcut = self.maybe_se(self.shortcut(x), "identity")
        residual = self.residual(self.maybe_se(x, "pre"))
        if self.se_position == "standard" and self.fuse_se_scale and hasattr(self.se, "excitation"):
            summed = torch.addcmul(shortcut, residual, self.se.excitation(residual))
        else:
            summed = self.maybe_se(residual, "standard") + shortcut
        return self.maybe_se(self.merge(summed), "post")


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def init_weights(model: nn.Module, zero_init_residual: bool) -> None:
    """He init for convs, BN to identity; optionally zero each branch's last layer (Goyal et al.)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, ResidualUnit):
                nn.init.zeros_(getattr(module, module.zero_init_layer).weight)
