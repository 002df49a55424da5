import math

import pytest
import timm
import torch
import torchvision
import yaml

import senet_ablate
from senet_ablate import ConfigError, create_model, load_pretrained
from senet_ablate.attention import ATTENTION, AttentionSpec, SqueezeExcitation
from senet_ablate.complexity import complexity_rows
from senet_ablate.config import compose_config
from senet_ablate.models import MODELS
from senet_ablate.models.build import attention_factory
from senet_ablate.models.checks import check_model
from senet_ablate.models.resnet import Bottleneck
from senet_ablate.report import PAPER_YAML

ABLATION_EXPS = {
    "squeeze_sweep": "squeeze",
    "nosqueeze_sweep": "no_squeeze",
    "reduction_sweep": "reduction",
    "gate_sweep": "gate",
    "integration_sweep": "integration",
    "se3x3_sweep": "se_3x3",
    "stage_sweep": "stages",
}


def _paper_ablations():
    return yaml.safe_load(PAPER_YAML.read_text())["ablations"]


def _ceil(value: float, digits: int) -> float:
    """The paper rounds its params and GFLOPs up (30.604M is printed 30.7)."""
    return math.ceil(round(value * 10**digits, 6)) / 10**digits


@pytest.mark.parametrize("exp,table", ABLATION_EXPS.items())
def test_ablation_rows_match_the_papers_labels_and_complexity(exp, table):
    paper_rows = _paper_ablations()[table]["rows"]
    # the paper's printed counts include the SE FC biases (paper.yaml's note), though section 6 trained
    # without them, as the experiment files do (se.bias: false): counted here as the paper printed them
    ours = complexity_rows(compose_config([f"+exp={exp}", "se.bias=true"]))
    extra = [row["label"] for row in ours if row["label"] not in {paper["label"] for paper in paper_rows}]
    assert extra in ([], ["ResNet-50"])  # the SE-free network a claim compares with (gate_sweep's ReLU claim)
    ours = [row for row in ours if row["label"] not in extra]
    assert [row["label"] for row in ours] == [row["label"] for row in paper_rows]
    for mine, paper in zip(ours, paper_rows, strict=True):
        if "params_m" in paper:
            assert abs(mine["params_m"] - paper["params_m"]) < 0.1
            assert _ceil(mine["params_m"], 1) == paper["params_m"], mine
        if "gflops" in paper:
            assert abs(mine["gflops"] - paper["gflops"]) < 0.01
            assert _ceil(mine["gflops"], 2) == paper["gflops"], mine


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_exact_counts_of_the_papers_resnet50():
    rows = {r["label"]: r for r in complexity_rows(compose_config(["+exp=nosqueeze_sweep", "se.bias=true"]))}
    assert round(rows["ResNet-50"]["params_m"] * 1e6) == 25_557_032
    assert round(rows["SE"]["params_m"] * 1e6) == 28_088_024  # with the SE FC biases, as the paper counted
    no_bias = {r["label"]: r for r in complexity_rows(compose_config(["+exp=nosqueeze_sweep"]))}  # as it trained
    assert round(no_bias["SE"]["params_m"] * 1e6) == 28_088_024 - 16_048  # C/16 + C biases of each block: 16,048
    assert rows["ResNet-50"]["gflops"] == pytest.approx(3.858, abs=5e-4)
    assert rows["SE"]["gflops"] == pytest.approx(3.8605, abs=5e-4)


def test_stride_placement_changes_flops_not_params():
    caffe = complexity_rows(compose_config(["model=resnet50"]))[0]
    torchvision_layout = complexity_rows(compose_config(["model=resnet50", "model.stride_in_1x1=false"]))[0]
    assert caffe["params_m"] == torchvision_layout["params_m"]
    assert torchvision_layout["gflops"] == pytest.approx(4.0917, abs=1e-3)  # timm seresnet50's GMACs


@pytest.mark.parametrize(
    "name,gflops,params_m",
    [("resnext50_32x4d", 4.231, 25.03), ("resnet101", 7.570, 44.55), ("resnet152", 11.282, 60.19)],
)
def test_deeper_imagenet_models_match_published_counts(name, gflops, params_m):
    row = complexity_rows(compose_config([f"model={name}", "se.enabled=false"]))[0]
    assert row["gflops"] == pytest.approx(gflops, abs=2e-3)
    assert row["params_m"] == pytest.approx(params_m, abs=0.01)


