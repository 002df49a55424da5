"""Config: the schema (`schema.py`), its checks (`checks.py`) and composition (`compose.py`).

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
from senet_ablate.config.schema import (
    ATTENTION_GROUPS,
    COUNT_RELATIONS,
    COUNTED,
    GATES,
    PAIRS,
    PRESET_GROUPS,
    RELATIONS,
    SQUEEZES,
    Config,
    register_configs,
)

register_configs()

__all__ = [
    "ATTENTION_GROUPS",
    "CONFIG_DIR",
    "RESOLVED_BY_THE_MACHINE",
    "COUNTED",
    "COUNT_RELATIONS",
    "GATES",
    "PAIRS",
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
    "launcher_config",
    "name_experiment",
    "override_key",
    "register_configs",
    "row_configs",
    "utf8_path",
]
