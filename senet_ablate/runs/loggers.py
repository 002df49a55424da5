"""Per-epoch metric sinks: none, or wandb.

wandb: one wandb run per run id (`id=run_id, resume="allow"`), so a requeued or resumed job
continues its wandb run instead of creating a duplicate, and `finish()` after each job keeps
multirun jobs from merging into one wandb run. The runs of one sweep share a group, named after
the experiment file and the sweep's seeds (`reduction_sweep seeds 0,1,2`); the row label is each
run's job type and, with its seed, its name. Offline unless WANDB_MODE or `logger.mode` says
otherwise, so it works with no account (`wandb sync <results_dir>/wandb/offline-run-*` uploads).
"""

import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from senet_ablate.records.store import config_dict
from senet_ablate.runs.sweep import swept_values


def sweep_seeds(cfg: DictConfig) -> list[str]:
    """The seeds of the sweep this job belongs to, as its command line gave them. A job sees only
    its own seed, so they are read from the `multirun.yaml` that Hydra's sweeper writes into the
    sweep dir before it launches any job (on the shared file system for remote jobs)."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return [str(cfg.seed)]
    sweep = Path(HydraConfig.get().sweep.dir) / "multirun.yaml"
    if not sweep.exists():  # a sweeper that does not write it
        return [str(cfg.seed)]
    hydra = OmegaConf.load(sweep).hydra
    default_seeds = [f"seed={hydra.sweeper.params.get('seed', cfg.seed)}"]
    return swept_values(list(hydra.overrides.task), "seed") or swept_values(default_seeds, "seed")


class NoLogger:
    def log_epoch(self, metrics: dict) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger:
    def __init__(self, cfg: DictConfig, run: str):
        import wandb

        self.wandb = wandb
        row = cfg.exp.row or cfg.model.name
        wandb_dir = Path(cfg.results_dir) / "wandb"
        wandb_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.logger.project,
            id=run,
            resume="allow",
            name=f"{row} seed{cfg.seed}",
            job_type=row,
            group=f"{cfg.exp.name or cfg.model.name} seeds {','.join(sweep_seeds(cfg))}",
            config=config_dict(cfg),
            mode=os.environ.get("WANDB_MODE", cfg.logger.mode),
            dir=str(wandb_dir),
        )

    def log_epoch(self, metrics: dict) -> None:
        """Undefined metrics (top-5 error with 5 classes or fewer) are left out, not charted as 0."""
        self.run.log({name: value for name, value in metrics.items() if value is not None}, step=metrics["epoch"])

    def finish(self) -> None:
        self.run.finish()


def build_logger(cfg: DictConfig, run: str, is_main: bool) -> NoLogger | WandbLogger:
    if cfg.logger.name == "wandb" and is_main:
        return WandbLogger(cfg, run)
    return NoLogger()
