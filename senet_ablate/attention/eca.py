"""ECA, Efficient Channel Attention (Wang et al., CVPR 2020): SE without the dimensionality reduction.

Global average pool, then a 1-D convolution of `k` taps across neighbouring channels (no bias),
sigmoid, channel-wise scale. The paper's adaptive rule picks k from the width C:
k = |(log2 C + b) / gamma| rounded to the odd number at or above it (gamma=2, b=1), giving 5 for 256,
512 and 1024 channels and 7 for 2048. The paper's own count for ResNet-50, 80 parameters in its
16 modules, is k=5 everywhere (the rule gives 86): `eca.kernel_size=5` reproduces that.
"""

import math

from torch import Tensor, nn

from senet_ablate.attention.registry import register_attention


def adaptive_kernel_size(channels: int, gamma: int = 2, beta: int = 1) -> int:
    size = int(abs((math.log2(channels) + beta) / gamma))
    return size if size % 2 else size + 1


@register_attention("eca", reads={"kernel_size": "eca.kernel_size"})
class EfficientChannelAttention(nn.Module):
    def __init__(self, channels: int, kernel_size: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size or adaptive_kernel_size(channels)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, self.kernel_size, padding=(self.kernel_size - 1) // 2, bias=False)
        self.gate = nn.Sigmoid()

    def excitation(self, x: Tensor) -> Tensor:
        """Per-channel weights (N, C, 1, 1): the 1-D conv slides over the channel axis."""
        pooled = self.squeeze(x).flatten(2).transpose(1, 2)  # (N, 1, C)
        return self.gate(self.conv(pooled)).transpose(1, 2).unsqueeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.excitation(x)