def _randomise_bn_statistics(model):
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)


def _assert_same_function(ours, peer):
    ours.eval()
    peer.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = peer(x), ours(x)
    assert ((got - expected).abs().max() / expected.abs().max()).item() < 1e-5


def test_se_resnet50_equals_timm_seresnet50_after_loading():
    peer = timm.create_model("seresnet50", pretrained=False)
    _randomise_bn_statistics(peer)
    ours = create_model(["model=resnet50", "model.stride_in_1x1=false"])
    assert _params(ours) == _params(peer) == 28_088_024
    load_pretrained(ours, peer.state_dict(), source="timm")
    _assert_same_function(ours, peer)


def test_resnet50_equals_torchvision_resnet50_after_loading():
    peer = torchvision.models.resnet50(weights=None)
    _randomise_bn_statistics(peer)
    ours = create_model(["model=resnet50", "model.stride_in_1x1=false", "se.enabled=false"])
    assert _params(ours) == _params(peer)
    load_pretrained(ours, peer.state_dict(), source="torchvision")
    _assert_same_function(ours, peer)


def test_load_pretrained_refuses_what_would_compute_something_else():
    peer_state = torchvision.models.resnet50(weights=None).state_dict()
    with pytest.raises(ConfigError, match="model.stride_in_1x1"):
        load_pretrained(create_model(["se.enabled=false"]), peer_state, source="torchvision")
    with pytest.raises(ConfigError, match="missing keys"):
        load_pretrained(create_model(["model.stride_in_1x1=false"]), peer_state, source="torchvision")
    with pytest.raises(ConfigError, match="source='caffe'"):
        load_pretrained(create_model(["model.stride_in_1x1=false"]), peer_state, source="caffe")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_trains_a_step_on_cpu(name):
    spec = MODELS[name]
    # the smallest inputs the models take: CIFAR models pool globally, so 8 pixels (2 at the last
    # stage) exercise every layer at 1/16 of 32 pixels' cost (Shake-Even 29 2x4x64d: 5.39 GMACs an image)
    size = max(64 if spec.family == "imagenet" else 8, spec.min_image_size)
    model = create_model([f"model={name}", f"data.image_size={size}", "data.num_classes=7"])
    out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name,params_m", [("resnet110", 1.73), ("resnet164", 1.70), ("wrn16_8", 10.96)])
def test_cifar_models_have_their_published_size(name, params_m):
    model = create_model([f"model={name}", "data=cifar10", "se.enabled=false"])
    assert _params(model) / 1e6 == pytest.approx(params_m, abs=0.01)


def _randomised_eval(module):
    """Eval mode with BN statistics and affines drawn at random, so that no BN is the identity."""
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.normal_()
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
    return module.eval()


def _bottleneck_by_hand(block, x, position):
    """A post-activation bottleneck (ResNet-50) with SE at `position`, written out from its layers
    as models/residual.py defines the positions."""
    se = lambda t, here: block.se(t) if here == position else t  # noqa: E731
    out = torch.relu(block.bn1(block.conv1(se(x, "pre"))))
    out = se(torch.relu(block.bn2(block.conv2(out))), "3x3")
    out = block.bn3(block.conv3(out))
    shortcut = se(x if block.downsample is None else block.downsample(x), "identity")
    return se(torch.relu(se(out, "standard") + shortcut), "post")


def _preact_bottleneck_by_hand(block, x, position):
    """A pre-activation bottleneck (ResNet-164): BN-ReLU before each conv, nothing after the sum."""
    se = lambda t, here: block.se(t) if here == position else t  # noqa: E731
    out = block.conv1(torch.relu(block.bn1(se(x, "pre"))))
    out = se(block.conv2(torch.relu(block.bn2(out))), "3x3")
    out = block.conv3(torch.relu(block.bn3(out)))
    shortcut = se(x if block.downsample is None else block.downsample(x), "identity")
    return se(se(out, "standard") + shortcut, "post")


