"""The Squeeze-and-Excitation block with every axis the paper ablates."""

from torch import Tensor, nn

from senet_ablate.attention.registry import register_attention

_SQUEEZES = {"avg": nn.AdaptiveAvgPool2d, "max": nn.AdaptiveMaxPool2d, "none": nn.Identity}
_GATES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


@register_attention(
    "se", reads={"reduction": "se.reduction", "squeeze": "se.squeeze", "gate": "se.gate", "bias": "se.bias"}
)
class SqueezeExcitation(nn.Module):
    """squeeze -> FC C->C/r -> ReLU -> FC C/r->C -> gate -> channel-wise scale.

    The FCs are 1x1 convs so that `squeeze="none"` (the paper's NoSqueeze) is the same module
    applied to the full feature map instead of a pooled 1x1 one, and so that parameter names
    (`fc1`, `fc2`) line up with timm's SEModule for loading published weights.
    The hidden width is `max(1, channels // reduction)`: the paper's C/r, never rounded to a
    multiple of 8 as timm does, and at least one unit for tiny models.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        squeeze: str = "avg",
        gate: str = "sigmoid",
        bias: bool = True,
    ):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = _SQUEEZES[squeeze](1) if squeeze != "none" else nn.Identity()
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, bias=bias)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, bias=bias)
        self.gate = _GATES[gate]()

    def excitation(self, x: Tensor) -> Tensor:
        """The per-channel weights (N, C, 1, 1) that scale `x` (N, C, H, W for squeeze="none")."""
        return self.gate(self.fc2(self.act(self.fc1(self.squeeze(x)))))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.excitation(x)
