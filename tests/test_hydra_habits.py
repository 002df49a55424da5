"""Hydra's own habits on our command line: a plain `-m` (no experiment file), `--cfg job`,
`--help`, another launcher. Each ends in its runs or its output, never in a traceback."""

import subprocess
import sys

import pytest
import yaml
from helpers import SMALL, TINY
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from senet_ablate.__main__ import check_command_line
from senet_ablate.base.cli import run_cli
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import CONFIG_DIR
from senet_ablate.config.schema import register_configs
from senet_ablate.records.store import iter_records

# The cheapest runs there are: one step of 32 generated images and one validation batch, loaded
# in the training process itself.
CHEAP = [*TINY, *SMALL, "trainer.epochs=1", "trainer.max_steps_per_epoch=1", "data.num_workers=0"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "senet_ablate", *args], capture_output=True, text=True, timeout=300)


def _sweep_dir(*overrides: str) -> str:
    """`hydra.sweep.dir` as Hydra resolves it for a command line, its choices included."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides, "results_dir=/r"], return_hydra_config=True)
    return OmegaConf.select(cfg, "hydra.sweep.dir")


def test_a_sweeps_folder_is_named_by_its_experiment_and_a_plain_multiruns_is_logs_multirun():
    assert _sweep_dir("+exp=gate_sweep") == "/r/logs/gate_sweep"
    assert _sweep_dir("+exp=reduction_sweep", "model=resnet20") == "/r/logs/reduction_sweep"
    assert _sweep_dir() == _sweep_dir("se.reduction=4", "model=resnet20") == "/r/logs/multirun"


@pytest.mark.slow  # starts the CLI, which trains two runs
def test_a_plain_multirun_without_an_experiment_file_runs_one_job_per_value(tmp_path):
    result = _cli("-m", "se.reduction=4,8", *CHEAP, f"results_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    records = list(iter_records(tmp_path))
    assert sorted(record["config"]["se"]["reduction"] for record in records) == [4, 8]
    assert all(record["status"] == "completed" and record["exp"] is None for record in records)
    sweep = yaml.safe_load((tmp_path / "logs" / "multirun" / "multirun.yaml").read_text())  # Hydra's record of it
    assert "se.reduction=4,8" in sweep["hydra"]["overrides"]["task"]
    assert sorted(path.name for path in (tmp_path / "logs").iterdir()) == sorted(
        ["multirun", *(record["run_id"] for record in records)]  # and each run's own log folder
    )


@pytest.mark.slow  # starts the CLI
def test_another_launcher_runs_the_jobs(tmp_path):
    result = _cli("-m", "hydra/launcher=basic", "seed=3", *CHEAP, f"results_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    [record] = iter_records(tmp_path)
    assert (record["seed"], record["status"]) == (3, "completed")
    assert (tmp_path / "logs" / "multirun" / "multirun.yaml").is_file()


@pytest.mark.slow  # starts the CLI
@pytest.mark.parametrize("exp", [[], ["+exp=gate_sweep"]], ids=["plain", "experiment"])
def test_cfg_job_prints_the_composed_job_config(exp, tmp_path):
    result = _cli("--cfg", "job", *exp, *TINY, f"results_dir={tmp_path}")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    cfg = yaml.safe_load(result.stdout)
    assert (cfg["model"]["name"], cfg["data"]["name"], cfg["trainer"]["device"]) == ("resnet20", "synthetic", "cpu")
    assert "hydra" not in cfg and bool(cfg["exp"]["rows"]) == bool(exp)
    assert not list(tmp_path.iterdir())  # printing runs nothing


@pytest.mark.slow  # starts the CLI
@pytest.mark.parametrize("args", [["--help"], ["--help", "+exp=gate_sweep"]], ids=["plain", "experiment"])
def test_help_exits_0(args):
    result = _cli(*args)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "senet_ablate" in result.stdout


@pytest.mark.slow  # starts the CLI
def test_a_submitit_launcher_composes_without_submitting(tmp_path):
    result = _cli("--cfg", "hydra", "hydra/launcher=submitit_local", *TINY, f"results_dir={tmp_path}")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    hydra = yaml.safe_load(result.stdout)["hydra"]
    assert hydra["launcher"]["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"
    assert hydra["sweep"]["dir"] == "${results_dir}/logs/${oc.select:hydra.runtime.choices.exp,multirun}"
    assert not list(tmp_path.iterdir())


TWO_COMMANDS = [
    ("-m --cfg job se.reduction=4,8", "-m='--cfg' is not allowed: Hydra does one of -m, --cfg at a time: drop -m"),
    ("--cfg=job --multirun", "--cfg='-m' is not allowed: Hydra does one of --cfg, -m at a time: drop -m"),
    ("-m --info", "-m='--info' is not allowed: Hydra does one of -m, --info at a time: drop -m"),
    ("-c job -r", "--cfg='--run' is not allowed: Hydra does one of --cfg, --run at a time: keep one"),
    ("-m --resolve", "--resolve='without --cfg' is not allowed: it resolves the config that --cfg prints"),
]


@pytest.mark.parametrize("command,line", TWO_COMMANDS, ids=[command for command, _ in TWO_COMMANDS])
def test_two_of_hydras_commands_are_one_line_not_its_traceback(command, line, capsys):
    """What `python -m senet_ablate <command>` does before Hydra, which would stop with a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(check_command_line, command.split())
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and stderr.startswith(f"error: {line}") and len(stderr.splitlines()) == 1, stderr


def test_help_and_one_command_at_a_time_are_left_to_hydra():
    for command in ("-m --help", "--help --resolve", "--cfg job --resolve", "--hydra-help -m --cfg job", "-m -m"):
        check_command_line([*command.split(), "model=resnet20"])


@pytest.mark.parametrize("launcher", ["slurm", "submitit_slurm"])
def test_the_slurm_launcher_where_slurm_is_not_installed_is_one_line(launcher, monkeypatch, tmp_path):
    """submitit would stop the sweep with a traceback of "Could not detect srun"; the command line
    is refused first, in one line, and nothing is written."""
    monkeypatch.setattr("shutil.which", lambda name: None)
    command = ["-m", "se.reduction=4,8", *CHEAP, f"results_dir={tmp_path}/r", f"hydra/launcher={launcher}"]
    with pytest.raises(ConfigError, match=f"hydra/launcher='{launcher}' is not allowed: SLURM's srun is not on"):
        check_command_line(command)
    assert not (tmp_path / "r").exists()
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")  # on a login node: checked as usual
    check_command_line(command)
    check_command_line([*command[:-1], "hydra/launcher=submitit_local"])  # no SLURM needed