@pytest.mark.parametrize("position", ["standard", "pre", "post", "identity", "3x3"])
@pytest.mark.parametrize("name,by_hand", [("resnet50", _bottleneck_by_hand), ("resnet164", _preact_bottleneck_by_hand)])
def test_every_position_puts_se_where_it_says_on_imagenet_and_cifar_bottlenecks(name, by_hand, position):
    """Stage 3's first block (down-sampling, projected shortcut, widths change) and its second
    (identity shortcut) equal the block written out by hand; the whole model runs."""
    model = _randomised_eval(create_model([f"model={name}", f"se.position={position}", "data.image_size=32"]))
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 1000)
        for block in model.layer2[:2]:
            x = torch.randn(2, block.conv1.in_channels, 8, 8)
            torch.testing.assert_close(block(x), by_hand(block, x, position))
            assert not torch.allclose(block(x), by_hand(block, x, None))  # SE there makes a difference


def test_se_widths_follow_their_position():
    def first_se(position):
        model = create_model([f"se.position={position}", "se.reduction=1"])
        return model.layer2[0].se.fc1.in_channels

    # conv3_x's first block: input 256 wide, 3x3 conv 128 wide, output 512 wide
    assert first_se("standard") == 512
    assert first_se("pre") == 256
    assert first_se("3x3") == 128
    assert first_se("identity") == 512


def test_identity_position_scales_the_shortcut_only():
    cfg = compose_config(["se.position=identity"])
    block = Bottleneck(64, 16, se=AttentionSpec(cfg.se.position, attention_factory(cfg)))
    block.eval()
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        expected = block.relu(block.residual(x) + block.se(x))
        torch.testing.assert_close(block(x), expected)


def test_stages_select_where_se_blocks_go():
    model = create_model(["se.stages=[3]"])
    assert [block.se is not None for block in model.layer1] == [False] * 3
    assert all(block.se is not None for block in model.layer2)
    assert all(block.se is None for block in (*model.layer3, *model.layer4))


# Stage k's SE blocks see maps at stride 2^(k + shift): the paper's numbering (ImageNet's stem, stage 1,
# at stride 2; CIFAR's stage 2 at full size), except that VGG's SE comes before its stage's closing pool
# and ShuffleNet numbers its stages as its own paper does (stage 2 at stride 8).
STRIDE_SHIFT = {"imagenet": 0, "cifar": -2, "vgg16": -1, "shufflenet_g3": 1}


def _attention_strides(name: str, stages: str) -> dict[str, int]:
    """log2 of the stride of the map each SE block of `name` squeezes, by the block's module name."""
    size = 32 if MODELS[name].family == "cifar" else 299 if name == "inception_resnet_v2" else 224  # their design sizes
    with torch.device("meta"):  # shapes only
        model = create_model([f"model={name}", f"se.stages={stages}"])
        seen = {}
        for key, module in model.named_modules():
            if isinstance(module, SqueezeExcitation):
                module.squeeze.register_forward_hook(
                    lambda _, x, __, key=key: seen.update({key: round(math.log2(size / x[0].shape[-1]))})
                )
        model(torch.randn(2, 3, size, size))
    return seen


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_registered_stage_puts_se_in_its_own_stage_only(name):
    """The registry alone numbers a model's stages and its loop consumes one entry per stage: each
    registered stage alone puts SE in blocks of that stage's stride only, disjoint from the other
    stages' blocks and together all of `se.stages=all`'s. A registry declaring stages the loop does
    not build, or numbering them otherwise, fails."""
    spec = MODELS[name]
    every = _attention_strides(name, "all")
    by_stage = {stage: _attention_strides(name, f"[{stage}]") for stage in spec.stages}
    shift = STRIDE_SHIFT.get(name, STRIDE_SHIFT[spec.family])
    assert {stage: set(strides.values()) for stage, strides in by_stage.items()} == {
        stage: {stage + shift} for stage in spec.stages
    }
    assert sum(map(len, by_stage.values())) == len(every)
    assert {key: stride for strides in by_stage.values() for key, stride in strides.items()} == every


def test_public_api_uses_the_cli_override_grammar():
    model = senet_ablate.create_model(["model=resnet50", "se.reduction=8"])
    assert model.layer4[0].se.fc1.out_channels == 2048 // 8


