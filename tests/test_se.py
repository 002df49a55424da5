import math

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


@pytest.mark.parametrize(
    "gate,by_hand",
    [("sigmoid", lambda z: 1 / (1 + math.exp(-z))), ("tanh", math.tanh), ("relu", lambda z: max(z, 0.0))],
)
def test_the_gate_is_its_function_of_the_excitation(gate, by_hand):
    """FCs set by hand, so the excitation before the gate is known: (2 + 0.5, -3) for channels
    of 2s and 3s; the output is each channel times the gate of its excitation."""
    se = SqueezeExcitation(2, reduction=1, gate=gate)
    with torch.no_grad():
        se.fc1.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        se.fc1.bias.zero_()
        se.fc2.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]).view(2, 2, 1, 1))
        se.fc2.bias.copy_(torch.tensor([0.5, 0.0]))
    x = torch.tensor([2.0, 3.0]).view(1, 2, 1, 1).expand(1, 2, 3, 3)
    expected = torch.tensor([2.0 * by_hand(2.5), 3.0 * by_hand(-3.0)]).view(1, 2, 1, 1).expand(1, 2, 3, 3)
    torch.testing.assert_close(se(x), expected)


def test_bias_switch():
    assert SqueezeExcitation(32, 4, bias=False).fc1.bias is None
    assert sum(p.numel() for p in SqueezeExcitation(32, 4, bias=True).parameters()) == 2 * 32 * 8 + 8 + 32


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=resnet50", "data.image_size=64"],  # post-activation bottlenecks, projection shortcuts
        ["model=resnet20", "data=cifar10", "se.gate=tanh"],  # basic blocks
        ["model=resnet164", "data=cifar10", "se.squeeze=none"],  # pre-activation; a full-map gate
        ["model=resnext50_32x4d", "data.image_size=64", "se.gate=relu", "model.zero_init_residual=true"],
    ],
)
def test_the_fused_scale_and_add_gives_the_plain_paths_outputs_and_gradients(monkeypatch, overrides):
    from senet_ablate import create_model
    from senet_ablate.models.residual import ResidualUnit

    torch.manual_seed(0)
    model = create_model(overrides).double().train()
    size = 64 if "data.image_size=64" in overrides else 32
    images = torch.randn(2, 3, size, size, dtype=torch.float64)
    results = []
    for fused in (True, False):
        monkeypatch.setattr(ResidualUnit, "fuse_se_scale", fused)
        model.zero_grad()
        out = model(images)
        (out * torch.linspace(-1, 1, out.shape[1], dtype=out.dtype)).sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    (fused_out, fused_grads), (plain_out, plain_grads) = results
    torch.testing.assert_close(fused_out, plain_out, rtol=1e-10, atol=1e-12)
    for fused_grad, plain_grad in zip(fused_grads, plain_grads, strict=True):
        torch.testing.assert_close(fused_grad, plain_grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=resnet20", "data=cifar10"],  # the fused scale-and-add (standard position)
        ["model=resnet20", "data=cifar10", "se.position=identity", "se.squeeze=max", "se.gate=tanh"],
    ],
)
def test_an_se_model_compiles_as_one_graph_with_eagers_outputs_and_gradients(overrides):
    """trainer.compile=true wraps the model in torch.compile: a graph break in an SE block would
    cut the graph at every block. fullgraph=True fails on any break; the aot_eager backend traces
    forward and backward as inductor would, without minutes of C++ code generation on the CPU
    (inductor itself, measured once here on resnet20: 81 s to compile, gradients within 3e-7)."""
    from senet_ablate import create_model

    torch.manual_seed(0)
    eager = create_model(overrides).train()
    compiled = create_model(overrides).train()
    compiled.load_state_dict(eager.state_dict())
    images, labels = torch.randn(4, 3, 32, 32), torch.randint(10, (4,))
    outputs = []
    for model in (eager, torch.compile(compiled, fullgraph=True, backend="aot_eager")):
        out = model(images)
        nn.functional.cross_entropy(out, labels).backward()
        outputs.append(out.detach())
    torch.testing.assert_close(outputs[1], outputs[0])
    for compiled_param, eager_param in zip(compiled.parameters(), eager.parameters(), strict=True):
        torch.testing.assert_close(compiled_param.grad, eager_param.grad)
