import pytest
import torch
from torch import nn

from senet_ablate.attention import SqueezeExcitation


def test_scales_each_channel_by_its_gate():
    se = SqueezeExcitation(32, reduction=4)
    x = torch.randn(2, 32, 5, 5)
    gate = torch.sigmoid(se.fc2(torch.relu(se.fc1(x.mean((2, 3), keepdim=True)))))
    torch.testing.assert_close(se(x), x * gate)
    assert se.fc1.out_channels == 8


@pytest.mark.parametrize("channels,reduction,hidden", [(64, 16, 4), (16, 32, 1), (2048, 16, 128), (24, 5, 4)])
def test_hidden_width_is_c_floor_div_r_at_least_one(channels, reduction, hidden):
    assert SqueezeExcitation(channels, reduction).fc1.out_channels == hidden


def test_max_squeeze_pools_the_maximum():
    se = SqueezeExcitation(8, reduction=2, squeeze="max")
    x = torch.randn(1, 8, 4, 4)
    pooled = x.amax((2, 3), keepdim=True)
    expected = x * torch.sigmoid(se.fc2(torch.relu(se.fc1(pooled))))
    torch.testing.assert_close(se(x), expected)


def test_no_squeeze_applies_the_fcs_at_every_position():
    se = SqueezeExcitation(8, reduction=2, squeeze="none")
    x = torch.randn(1, 8, 4, 4)
    per_pixel = x * torch.sigmoid(se.fc2(torch.relu(se.fc1(x))))
    torch.testing.assert_close(se(x), per_pixel)
    # unlike the pooled SE, the gate differs from pixel to pixel
    gate = se(x) / x
    assert not torch.allclose(gate[..., 0, 0], gate[..., 1, 1])


@pytest.mark.parametrize("gate,low,high", [("sigmoid", 0, 1), ("tanh", -1, 1), ("relu", 0, float("inf"))])
def test_gate_ranges(gate, low, high):
    se = SqueezeExcitation(16, reduction=4, gate=gate)
    scale = se.gate(se.fc2(se.act(se.fc1(se.squeeze(torch.randn(64, 16, 3, 3))))))
    assert scale.min() >= low and scale.max() <= high
    assert isinstance(se.gate, {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[gate])


def test_bias_switch():
    assert SqueezeExcitation(32, 4, bias=False).fc1.bias is None
    assert sum(p.numel() for p in SqueezeExcitation(32, 4, bias=True).parameters()) == 2 * 32 * 8 + 8 + 32