@pytest.fixture
def resnet8():
    """A model registered for one test: one basic block per stage, SE at two positions only."""
    from senet_ablate.models import register_model
    from senet_ablate.models.cifar import CifarResNet

    @register_model("cifar", (2, 3, 4), ("standard", "post"))
    def resnet8(**kwargs):
        return CifarResNet("basic", 1, (16, 32, 64), **kwargs)

    yield resnet8
    del MODELS["resnet8"]


def test_a_registered_model_is_a_config_option_checked_by_its_declared_stages_and_positions(resnet8):
    from senet_ablate.models import register_model

    model = create_model(["model=resnet8", "data=cifar10", "se.stages=[3,4]"])
    assert model.layer1[0].se is None and model.layer2[0].se is not None and len(model.layer3) == 1
    with pytest.raises(ConfigError, match="se.position='pre' .* resnet8 supports standard, post"):
        create_model(["model=resnet8", "data=cifar10", "se.position=pre"])
    with pytest.raises(ValueError, match="'resnet8' is registered twice"):
        register_model("cifar", (2, 3, 4))(resnet8)


def test_mobile_rows_match_table_3():
    """Params within 0.1M and MFLOPs within 3 of Table 3, except SE-ShuffleNet's MFLOPs: the paper
    prints 142 = its ShuffleNet's 140 + 2, counting SE's channel-wise scale (1.6M multiplies) with
    its FCs (0.6M); we count convs and linears only (138.1), and 137.5 for the ShuffleNet that the
    paper prints as 140."""
    paper = yaml.safe_load(PAPER_YAML.read_text())["mobile"]
    expected = {p + e["model"]: e[k] for e in paper for p, k in (("", "base"), ("SE-", "se"))}
    rows = {row["label"]: row for row in complexity_rows(compose_config(["+exp=mobile_sweep"]))}
    assert list(rows) == ["MobileNet", "SE-MobileNet", "ShuffleNet", "SE-ShuffleNet"]
    for label, (_, _, mflops, params_m) in expected.items():
        assert abs(rows[label]["params_m"] - params_m) < 0.1, label
        assert abs(rows[label]["gflops"] * 1000 - mflops) < (4 if label == "SE-ShuffleNet" else 3), label
    assert rows["SE-ShuffleNet"]["gflops"] * 1000 == pytest.approx(138.1, abs=0.05)


def test_mobilenet_has_timms_mobilenetv1_100_parameters():
    ours = create_model(["model=mobilenet", "se.enabled=false"])
    assert _params(ours) == _params(timm.create_model("mobilenetv1_100")) == 4_231_976


def test_channel_shuffle_interleaves_the_groups():
    from senet_ablate.models.shufflenet import channel_shuffle

    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


@pytest.mark.parametrize(
    "name,widths",
    [("mobilenet", [512] * 6), ("shufflenet_g3", [480, 960, 960, 960])],  # stage 4: 14 px / 7 px
)
def test_mobile_models_put_se_on_the_stages_asked_and_refuse_other_positions(name, widths):
    model = create_model([f"model={name}", "se.stages=[4]"])
    with_se = [module.se for module in model.modules() if getattr(module, "se", None) is not None]
    assert [se.fc1.in_channels for se in with_se] == widths
    with pytest.raises(ConfigError, match=f"se.position='post'.*{name} supports standard"):
        create_model([f"model={name}", "se.position=post"])


@pytest.mark.parametrize(
    "name,peer",
    [
        ("resnext101_32x4d", lambda: timm.create_model("legacy_seresnext101_32x4d")),
        ("vgg16", lambda: torchvision.models.vgg16_bn()),
        ("inception_resnet_v2", lambda: timm.create_model("inception_resnet_v2", pretrained=False)),
    ],
)
def test_new_table_2_models_have_their_peers_parameters(name, peer):
    se = "se.enabled=true" if name.startswith("resnext") else "se.enabled=false"
    assert _params(create_model([f"model={name}", se])) == _params(peer())


# Table 2 rows whose GFLOPs we cannot bring within 0.035 of the paper, with the figure we count.
# Inception-ResNet-v2 at 299 px, laid out as its authors' released model (and timm's, 55.84M
# parameters, 13.16 GMACs by the same count), is 1.41 G above the paper's 11.75 / 11.76; the SE
# paper does not say how it counted, and no input size or convention we tried gives 11.75.
TABLE_2_GFLOPS_WE_COUNT_INSTEAD = {"Inception-ResNet-v2": 13.1558, "SE-Inception-ResNet-v2": 13.1643}


