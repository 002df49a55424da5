"""Composition: the config a command line would run (`compose_config`) and each experiment row's
config (`apply_row`, `row_configs`).
"""

import copy
import functools
import os
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from senet_ablate.base.errors import ConfigError
from senet_ablate.config.checks import choice
from senet_ablate.config.plugins import import_plugins, plugins_named
from senet_ablate.config.schema import PLUGIN_GROUPS, PRESET_GROUPS, register_configs

# The repository's conf/, which pyproject.toml installs as the package senet_ablate.conf: the same
# directory in a checkout (editable install) as in site-packages (wheel, `pip install .`).
CONFIG_DIR = Path(str(files("senet_ablate.conf"))).resolve()


# The keys whose `auto` (or null) `engine.machine.for_device` decides on the machine that runs: a
# record holds the decided value, which nobody typed.
RESOLVED_BY_THE_MACHINE = ("trainer.device", "data.loader", "trainer.channels_last", "trainer.sync_bn")


def override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def apply_row(cfg: DictConfig, label: str) -> DictConfig:
    """The config of one experiment row: `cfg` with the row's overrides merged on top.

    Rows mostly set plain config keys, so a row also works on top of any model or dataset chosen
    on the command line, and a row's own keys win over the command line's. A row may also select a
    preset of a config group (`trainer=timm_a3`, a recipe): the config is then composed again from
    `exp.overrides` with the row's choice in place of the command line's, so that the preset
    replaces the group while the keys typed on the command line (`trainer.epochs=1`) still apply.
    """
    choice("exp.row", label, [row.label for row in cfg.exp.rows])
    row = next(row for row in cfg.exp.rows if row.label == label)
    items = [item.split("=", 1) for item in row.set]
    presets = {key: value for key, value in items if key in PRESET_GROUPS}
    if presets:
        kept = [override for override in cfg.exp.overrides if override_key(override) not in presets]
        cfg = compose_config([*kept, *(f"{group}={preset}" for group, preset in presets.items())])
    merged = OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{k}={v}" for k, v in items if k not in presets]))
    merged.exp.row = label
    return merged


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The config that `python -m senet_ablate <overrides>` would run, without running it.

    Experiment files compose too; their sweep settings live under `hydra` and are not returned.
    Models and datasets registered since import (`senet_ablate.models.register_model`,
    `senet_ablate.data.registry.register_dataset`) are options too. The modules `plugins` names
    are imported first: those of a `plugins=` override before composing, those the composed config
    names (an experiment file's `plugins:`) after, composing again if they add config groups.
    """
    register_configs()
    import_plugins(plugins_named(overrides))
    cfg = _composed(tuple(overrides))
    if import_plugins(cfg.plugins):
        cfg = _composed(tuple(overrides))
    cfg.exp.overrides = list(overrides)
    return expand_user_paths(cfg)


def _composed(overrides: tuple[str, ...]) -> DictConfig:
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a running Hydra app: its own search path
        return _compose((*_typed_searchpath(), *overrides))
    return copy.deepcopy(_compose_from_conf(overrides, tuple(PLUGIN_GROUPS)))


def _typed_searchpath() -> tuple[str, ...]:
    """The running app's `hydra.searchpath=` override, as typed (a user's own config folder). Hydra
    applies it to the app's own compositions only: without it, a row that selects a preset would
    compose again without the user's folder and lose the experiment file it came from."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return ()
    return tuple(override for override in HydraConfig.get().overrides.hydra if override.startswith("hydra.searchpath="))


def _compose(overrides: tuple[str, ...]) -> DictConfig:
    """Hydra's composition of `overrides`, named after its experiment, without Hydra's own node."""
    from hydra import compose

    cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    name_experiment(cfg, cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@functools.lru_cache(maxsize=512)
def _compose_from_conf(overrides: tuple[str, ...], groups: tuple[str, ...]) -> DictConfig:
    """`_compose` from conf/, memoised for the process (callers get copies): Hydra takes ~70 ms a
    composition, and a report composes every experiment file and each of its preset rows. Keyed
    by the plugins' config groups too: a composition made before one was added lacks it."""
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return _compose(overrides)


def launcher_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The `hydra.launcher` node that `python -m senet_ablate <overrides>` would hand its jobs to:
    its `_target_` names the launcher (Hydra's basic one, submitit's local or SLURM one), its other
    keys are the launcher's settings (`partition`, `gpus_per_node`, ...). `compose_config` leaves
    Hydra's node out; a planner needs to know where the jobs will run."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    if GlobalHydra.instance().is_initialized():  # inside a running Hydra app: its own search path
        return compose("config", overrides=list(overrides), return_hydra_config=True).hydra.launcher
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True).hydra.launcher


def name_experiment(cfg: DictConfig, choices: DictConfig) -> None:
    """Set `exp.name` to the experiment file's name, as `+exp=<name>` chose it (Hydra's choices):
    the file's name is its one declaration, never repeated inside it, and a different one set by
    hand is refused rather than silently replaced."""
    chosen = choices.get("exp")
    if cfg.exp.name is not None and cfg.exp.name != chosen:
        raise ConfigError("exp.name", cfg.exp.name, f"the experiment file's name ({chosen}) names it: remove exp.name")
    cfg.exp.name = chosen


def expand_user_paths(cfg: DictConfig) -> DictConfig:
    """`cfg` with a leading `~` in `data.root` and `results_dir` made the home directory, as a shell
    would: Hydra cannot read an unquoted `~` in a value, and a quoted one reaches us unexpanded."""
    for key in ("data.root", "results_dir"):
        value = OmegaConf.select(cfg, key)
        if isinstance(value, str) and value.startswith("~"):
            OmegaConf.update(cfg, key, os.path.expanduser(value))
    return cfg


def config_dirs(overrides: Sequence[str] = ()) -> list[Path]:
    """conf/, then the directories a `hydra.searchpath=[file:///...]` override adds (a user's own
    experiment files and presets), in Hydra's order of precedence for groups: ours first."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    dirs = [CONFIG_DIR]
    for override in OverridesParser.create().parse_overrides(
        [o for o in overrides if o.startswith("hydra.searchpath=")]
    ):
        dirs += [Path(entry.removeprefix("file://")) for entry in override.value() if entry.startswith("file://")]
    return dirs


def row_configs(cfg: DictConfig) -> list[DictConfig]:
    """One config per experiment row (in the file's order), or `[cfg]` when no experiment is set."""
    if not cfg.exp.rows:
        return [cfg]
    return [apply_row(cfg, row.label) for row in cfg.exp.rows]
