"""Config: the schema (`schema.py`), its checks (`checks.py`), composition (`compose.py`) and the
user's own modules that extend it (`plugins.py`).

The leaf of the package: it imports nothing of ours but the base, so every stage can read it.
"""

from senet_ablate.config.checks import check_config, check_experiment_names, utf8_path
from senet_ablate.config.compose import (
    CONFIG_DIR,
    RESOLVED_BY_THE_MACHINE,
    apply_row,
    compose_config,
    config_dirs,
    expand_user_paths,
    launcher_config,
    name_experiment,
    override_key,
    row_configs,
)
from senet_ablate.config.plugins import import_plugins, plugins_named, register_config_group, without_unused_groups
from senet_ablate.config.schema import (
    COUNT_RELATIONS,
    COUNTED,
    GATES,
    PAIRS,
    PLUGIN_GROUPS,
    PRESET_GROUPS,
    RELATIONS,
    SQUEEZES,
    Config,
    register_configs,
    schema_node,
)

register_configs()

__all__ = [
    "CONFIG_DIR",
    "RESOLVED_BY_THE_MACHINE",
    "COUNTED",
    "COUNT_RELATIONS",
    "GATES",
    "PAIRS",
    "PLUGIN_GROUPS",
    "PRESET_GROUPS",
    "RELATIONS",
    "SQUEEZES",
    "Config",
    "apply_row",
    "check_config",
    "check_experiment_names",
    "compose_config",
    "config_dirs",
    "expand_user_paths",
    "import_plugins",
    "launcher_config",
    "name_experiment",
    "override_key",
    "plugins_named",
    "register_config_group",
    "register_configs",
    "row_configs",
    "schema_node",
    "utf8_path",
    "without_unused_groups",
]