def test_table_2_rows_are_within_0_035_gflops_of_the_paper():
    paper = yaml.safe_load(PAPER_YAML.read_text())["imagenet"]
    expected = {p + e["model"]: e[k][2] for e in paper for p, k in (("", "base"), ("SE-", "se"))}
    rows = complexity_rows(compose_config(["+exp=imagenet_sweep"]))
    assert [row["label"] for row in rows] == list(expected)
    for row in rows:
        if row["label"] in TABLE_2_GFLOPS_WE_COUNT_INSTEAD:
            assert row["gflops"] == pytest.approx(TABLE_2_GFLOPS_WE_COUNT_INSTEAD[row["label"]], abs=1e-4), row
        else:
            assert abs(row["gflops"] - expected[row["label"]]) < 0.035, row


def _se_widths(overrides):
    with torch.device("meta"):  # shapes only: building Inception-ResNet-v2 for real takes seconds
        model = create_model(overrides)
    return [module.se.fc1.in_channels for module in model.modules() if getattr(module, "se", None) is not None]


def test_bn_inception_has_one_se_on_each_whole_inception_module():
    assert _se_widths(["model=bn_inception"]) == [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]
    assert _se_widths(["model=bn_inception", "se.stages=[3]"]) == [256, 320]  # 3a, 3b at 28 px


def test_se_bn_inception_has_the_parameters_of_the_authors_released_model():
    """11,931,622: hujie-frank/SENet's models/SE-BN-Inception.prototxt, counted layer by layer
    (convs without bias, BN scale and shift, SE FCs with biases, the 1000-way FC)."""
    with torch.device("meta"):
        assert _params(create_model(["model=bn_inception"])) == 11_931_622
        assert _params(create_model(["model=bn_inception", "se.enabled=false"])) == 11_285_224


def test_inception_resnet_v2_has_se_on_each_residual_unit_only():
    """10 A, 20 B and 10 C units; the stem's Mixed_5b and the reduction modules have no residual branch."""
    assert _se_widths(["model=inception_resnet_v2"]) == [320] * 10 + [1088] * 20 + [2080] * 10
    assert _se_widths(["model=inception_resnet_v2", "se.stages=[4]"]) == [1088] * 20


def _block35(se_enabled: bool):
    from senet_ablate.models.inception import block35

    cfg = compose_config(["model=inception_resnet_v2", f"se.enabled={str(se_enabled).lower()}"])
    return block35(AttentionSpec(cfg.se.position, attention_factory(cfg)) if se_enabled else None)


def test_inception_resnet_v2_refuses_inputs_its_unpadded_convs_cannot_take():
    with pytest.raises(ConfigError, match="data.image_size=74 .* inception_resnet_v2 takes at least 75"):
        check_model(compose_config(["model=inception_resnet_v2", "data.image_size=74"]))


