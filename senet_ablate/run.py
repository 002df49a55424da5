"""One run, start to finish: the unit a sweep launches once per (row, seed).

The record is written before training starts (status `running`) and after every epoch; it
says `completed` only once the last epoch has been evaluated. A NaN/inf loss ends the run as
`diverged`, any other error as `failed`, and either way the sweep moves on to the next row.
An interrupted process leaves `running` and a checkpoint, which the next start resumes from;
a failed run is tried again.
"""

import logging
import platform
import random
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torchvision
from omegaconf import DictConfig

import senet_ablate
from senet_ablate.complexity import config_complexity
from senet_ablate.data import build_loaders
from senet_ablate.engine.distributed import init_distributed
from senet_ablate.engine.trainer import Diverged, Trainer, resolve_device
from senet_ablate.errors import ConfigError
from senet_ablate.loggers import build_logger
from senet_ablate.models import build_model
from senet_ablate.store import config_dict, read_record, record_path, run_id, runs_dir, write_record

log = logging.getLogger(__name__)
# A diverged run would diverge again (training is deterministic): like a completed one, it is final.
FINAL_STATUSES = ("completed", "diverged")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def code_version() -> str:
    """The git commit of the source tree (with `-dirty` if modified), else the package version."""
    source = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=source, capture_output=True, text=True, timeout=10
        )
        if commit.returncode == 0 and commit.stdout.strip():
            return commit.stdout.strip()
    except OSError:
        pass
    return senet_ablate.__version__


def environment(device: torch.device) -> dict:
    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "python": platform.python_version(),
        "code_version": code_version(),
    }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def summarise(history: list[dict]) -> dict:
    """Final errors, wall time and training throughput over every epoch of a finished run."""
    train_time = sum(m["epoch_time_s"] for m in history)
    images = sum(m["images_per_s"] * m["epoch_time_s"] for m in history)
    return {
        "top1_err": history[-1]["top1_err"],
        "top5_err": history[-1]["top5_err"],
        "wall_time_s": train_time,
        "images_per_s": images / train_time if train_time else None,
    }


def run_job(cfg: DictConfig) -> dict:
    """Train `cfg` unless its record says completed; return the (final) record."""
    run = run_id(cfg)
    path = record_path(cfg.results_dir, run)
    existing = read_record(path) if path.exists() else None
    if existing and existing["status"] in FINAL_STATUSES:
        log.info("skipping %s (%s): %s", run, cfg.exp.row or cfg.model.name, existing["status"])
        return existing

    device = resolve_device(cfg.trainer.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device", "cuda", "no CUDA device is visible: use trainer.device=cpu or auto")
    dist = init_distributed(device.type)
    seed_everything(cfg.seed)
    model = build_model(cfg)
    complexity = config_complexity(cfg)
    loaders = build_loaders(cfg, dist)  # a missing dataset stops here, before any record exists

    record = {
        "run_id": run,
        "status": "running",
        "exp": cfg.exp.name,
        "label": cfg.exp.row,
        "seed": cfg.seed,
        "config": config_dict(cfg),
        "epochs": [],
        "top1_err": None,
        "top5_err": None,
        "params_m": complexity.params_m,
        "gflops": complexity.gflops,
        "wall_time_s": None,
        "images_per_s": None,
        "error": None,
        "env": environment(device),
        "started_at": (existing or {}).get("started_at", _now()),
        "updated_at": _now(),
    }

    def save(**changes) -> None:
        record.update(changes, updated_at=_now())
        if dist.is_main:
            write_record(path, record)

    save()
    metric_logger = build_logger(cfg, run, dist.is_main)
    started = time.perf_counter()
    try:
        trainer = Trainer(cfg, model, loaders, device, dist, runs_dir(cfg.results_dir) / run / "checkpoint.pt")
        history = trainer.fit(on_epoch=lambda history: (metric_logger.log_epoch(history[-1]), save(epochs=history)))
        save(status="completed", epochs=history, **summarise(history))
    except Diverged as error:
        log.error("run %s diverged: %s", run, error)
        save(status="diverged", error=str(error))
    except Exception as error:
        log.exception("run %s failed", run)
        save(status="failed", error=f"{type(error).__name__}: {error}")
    finally:
        metric_logger.finish()
    log.info("run %s %s in %.1f s -> %s", run, record["status"], time.perf_counter() - started, path)
    return record
