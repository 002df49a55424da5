"""The attention axis: SE, ECA and CBAM at SE's positions, checked against their papers and timm."""

import pytest
import timm
import torch
from timm.layers.cbam import ChannelAttn

from senet_ablate import ConfigError, create_model
from senet_ablate.attention.cbam import CBAM
from senet_ablate.attention.eca import EfficientChannelAttention, adaptive_kernel_size
from senet_ablate.complexity import complexity_rows
from senet_ablate.config import compose_config
from senet_ablate.models.residual import ResidualUnit

TORCHVISION_LAYOUT = ["model=resnet50", "model.stride_in_1x1=false"]


def _params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("channels,kernel", [(64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)])
def test_ecas_adaptive_rule_per_stage_width(channels, kernel):
    """k = |(log2 C + 1) / 2| made odd: ResNet-50's stage widths 256..2048 get 5, 5, 5, 7."""
    assert adaptive_kernel_size(channels) == kernel
    assert EfficientChannelAttention(channels).conv.kernel_size == (kernel,)


def test_eca_resnet50_counts_86_parameters_by_the_rule_and_the_papers_80_with_k_5():
    plain = _params(create_model(["model=resnet50", "se.enabled=false"]))
    assert _params(create_model(["model=resnet50", "attention=eca"])) - plain == 3 * 5 + 4 * 5 + 6 * 5 + 3 * 7
    assert _params(create_model(["model=resnet50", "attention=eca", "eca.kernel_size=5"])) - plain == 80


@pytest.mark.parametrize(
    "attention,overrides",
    [("se", []), ("eca", []), ("cbam", ["se.bias=false"])],  # timm's CBAM MLP has no biases
)
def test_our_resnet50_has_timms_parameters_with_the_same_attention_layer(attention, overrides):
    ours = create_model([*TORCHVISION_LAYOUT, f"attention={attention}", *overrides])
    assert _params(ours) == _params(timm.create_model("resnet50", block_args=dict(attn_layer=attention)))


def test_cbams_mlp_biases_are_what_separates_it_from_timms_by_default():
    ours = create_model([*TORCHVISION_LAYOUT, "attention=cbam"])
    theirs = timm.create_model("resnet50", block_args=dict(attn_layer="cbam"))
    biases = sum(c // 16 + c for c, n in ((256, 3), (512, 4), (1024, 6), (2048, 3)) for _ in range(n))
    assert _params(ours) - _params(theirs) == biases == 16048


def test_cbam_without_its_spatial_part_is_the_channel_only_module():
    torch.manual_seed(0)
    ours = CBAM(64, reduction=16, bias=False, spatial=False)
    peer = ChannelAttn(64, rd_ratio=1 / 16, mlp_bias=False)  # timm's CBAM channel attention
    peer.fc1.weight.data.copy_(ours.mlp[0].weight)
    peer.fc2.weight.data.copy_(ours.mlp[2].weight)
    x = torch.randn(2, 64, 7, 7)
    torch.testing.assert_close(ours(x), peer(x))
    channel_off = CBAM(64, channel=False)
    assert channel_off.mlp is None and _params(channel_off) == 7 * 7 * 2 + 2  # conv + BN


@pytest.mark.parametrize("position", ["standard", "pre", "post", "identity", "3x3"])
@pytest.mark.parametrize("attention", ["eca", "cbam"])
def test_every_attention_trains_at_every_position(attention, position):
    model = create_model(["model=resnet50", f"attention={attention}", f"se.position={position}", "data.image_size=64"])
    out = model(torch.randn(2, 3, 64, 64))
    out.sum().backward()
    units = [m for m in model.modules() if isinstance(m, ResidualUnit)]
    assert all(type(unit.se).__name__ != "SqueezeExcitation" for unit in units)


def test_ecas_fused_scale_equals_the_plain_path(monkeypatch):
    torch.manual_seed(0)
    model = create_model(["model=resnet20", "data=cifar10", "attention=eca"]).double()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    fused = model(x)
    monkeypatch.setattr(ResidualUnit, "fuse_se_scale", False)
    torch.testing.assert_close(model(x), fused, rtol=1e-12, atol=1e-12)


def test_bad_attention_settings_are_one_clear_error():
    with pytest.raises(ConfigError, match="attention='gc' .* choose one of cbam, eca, se"):
        create_model(["attention=gc"])
    with pytest.raises(ConfigError, match="se.gate='tanh' .* attention=eca has no such choice: use sigmoid"):
        create_model(["attention=eca", "se.gate=tanh"])
    with pytest.raises(ConfigError, match="eca.kernel_size=4 .* an odd number"):
        create_model(["attention=eca", "eca.kernel_size=4"])
    with pytest.raises(ConfigError, match="cbam.spatial=False"):
        create_model(["attention=cbam", "cbam.channel=false", "cbam.spatial=false"])


def test_attention_sweep_rows_count_each_module_against_the_published_figures():
    """Complexity of `+exp=attention_sweep` against ECA-Net's Table 2 (3.86 GFLOPs for the backbone
    and ECA; its 24.37M params for ResNet-50 is a count we do not reproduce: torchvision's is 25.557M)
    and against the modules' own arithmetic: CBAM = SE + 16 spatial convs (7x7x2 weights) with BN."""
    rows = {row["label"]: row for row in complexity_rows(compose_config(["+exp=attention_sweep"]))}
    assert list(rows) == ["vanilla", "SE", "ECA", "CBAM"]
    for label in ("vanilla", "ECA"):
        assert rows[label]["gflops"] == pytest.approx(3.86, abs=0.005)
    assert round((rows["ECA"]["params_m"] - rows["vanilla"]["params_m"]) * 1e6) == 86
    assert round((rows["CBAM"]["params_m"] - rows["SE"]["params_m"]) * 1e6) == 16 * (2 * 7 * 7 + 2)
    assert rows["CBAM"]["gflops"] == pytest.approx(3.864, abs=0.0005)  # CBAM paper, Table 4