def test_inception_resnet_unit_puts_se_on_the_scaled_branch_before_the_sum():
    unit = _block35(se_enabled=True).eval()
    x = torch.randn(1, 320, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(unit(x), torch.relu(x + unit.se(unit.up(unit.branches(x)) * 0.17)))


def test_zero_init_residual_makes_an_inception_resnet_unit_the_identity():
    from senet_ablate.models.residual import init_weights

    unit = _block35(se_enabled=False)
    init_weights(unit, zero_init_residual=True)
    x = torch.rand(1, 320, 5, 5)  # non-negative, as after the ReLU that precedes every unit
    with torch.no_grad():
        torch.testing.assert_close(unit(x), x)


@pytest.mark.parametrize("name", ["mobilenet", "shufflenet_g3", "vgg16", "bn_inception"])
def test_zero_init_residual_is_refused_by_the_config_check_where_no_residual_unit_exists(name):
    with pytest.raises(ConfigError, match=f"model.zero_init_residual=True .* {name} has no ResidualUnit"):
        check_model(compose_config([f"model={name}", "model.zero_init_residual=true"]))


def test_mobilenet_v2_has_torchvisions_and_timms_parameters_and_table_2s_multiply_adds():
    """Sandler et al. print 3.4M and 300M multiply-adds (their Table 4): 3.4M is our 3,470,760
    without BN's 34,112 scales and shifts, truncated; we count 300.77M in convs and the FC."""
    ours = create_model(["model=mobilenet_v2", "se.enabled=false"])
    peers = (torchvision.models.mobilenet_v2(), timm.create_model("mobilenetv2_100"))
    assert _params(ours) == _params(peers[0]) == _params(peers[1]) == 3_504_872
    batch_norm = sum(_params(m) for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert math.floor((_params(ours) - batch_norm) / 1e5) / 10 == 3.4
    (row,) = complexity_rows(compose_config(["model=mobilenet_v2", "se.enabled=false"]))
    assert row["gflops"] * 1000 == pytest.approx(300.774, abs=5e-4)


def test_mbconv_sweep_rows_count_what_each_se_position_adds():
    """r=16: after the depthwise conv SE sits on the expanded width (6x the block input), after
    the projection on the narrow output, so it adds 19x the parameters there (571,614 vs 30,013)."""
    rows = {row["label"]: row for row in complexity_rows(compose_config(["+exp=mbconv_sweep"]))}
    expected = {
        "MobileNetV2": (3_504_872, 300.774),
        "SE-MobileNetV2 (after depthwise)": (4_076_486, 301.338),
        "SE-MobileNetV2 (standard)": (3_534_885, 300.803),
    }
    assert list(rows) == list(expected)
    for label, (params, mflops) in expected.items():
        assert round(rows[label]["params_m"] * 1e6) == params, label
        assert rows[label]["gflops"] * 1000 == pytest.approx(mflops, abs=5e-4), label


def _timm_mobilenet_v2(se_suffix_first: str = "", se_suffix: str = ""):
    """timm's MobileNetV2 built from its arch strings (as `_gen_mobilenet_v2`), with `_se<ratio>`
    suffixes: timm sizes the hidden width as round(block input width x ratio), Python's round."""
    from timm.models._efficientnet_builder import decode_arch_def
    from timm.models.efficientnet import EfficientNet

    rows = ["ir_r2_k3_s2_e6_c24", "ir_r3_k3_s2_e6_c32", "ir_r4_k3_s2_e6_c64", "ir_r3_k3_s1_e6_c96"]
    rows += ["ir_r3_k3_s2_e6_c160", "ir_r1_k3_s1_e6_c320"]
    arch = [[f"ds_r1_k3_s1_c16{se_suffix_first}"], *[[row + se_suffix] for row in rows]]
    return EfficientNet(decode_arch_def(arch), num_features=1280, stem_size=32, act_layer=torch.nn.ReLU6)


def _hidden_widths(model):
    return [m.conv_reduce.out_channels for m in model.modules() if hasattr(m, "conv_reduce")]


def test_se_after_depthwise_equals_timms_se_mobilenet_v2_where_the_hidden_widths_agree():
    """Ours: expanded width // 16. timm's ratio is of the block *input* width, so ratio 6/16 on the
    t=6 blocks (1/16 on the first, t=1) gives the same widths; there ratio/t x expanded width is
    exact, so Python's rounding never acts. timm's literal 1/16 would give 1/6 of our widths."""
    ours = create_model(["model=mobilenet_v2", "se.position=after_depthwise"])
    ours_widths = [block.se.fc1.out_channels for block in ours.blocks]
    assert ours_widths == [2, 6, 9, 9, 12, 12, 12, 24, 24, 24, 24, 36, 36, 36, 60, 60, 60]
    peer = _timm_mobilenet_v2("_se0.0625", "_se0.375")
    assert _hidden_widths(peer) == ours_widths and _params(ours) == _params(peer) == 4_076_486
    by_input_width = _timm_mobilenet_v2("_se0.0625", "_se0.0625")
    block_inputs = [32, 16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160]
    assert _hidden_widths(by_input_width) == [round(width / 16) for width in block_inputs]
    assert _params(ours) - _params(by_input_width) == 470_001


def test_efficientnets_quarter_ratio_is_our_r_24_but_for_the_first_block():
    """EfficientNet's `_se0.25` (a quarter of the block input, 6/24 of the expanded width) equals
    se.reduction=24 on every t=6 block; on the first (t=1, 32 wide) timm keeps 8 hidden units, we 1."""
    ours = create_model(["model=mobilenet_v2", "se.position=after_depthwise", "se.reduction=24"])
    peer = _timm_mobilenet_v2("_se0.25", "_se0.25")
    ours_widths = [block.se.fc1.out_channels for block in ours.blocks]
    assert ours_widths[0] == 1 and _hidden_widths(peer)[0] == 8 and ours_widths[1:] == _hidden_widths(peer)[1:]
    assert _params(peer) - _params(ours) == (32 * 8 + 8 + 8 * 32) - (32 * 1 + 1 + 1 * 32) == 455


@pytest.mark.parametrize(
    "position,widths",
    [("after_depthwise", [192, 384, 384, 384, 384, 576, 576]), ("standard", [64, 64, 64, 64, 96, 96, 96])],
)
def test_mobilenet_v2_puts_attention_where_asked_on_the_stages_asked(position, widths):
    """Stage 4 (14 px): the four 64-wide blocks, the first with stride 2 and no residual, and the
    three 96-wide ones, the first a width change without residual: all seven get a block."""
    model = create_model(["model=mobilenet_v2", f"se.position={position}", "se.stages=[4]"])
    assert [block.se.fc1.in_channels for block in model.blocks if block.se is not None] == widths
    assert [block.has_residual for block in model.blocks[6:13]] == [False, True, True, True, False, True, True]
    every_stage = create_model(["model=mobilenet_v2", f"se.position={position}"])
    assert all(block.se is not None for block in every_stage.blocks) and len(every_stage.blocks) == 17


def test_mobilenet_v2_attention_sees_the_tensor_of_its_position():
    seen = {}
    for position in ("after_depthwise", "standard"):
        model = create_model(["model=mobilenet_v2", f"se.position={position}", "data.image_size=32"]).eval()
        block = model.blocks[1]  # 16 -> 24 wide, stride 2: 96 wide after the depthwise conv
        block.se.register_forward_hook(lambda module, args, out, position=position: seen.update({position: args[0]}))
        with torch.no_grad():
            model(torch.randn(1, 3, 32, 32))
    assert seen["after_depthwise"].shape == (1, 96, 8, 8) and seen["after_depthwise"].min() >= 0  # after ReLU6
    assert seen["standard"].shape == (1, 24, 8, 8) and seen["standard"].min() < 0  # linear bottleneck


def _mbconv_by_hand(block, x, position):
    """An inverted residual with its attention at `position`, written out from its layers."""
    attend = lambda t, here: block.se(t) if here == position else t  # noqa: E731
    out = x
    if isinstance(block.expand, torch.nn.Sequential):  # 1x1 expand, BN, ReLU6
        out = torch.clamp(block.expand[1](block.expand[0](out)), 0, 6)
    out = attend(torch.clamp(block.depthwise[1](block.depthwise[0](out)), 0, 6), "after_depthwise")
    out = attend(block.project[1](block.project[0](out)), "standard")
    return x + out if block.has_residual else out


@pytest.mark.parametrize("position", ["after_depthwise", "standard"])
@pytest.mark.parametrize("attention", ["eca", "cbam"])
def test_every_attention_runs_at_both_mbconv_positions(attention, position):
    """A block of each kind (stage 1's, without expansion; a stride-2 one; one with a residual)
    equals the block written out by hand with the attention where the position says."""
    model = create_model(
        [
            "model=mobilenet_v2",
            f"attention={attention}",
            f"se.position={position}",
            "data.image_size=32",
            "data.num_classes=10",
        ]
    )
    model = _randomised_eval(model)
    assert {type(block.se) for block in model.blocks} == {ATTENTION[attention].module}
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
        for block in model.blocks[:3]:  # 32 -> 16 wide; 16 -> 24, stride 2; 24 -> 24
            first = block.expand[0] if isinstance(block.expand, torch.nn.Sequential) else block.depthwise[0]
            x = torch.randn(2, first.in_channels, 8, 8)
            torch.testing.assert_close(block(x), _mbconv_by_hand(block, x, position))
            assert not torch.allclose(block(x), _mbconv_by_hand(block, x, None))  # the attention makes a difference
