import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from senet_ablate import ConfigError, create_model
from senet_ablate.__main__ import check_command_line
from senet_ablate.base.cli import run_cli
from senet_ablate.config import CONFIG_DIR, PRESET_GROUPS, apply_row, compose_config
from senet_ablate.engine.machine import for_device
from senet_ablate.models.checks import check_model
from senet_ablate.records.store import run_id
from senet_ablate.runs.checks import check_run

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


def test_an_experiment_is_named_by_its_file_and_a_different_name_is_refused():
    assert compose_config(["+exp=gate_sweep"]).exp.name == "gate_sweep" and compose_config([]).exp.name is None
    with pytest.raises(ConfigError, match="exp.name='gates' is not allowed: the experiment file's name .gate_sweep."):
        compose_config(["+exp=gate_sweep", "exp.name=gates"])


@pytest.mark.parametrize("exp", EXP_FILES)
def test_every_exp_file_composes_with_rows_that_apply(exp):
    cfg = compose_config([f"+exp={exp}"])
    assert cfg.exp.name == exp
    labels = [row.label for row in cfg.exp.rows]
    assert labels and len(set(labels)) == len(labels)
    for row in cfg.exp.rows:
        applied = apply_row(cfg, row.label)
        check_run(applied)
        check_model(applied)
        for item in row.set:
            key, value = item.split("=", 1)
            if key in PRESET_GROUPS:  # a preset: the row's group is that preset's (tests/test_recipe.py)
                assert applied[key] == compose_config([item])[key], (row.label, item)
            else:
                assert OmegaConf.select(applied, key) == yaml.safe_load(value), (row.label, item)


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


def test_positions_are_each_models_own_and_the_check_knows_every_model_s():
    """after_depthwise is MobileNetV2's alone: residual models do not claim it, and a name no
    model takes is refused with the list of every model's positions."""
    with pytest.raises(ConfigError, match=r"se.position='after_depthwise'.*resnet50 supports standard, pre, post"):
        create_model(["se.position=after_depthwise"])
    with pytest.raises(ConfigError, match=r"se.position='pre'.*mobilenet_v2 supports after_depthwise, standard$"):
        create_model(["model=mobilenet_v2", "se.position=pre"])
    with pytest.raises(ConfigError, match=r"one of 3x3, after_depthwise, identity, post, pre, standard$"):
        create_model(["model=mobilenet_v2", "se.position=middle"])


def test_unknown_row_is_refused():
    with pytest.raises(ConfigError, match="exp.row='64'"):
        apply_row(compose_config(["+exp=reduction_sweep"]), "64")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # starts the CLI
