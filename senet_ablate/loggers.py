"""Per-epoch metric sinks: none, or wandb.

wandb: one wandb run per run id (`id=run_id, resume="allow"`), so a requeued or resumed job
continues its wandb run instead of creating a duplicate, and `finish()` after each job keeps
multirun jobs from merging into one wandb run. Offline unless WANDB_MODE or `logger.mode` says
otherwise, so it works with no account.
"""

import os
from pathlib import Path

from omegaconf import DictConfig

from senet_ablate.store import config_dict


class NoLogger:
    def log_epoch(self, metrics: dict) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbLogger:
    def __init__(self, cfg: DictConfig, run: str):
        import wandb

        self.wandb = wandb
        name = "/".join(str(part) for part in (cfg.exp.name, cfg.exp.row, f"seed{cfg.seed}") if part is not None)
        wandb_dir = Path(cfg.results_dir) / "wandb"
        wandb_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=cfg.logger.project,
            id=run,
            resume="allow",
            name=name,
            group=cfg.exp.name,
            config=config_dict(cfg),
            mode=os.environ.get("WANDB_MODE", cfg.logger.mode),
            dir=str(wandb_dir),
        )

    def log_epoch(self, metrics: dict) -> None:
        self.run.log(metrics, step=metrics["epoch"])

    def finish(self) -> None:
        self.run.finish()


def build_logger(cfg: DictConfig, run: str, is_main: bool) -> NoLogger | WandbLogger:
    if cfg.logger.name == "wandb" and is_main:
        return WandbLogger(cfg, run)
    return NoLogger()
