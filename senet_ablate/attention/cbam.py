"""CBAM, Convolutional Block Attention Module (Woo et al., ECCV 2018): channel, then spatial attention.

Channel attention: one MLP (C -> C/r -> C, as 1x1 convs, `se.reduction` and `se.bias`) applied to
the average- and the max-pooled map, the two summed, sigmoid, channel-wise scale. Spatial
attention, on the result: the channel-wise mean and max stacked as two maps, a k x k conv (no
bias) with BN, sigmoid, position-wise scale. `cbam.channel` / `cbam.spatial` switch either off.
"""

import torch
from torch import Tensor, nn

from senet_ablate.attention.registry import register_attention


@register_attention(
    "cbam",
    reads={
        "reduction": "se.reduction",
        "bias": "se.bias",
        "channel": "cbam.channel",
        "spatial": "cbam.spatial",
        "kernel_size": "cbam.kernel_size",
    },
)
class CBAM(nn.Module):
    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        bias: bool = True,
        channel: bool = True,
        spatial: bool = True,
        kernel_size: int = 7,
    ):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = None
        if channel:
            self.mlp = nn.Sequential(
                nn.Conv2d(channels, hidden, 1, bias=bias),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden, channels, 1, bias=bias),
            )
        self.spatial = None
        if spatial:
            self.spatial = nn.Sequential(
                nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False), nn.BatchNorm2d(1)
            )

    def forward(self, x: Tensor) -> Tensor:
        if self.mlp is not None:
            pooled_sum = self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True))
            x = x * torch.sigmoid(pooled_sum)
        if self.spatial is not None:
            maps = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
            x = x * torch.sigmoid(self.spatial(maps))
        return x
