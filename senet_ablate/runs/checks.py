"""Every check a run's config must pass before anything runs: the config's own meaning, then the
keys whose meaning depends on the chosen model and on the chosen dataset, each checked beside the
registry it reads."""

from omegaconf import DictConfig

from senet_ablate.config import check_config
from senet_ablate.data.checks import check_data
from senet_ablate.models.checks import check_model


def check_run(cfg: DictConfig) -> None:
    """Raise the ConfigError of the first value `cfg` cannot run with."""
    check_config(cfg)
    check_model(cfg)
    check_data(cfg)
