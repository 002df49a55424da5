"""Every check a run's config must pass before anything runs: the config's own meaning, then the
keys whose meaning depends on the chosen model and on the chosen dataset, each checked beside the
registry it reads, then where the run writes against what it reads."""

from pathlib import Path

from omegaconf import DictConfig

from senet_ablate.base.errors import ConfigError
from senet_ablate.config import check_config
from senet_ablate.data.checks import check_data
from senet_ablate.models.checks import check_model


def check_run(cfg: DictConfig) -> None:
    """Raise the ConfigError of the first value `cfg` cannot run with."""
    check_config(cfg)
    check_model(cfg)
    check_data(cfg)
    check_results_outside_data(cfg)


def check_results_outside_data(cfg: DictConfig) -> None:
    """A results dir inside the dataset (symlinks resolved) would write logs and records among its
    files, where they would be read as data (an image folder's extra class, a changed fingerprint)
    by this run and every later one. Generated data (an empty `data.root`) reads no folder."""
    if not cfg.data.root:
        return
    data, results = Path(cfg.data.root).resolve(), Path(cfg.results_dir).resolve()
    if results.is_relative_to(data):
        raise ConfigError("results_dir", cfg.results_dir, f"a folder outside data.root ({data}), which it lies in")
