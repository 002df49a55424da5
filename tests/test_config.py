import json
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from senet_ablate import ConfigError, create_model
from senet_ablate.config import CONFIG_DIR, apply_row, compose_config

EXP_FILES = sorted(path.stem for path in (CONFIG_DIR / "exp").glob("*.yaml"))


def test_defaults_are_the_papers_resnet50():
    cfg = compose_config()
    assert (cfg.model.name, cfg.se.enabled, cfg.se.reduction, cfg.se.squeeze, cfg.se.gate) == (
        "resnet50",
        True,
        16,
        "avg",
        "sigmoid",
    )


@pytest.mark.parametrize("exp", EXP_FILES)
def test_every_exp_file_composes_with_rows_that_apply(exp):
    cfg = compose_config([f"+exp={exp}"])
    assert cfg.exp.name == exp
    labels = [row.label for row in cfg.exp.rows]
    assert labels and len(set(labels)) == len(labels)
    for label in labels:
        assert apply_row(cfg, label).exp.row == label


def test_row_overrides_win_and_keep_types():
    cfg = compose_config(["+exp=stage_sweep", "se.reduction=8"])
    row = apply_row(cfg, "SE_Stage_3")
    assert list(row.se.stages) == [3] and row.se.reduction == 8
    assert apply_row(cfg, "ResNet-50").se.enabled is False


def test_command_line_groups_override_the_exp_defaults():
    cfg = compose_config(["+exp=reduction_sweep", "model=resnet20", "data=synthetic"])
    assert (cfg.model.name, cfg.data.name, cfg.data.image_size) == ("resnet20", "synthetic", 32)


@pytest.mark.parametrize(
    "override,key",
    [
        ("se.squeeze=mean", "se.squeeze"),
        ("se.reduction=0", "se.reduction"),
        ("se.stages=[7]", "se.stages"),
        ("se.gate=softmax", "se.gate"),
        ("se.position=middle", "se.position"),
        ("trainer.device=tpu", "trainer.device"),
    ],
)
def test_bad_values_name_key_value_and_choices(override, key):
    with pytest.raises(ConfigError) as error:
        create_model([override])
    message = str(error.value)
    assert message.startswith(f"{key}=") and override.split("=", 1)[1].strip("[]") in message
    assert "\n" not in message


def test_position_a_model_lacks_is_refused():
    with pytest.raises(ConfigError, match=r"se.position='3x3'.*resnet110 supports standard, pre, post, identity"):
        create_model(["model=resnet110", "se.position=3x3"])


def test_unknown_row_is_refused():
    with pytest.raises(ConfigError, match="exp.row='64'"):
        apply_row(compose_config(["+exp=reduction_sweep"]), "64")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)


def test_complexity_cli_json_lists_every_row():
    result = _cli("senet_ablate.complexity", "+exp=reduction_sweep", "format=json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["label"] for r in rows] == ["2", "4", "8", "16", "32", "original"]
    assert {"label", "params_m", "gflops"} <= set(rows[0])


def test_complexity_cli_markdown_single_row():
    result = _cli("senet_ablate.complexity", "model=resnet20", "data=cifar10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].startswith("| resnet20 | resnet20 | 0.27")


@pytest.mark.parametrize(
    "args,expected",
    [
        (["se.squeeze=mean"], "error: se.squeeze='mean' is not allowed: choose one of avg, max, none"),
        (["se.stages=[7]"], "error: se.stages=[7] is not allowed: resnet50 has stages [2, 3, 4, 5] or 'all'"),
        (["format=xml"], "error: format='xml' is not allowed: choose one of markdown, json"),
    ],
)
def test_cli_errors_are_one_line_with_exit_code_2(args, expected):
    result = _cli("senet_ablate.complexity", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.stderr


def test_hydra_type_errors_are_one_line_too():
    result = _cli("senet_ablate.complexity", "se.reduction=abc")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "se.reduction" in result.stderr


def test_structured_config_is_the_schema():
    cfg = compose_config()
    assert OmegaConf.get_type(cfg.se).__name__ == "SEConfig"
