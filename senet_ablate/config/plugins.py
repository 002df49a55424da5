"""The user's own modules (`plugins=[my_lab.blocks]`), and the config groups their blocks bring.

A plugin is any importable module that registers with our own decorators (`register_attention`,
`register_model`, `register_dataset`); importing it is all we do. `compose_config` imports the
modules that the command line names before it composes, then those that the composed config
names (an experiment file's `plugins:`), composing again if they brought new config groups. So
every entry point that composes a config (training, the report, the planner, the complexity
table) has them, before anything is checked or built; a Hydra launcher's worker gets them back
with the config store it unpickles, which names their config classes.

An attention block registered with `config=<dataclass>` adds its group (`my_gate:`) to the
schema, typed and checked by Hydra like `eca:`. Such a group is part of a run's identity only
where its block is the one in use (`attention=my_gate`), so loading a plugin changes no other
run's id; the built-in groups (`se`, `eca`, `cbam`) are fields of `Config` and in every id, as
they were before plugins existed.
"""

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import fields, is_dataclass

from senet_ablate.base.errors import ConfigError
from senet_ablate.config.schema import PLUGIN_GROUPS, Config, register_configs

BASE_KEYS = frozenset(field.name for field in fields(Config))  # taken: no plugin group may use these names


def register_config_group(group: str, node: type) -> None:
    """Add `group:` (the dataclass `node`, its keys and defaults) to the schema every config composes."""
    if not is_dataclass(node):
        raise TypeError(f"the config of {group!r} must be a dataclass, not {node!r}")
    if group in BASE_KEYS or group in PLUGIN_GROUPS:
        raise ValueError(f"config group {group!r} is already taken")
    PLUGIN_GROUPS[group] = node
    register_configs()


def plugins_named(overrides: Iterable[str]) -> list[str]:
    """The modules a `plugins=[a.b,c]` (or `plugins=a.b`) override names, in Hydra's grammar."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    wanted = [o for o in overrides if o.lstrip("+~").startswith("plugins=")]
    names: list[str] = []
    for override in OverridesParser.create().parse_overrides(wanted):
        value = override.value()
        names += [str(name) for name in value] if isinstance(value, list) else [str(value)]
    return names


def import_plugins(names: Sequence[str]) -> bool:
    """Import each module (a no-op for those imported already); True if one of them added a
    config group, so that a config composed before lacks it. An unimportable one is a ConfigError."""
    groups = len(PLUGIN_GROUPS)
    for name in names:
        try:
            importlib.import_module(str(name))
        except Exception as error:  # the user's code: any error it raises is the reason
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            if isinstance(error, ModuleNotFoundError):
                reason += " (is its folder on PYTHONPATH, or its package installed?)"
            raise ConfigError("plugins", str(name), f"cannot import it: {reason}") from error
    return len(PLUGIN_GROUPS) > groups


def without_unused_groups(config: dict) -> dict:
    """A config as plain data without the plugin groups of blocks not in use (see the docstring):
    what a run's id hashes and its record holds."""
    return {key: value for key, value in config.items() if key not in PLUGIN_GROUPS or key == config.get("attention")}
