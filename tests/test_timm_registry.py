"""Our models in timm's registry: `timm.create_model("senet_ablate_<name>", ...)`."""

import pytest
import timm
import torch

import senet_ablate
from senet_ablate import ConfigError
from senet_ablate.models import MODELS


def _params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_timm_builds_every_registered_model_as_create_model_does(name):
    assert _params(timm.create_model(f"senet_ablate_{name}")) == _params(senet_ablate.create_model([f"model={name}"]))


def test_keyword_arguments_are_config_keys_and_timms_train_defaults_are_accepted():
    ours = senet_ablate.create_model(["model=resnet50", "se.position=pre", "se.reduction=8", "data.num_classes=100"])
    # what timm's train.py passes besides the model's own arguments
    common = dict(in_chans=3, drop_rate=0.0, drop_path_rate=None, global_pool=None, checkpoint_path="")
    theirs = timm.create_model("senet_ablate_resnet50", se_position="pre", se_reduction=8, num_classes=100, **common)
    assert _params(theirs) == _params(ours)
    assert theirs.layer1[0].se.fc1.in_channels == 64  # pre: the block's input width
    assert theirs.pretrained_cfg["input_size"] == (3, 224, 224) and theirs.pretrained_cfg["num_classes"] == 100
    eca = timm.create_model("senet_ablate_resnet50", attention="eca", eca_kernel_size=5)
    assert _params(eca) == _params(senet_ablate.create_model(["attention=eca", "eca.kernel_size=5"]))
    staged = timm.create_model("senet_ablate_resnet20", se_stages=[4], model_zero_init_residual=True)
    assert staged.layer2[0].se is None and staged.layer3[0].se is not None
    assert staged.pretrained_cfg["input_size"] == (3, 32, 32)
    with torch.no_grad():
        assert staged(torch.randn(2, 3, 32, 32)).shape == (2, 1000)


def test_timm_builds_mobilenet_v2_with_se_after_the_depthwise_conv():
    model = timm.create_model("senet_ablate_mobilenet_v2", se_position="after_depthwise")
    assert model.blocks[1].se.fc1.in_channels == 96  # 16 x 6, the expanded width
    assert _params(model) == _params(senet_ablate.create_model(["model=mobilenet_v2", "se.position=after_depthwise"]))


def test_what_our_models_cannot_honour_is_one_clear_error():
    with pytest.raises(ConfigError, match="drop_rate=0.2 .* take drop_rate=0 only"):
        timm.create_model("senet_ablate_resnet50", drop_rate=0.2)
    with pytest.raises(ConfigError, match="pretrained=True .*load_pretrained"):
        timm.create_model("senet_ablate_resnet50", pretrained=True)
    with pytest.raises(ConfigError, match="reduction=8 .* <group>_<key>"):
        timm.create_model("senet_ablate_resnet50", reduction=8)
    with pytest.raises(ConfigError, match="se.reduction=0"):
        timm.create_model("senet_ablate_resnet50", se_reduction=0)


LISTED = "print('senet_ablate_resnet50' in timm.list_models('senet_ablate_*'))"


@pytest.mark.parametrize(
    "script",
    [
        # the CLI's imports leave timm out (1-2 s saved per start); importing timm then registers
        f"import sys, senet_ablate.__main__\nassert 'timm' not in sys.modules\nimport timm\n{LISTED}",
        f"import timm, senet_ablate\n{LISTED}",  # timm first: registered at once
    ],
)
@pytest.mark.slow  # starts the CLI
def test_registered_whichever_is_imported_first_and_the_cli_does_not_import_timm(script):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "True"
