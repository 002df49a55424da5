"""The config keys whose meaning depends on the model: its name, stages, SE positions, Shake-Shake
modes and the attention block. They read the model registry, which the config must not import
(config is the package's leaf), so they live here and `build_model` runs them.
"""

from collections.abc import Sequence

from omegaconf import DictConfig

from senet_ablate.attention import ATTENTION
from senet_ablate.base.errors import ConfigError
from senet_ablate.config.checks import choice, positive
from senet_ablate.config.schema import GATES, SQUEEZES
from senet_ablate.models.registry import MODELS, supported_positions
from senet_ablate.models.shake_mix import BACKWARD_MODES, FORWARD_MODES, LEVELS


def se_stages(cfg: DictConfig) -> tuple[int, ...]:
    """The stages that get SE blocks, after resolving "all" against the model."""
    spec = MODELS[cfg.model.name]
    stages = cfg.se.stages
    if isinstance(stages, str):
        choice("se.stages", stages, ["all", "a list such as [2, 3]"])
        return spec.stages
    if isinstance(stages, int) and not isinstance(stages, bool):
        stages = [stages]
    allowed = f"{cfg.model.name} has stages {list(spec.stages)} or 'all' (se.enabled=false for none)"
    if not isinstance(stages, Sequence) or not stages:
        raise ConfigError("se.stages", stages, allowed)
    for stage in stages:
        if isinstance(stage, bool) or stage not in spec.stages:
            raise ConfigError("se.stages", list(stages), allowed)
    return tuple(sorted(set(stages)))


def check_model(cfg: DictConfig) -> None:
    """Raise ConfigError for the first model-dependent key the chosen model cannot take."""
    choice("model.name", cfg.model.name, sorted(MODELS))
    spec = MODELS[cfg.model.name]
    if cfg.model.zero_init_residual and not spec.residual:
        allowed = f"{cfg.model.name} has no ResidualUnit to zero-initialise: use false"
        raise ConfigError("model.zero_init_residual", True, allowed)
    if cfg.data.image_size < spec.min_image_size:
        allowed = f"{cfg.model.name} takes at least {spec.min_image_size}"
        raise ConfigError("data.image_size", cfg.data.image_size, allowed)
    if cfg.model.stride_in_1x1 is not None and spec.stride_in_1x1 is None:
        raise ConfigError(
            "model.stride_in_1x1", cfg.model.stride_in_1x1, f"{cfg.model.name} has no such choice; use null"
        )
    _check_shake(cfg.model, spec.shake is not None)
    choice("se.squeeze", cfg.se.squeeze, SQUEEZES)
    choice("se.gate", cfg.se.gate, GATES)
    choice("se.position", cfg.se.position, supported_positions())
    if cfg.se.position not in spec.positions:
        raise ConfigError("se.position", cfg.se.position, f"{cfg.model.name} supports {', '.join(spec.positions)}")
    positive("se.reduction", cfg.se.reduction)
    _check_attention(cfg)
    se_stages(cfg)


def _check_shake(model: DictConfig, has_branch_pairs: bool) -> None:
    for key, allowed in (("shake_forward", FORWARD_MODES), ("shake_backward", BACKWARD_MODES), ("shake_level", LEVELS)):
        value = model[key]
        if value is None:
            continue
        if not has_branch_pairs:
            raise ConfigError(f"model.{key}", value, f"{model.name} has no shaken branches; use null")
        choice(f"model.{key}", value, allowed)


def _check_attention(cfg: DictConfig) -> None:
    choice("attention", cfg.attention, sorted(ATTENTION))
    if cfg.attention != "se":  # squeeze and gate are axes of SE only
        for key, paper_value in (("squeeze", "avg"), ("gate", "sigmoid")):
            if cfg.se[key] != paper_value:
                allowed = f"attention={cfg.attention} has no such choice: use {paper_value}"
                raise ConfigError(f"se.{key}", cfg.se[key], allowed)
    if cfg.eca.kernel_size is not None and (cfg.eca.kernel_size < 1 or cfg.eca.kernel_size % 2 == 0):
        raise ConfigError("eca.kernel_size", cfg.eca.kernel_size, "an odd number >= 1, or null for the adaptive rule")
    if cfg.cbam.kernel_size < 1 or cfg.cbam.kernel_size % 2 == 0:
        raise ConfigError("cbam.kernel_size", cfg.cbam.kernel_size, "an odd number >= 1")
    if not (cfg.cbam.channel or cfg.cbam.spatial):
        raise ConfigError("cbam.spatial", False, "true while cbam.channel is false (no attention: se.enabled=false)")