def test_complexity_cli_json_lists_every_row():
    result = _cli("senet_ablate.complexity", "+exp=reduction_sweep", "format=json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["label"] for r in rows] == ["2", "4", "8", "16", "32", "original"]
    assert {"label", "params_m", "gflops"} <= set(rows[0])


@pytest.mark.slow  # starts the CLI
def test_complexity_cli_markdown_single_row():
    result = _cli("senet_ablate.complexity", "model=resnet20", "data=cifar10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].startswith("| resnet20 | resnet20 | 0.27")


@pytest.mark.parametrize(
    "args,expected",
    [
        (["se.squeeze=mean"], "error: se.squeeze='mean' is not allowed: choose one of avg, max, none"),
        (
            ["se.stages=[7]"],
            "error: se.stages=[7] is not allowed: resnet50 has stages [2, 3, 4, 5] or 'all' "
            "(se.enabled=false for none)",
        ),
        (["format=xml"], "error: format='xml' is not allowed: choose one of markdown, json"),
    ],
)
@pytest.mark.slow  # starts the CLI
def test_cli_errors_are_one_line_with_exit_code_2(args, expected):
    result = _cli("senet_ablate.complexity", *args)
    assert result.returncode == 2
    assert result.stderr.strip() == expected
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # starts the CLI
def test_hydra_type_errors_are_one_line_too():
    result = _cli("senet_ablate.complexity", "se.reduction=abc")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "se.reduction" in result.stderr


def test_structured_config_is_the_schema():
    cfg = compose_config()
    assert OmegaConf.get_type(cfg.se).__name__ == "SEConfig"


def test_an_explicit_lr_is_the_lr_used_whatever_the_preset():
    for preset in ("imagenet_paper", "imagenet_ablation", "cifar_paper", "smoke"):
        cfg = compose_config([f"trainer={preset}", "trainer.batch_size=64", "trainer.lr=0.1"])
        assert cfg.trainer.lr == 0.1, preset


@pytest.mark.parametrize(
    "preset,base_lr,base_batch",
    [("imagenet_paper", 0.6, 1024), ("imagenet_ablation", 0.1, 256), ("cifar_paper", 0.1, 128)],
)
def test_presets_keep_the_linear_rule_visibly(preset, base_lr, base_batch):
    cfg = compose_config([f"trainer={preset}"])
    assert cfg.trainer.lr == pytest.approx(base_lr)
    assert compose_config([f"trainer={preset}", "trainer.batch_size=64"]).trainer.lr == pytest.approx(
        base_lr * 64 / base_batch
    )
    accumulated = compose_config([f"trainer={preset}", "trainer.batch_size=64", "trainer.accumulate_steps=4"])
    assert accumulated.trainer.lr == pytest.approx(base_lr * 256 / base_batch)
    # what `--cfg job` prints: the rule, not a number
    unresolved = OmegaConf.to_yaml(cfg.trainer)
    assert f"lr: ${{linear_lr:{base_lr},{base_batch},${{.batch_size}},${{.accumulate_steps}}}}" in unresolved


# Values a new user might type that cannot make a meaningful run: (command line, key named in the error).
INVALID = [
    ("se.reduction=0", "se.reduction"),
    ("se.reduction=-4", "se.reduction"),
    ("se.reduction=abc", "se.reduction"),
    ("se.squeeze=mean", "se.squeeze"),
    ("se.gate=softmax", "se.gate"),
    ("se.position=middle", "se.position"),
    ("model=resnet20 se.position=3x3", "se.position"),
    ("se.stages=[]", "se.stages"),
    ("se.stages=[7]", "se.stages"),
    ("se.stages=abc", "se.stages"),
    ("se.enabled=maybe", "se.enabled"),
    ("model.name=resnet51", "model.name"),
    ("model=resnet20 model.stride_in_1x1=true", "model.stride_in_1x1"),
    ("data.num_classes=0", "data.num_classes"),
    ("data.image_size=-32", "data.image_size"),
    ("data=cifar10 data.num_classes=100", "data.num_classes"),
    ("data=cifar10 data.image_size=64", "data.image_size"),
    ("data=cifar10 data.train_size=100", "data.train_size"),
    ("data=synthetic data.val_size=0", "data.val_size"),
    ("data.num_workers=-1", "data.num_workers"),
    ("data=imagefolder data.root=somewhere", "data.num_classes"),
    ("data.download=true", "data.download"),
    ("data=synthetic data.skip_corrupt=true", "data.skip_corrupt"),
    ("trainer.epochs=0", "trainer.epochs"),
    ("trainer.epochs=1.5", "trainer.epochs"),
    ("trainer.batch_size=0", "trainer.batch_size"),
    ("trainer.lr=-0.1", "trainer.lr"),
    ("trainer.lr=0", "trainer.lr"),
    ("trainer.momentum=1.5", "trainer.momentum"),
    ("trainer.momentum=0 trainer.nesterov=true", "trainer.nesterov"),
    ("trainer.weight_decay=-0.0001", "trainer.weight_decay"),
    ("trainer.schedule=linear", "trainer.schedule"),
    ("trainer.step_epochs=0", "trainer.step_epochs"),
    ("trainer.milestones=[]", "trainer.milestones"),
    ("trainer.milestones=[0.75,0.5]", "trainer.milestones"),
    ("trainer.milestones=[1.5]", "trainer.milestones"),
    ("trainer.plateau_patience=-1", "trainer.plateau_patience"),
    ("trainer.warmup_epochs=-1", "trainer.warmup_epochs"),
    ("trainer.epochs=5 trainer.warmup_epochs=5", "trainer.warmup_epochs"),
    ("trainer.label_smoothing=1.0", "trainer.label_smoothing"),
    ("trainer.accumulate_steps=0", "trainer.accumulate_steps"),
    ("trainer.max_steps_per_epoch=0", "trainer.max_steps_per_epoch"),
    ("trainer.device=tpu", "trainer.device"),
    ("trainer.lrr=0.1", "trainer.lrr"),
    ("model=resnet51", "model/resnet51"),
    ("logger.name=tensorboard", "logger.name"),
    ("logger.mode=sometimes", "logger.mode"),
    ("seed=-1", "seed"),
    ("results_dir=", "results_dir"),
    ("+exp=se3x3_sweep model=resnet20", "se.position"),
    ("+exp=reduction_sweep seed=0,-1", "seed"),
]


@pytest.mark.parametrize("command,key", INVALID, ids=[command for command, _ in INVALID])
def test_invalid_values_are_refused_in_one_line_before_anything_runs(command, key, capsys, tmp_path):
    """What `python -m senet_ablate <command>` does before Hydra starts a job (the CLI tests below
    show the same path end to end)."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(
            check_command_line,
            [*command.split(), f"results_dir={tmp_path}"] if key != "results_dir" else command.split(),
        )
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err.strip()
    assert len(stderr.splitlines()) == 1 and stderr.startswith("error: "), stderr
    assert key in stderr, stderr
    assert "is not allowed" in stderr or "choose one of" in stderr or " has " in stderr, stderr  # what is allowed
    last_key, typed = command.split()[-1].split("=", 1)
    if last_key == key and key != "trainer.lrr":  # the typed value is named too (for a known key)
        assert typed.split(",")[-1].strip("[]").lower() in stderr.lower(), stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_row_that_does_not_apply_is_named():
    with pytest.raises(ConfigError, match=r"se.position='3x3'.*row 'SE_3x3' of se3x3_sweep"):
        check_command_line(["+exp=se3x3_sweep", "model=resnet20"])


def test_valid_sweeps_and_hydra_flags_pass_the_check():
    check_command_line(["+exp=reduction_sweep", "model=resnet20", "data=synthetic", "seed=0,1"])
    check_command_line(["-m", "se.reduction=4,8", "hydra.verbose=true"])
    check_command_line(["--cfg", "job", "se.reduction=abc"])  # left to Hydra, which prints the config
    check_command_line(["-m", "trainer.lr=interval(0.01,0.1)"])  # a sweeper plugin's, left to Hydra


def test_a_comma_in_a_path_of_a_single_run_is_one_line_saying_how_to_quote_it(tmp_path):
    root = tmp_path / "images,2024"
    with pytest.raises(ConfigError) as refused:
        check_command_line(["data=imagefolder", f"data.root={root}", "data.num_classes=2"])
    assert str(refused.value) == (
        f"data.root='{root}' is not allowed: a comma makes it a list of values to sweep over: quote it as one "
        f"value ('data.root=\"{root}\"'), or add -m to run one job per value"
    )
    check_command_line(["-m", "data=synthetic", f"results_dir={tmp_path}/a,{tmp_path}/b"])  # with -m: a sweep


def test_a_tilde_path_is_one_line_and_a_quoted_one_is_the_home_directory():
    with pytest.raises(ConfigError, match=r"Hydra cannot read a value that starts with '~': write data.root=\$HOME/x"):
        check_command_line(["data=imagefolder", "data.root=~/x", "data.num_classes=2"])
    cfg = compose_config(["data=imagefolder", 'data.root="~/x"', "results_dir='~/results'"])
    assert cfg.data.root == str(Path.home() / "x") and cfg.results_dir == str(Path.home() / "results")


def test_an_experiments_reference_must_be_one_of_its_rows_and_its_margin_positive():
    with pytest.raises(ConfigError, match="exp.reference='SE-ResNet-50' is not allowed: choose one of pairs, 2, 4, 8"):
        check_run(compose_config(["+exp=reduction_sweep", "exp.reference=SE-ResNet-50"]))
    with pytest.raises(ConfigError, match="exp.margin=0.0 is not allowed: must be 0 < margin"):
        check_run(compose_config(["+exp=reduction_sweep", "exp.margin=0"]))
    for name in EXP_FILES:  # every file names its reference: a row of its own, or `pairs`
        cfg = compose_config([f"+exp={name}"])
        assert cfg.exp.reference in ["pairs", *(row.label for row in cfg.exp.rows)], name


def test_a_claim_must_name_rows_of_its_experiment_and_a_known_relation():
    with pytest.raises(ConfigError, match=r"exp.claims\[0\].rows='64' is not allowed: choose one of 2, 4, 8"):
        check_run(compose_config(["+exp=reduction_sweep", "exp.claims=[{says: x, relation: worse, rows: ['64']}]"]))
    bad = "exp.claims=[{says: x, relation: faster, rows: ['2'], than: ['4']}]"
    with pytest.raises(ConfigError, match=r"exp.claims\[0\].relation='faster' is not allowed: choose one of better"):
        check_run(compose_config(["+exp=reduction_sweep", bad]))


def test_channels_last_is_on_for_amp_on_cuda_unless_set_and_cpu_run_ids_are_unchanged():
    def channels_last(device_type, *overrides):
        return for_device(compose_config(list(overrides)), device_type).trainer.channels_last

    assert channels_last("cuda") is True  # every preset trains under AMP
    assert channels_last("cuda", "trainer.amp=false") is False and channels_last("cpu") is False
    assert channels_last("cuda", "trainer.channels_last=false") is False
    assert channels_last("cpu", "trainer.channels_last=true") is True
    # A CPU run's id is the one it had when channels_last defaulted to false.
    unset = for_device(compose_config(["data=synthetic"]), "cpu")
    explicit = for_device(compose_config(["data=synthetic", "trainer.channels_last=false"]), "cpu")
    assert run_id(unset, "fingerprint") == run_id(explicit, "fingerprint")


def test_a_composed_config_is_the_callers_own_and_a_home_is_read_at_each_call(monkeypatch, tmp_path):
    """Composition is memoised per process: each call still gets its own copy, and `~` expands to
    the home of the moment of the call."""
    overrides = ["data=synthetic", "data.root='~/images'", "results_dir='~/results'"]
    monkeypatch.setenv("HOME", str(tmp_path / "ann"))
    first = compose_config(overrides)
    first.trainer.epochs, first.exp.overrides[0] = 999, "changed"
    monkeypatch.setenv("HOME", str(tmp_path / "bob"))
    second = compose_config(overrides)
    assert second.trainer.epochs != 999 and second.exp.overrides == overrides
    assert (first.data.root, second.data.root) == (f"{tmp_path}/ann/images", f"{tmp_path}/bob/images")
    assert second.results_dir == f"{tmp_path}/bob/results"


def test_sync_bn_is_on_on_cuda_unless_set_and_cpu_run_ids_are_unchanged():
    """Off, each GPU normalised over its 1/W of the batch and evaluated with rank 0's running
    statistics: results depended on the number of GPUs. (torch's SyncBatchNorm runs on CUDA only,
    so the CPU's gloo processes cannot show its effect: its decision is what is tested here.)"""

    def sync_bn(device_type, *overrides):
        return for_device(compose_config(list(overrides)), device_type).trainer.sync_bn

    assert sync_bn("cuda") is True and sync_bn("cpu") is False
    assert sync_bn("cuda", "trainer.sync_bn=false") is False
    unset = for_device(compose_config(["data=synthetic"]), "cpu")
    explicit = for_device(compose_config(["data=synthetic", "trainer.sync_bn=false"]), "cpu")
    assert run_id(unset, "fingerprint") == run_id(explicit, "fingerprint")  # as when false was the default
