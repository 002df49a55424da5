"""The epoch loop: train, evaluate top-1/top-5, step the schedule, checkpoint.

Determinism: the model is initialised from `seed`, and at the start of every epoch the global
RNG and the shuffling generator are reseeded from (seed, epoch). A run resumed at any epoch
boundary therefore draws exactly the batches and augmentations of an uninterrupted one, and a
CPU run with a fixed seed gives the same metrics twice.
"""

import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from senet_ablate.data import Loaders
from senet_ablate.engine.checkpoint import load_checkpoint, save_checkpoint
from senet_ablate.engine.distributed import DistributedContext
from senet_ablate.engine.optim import build_optimizer, build_scheduler, step_scheduler

log = logging.getLogger(__name__)
PROGRESS_EVERY = 10  # steps between progress-bar refreshes (each one syncs the GPU)


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


class Trainer:
    """Owns the model, optimiser, schedule and mixed-precision state of one run."""

    def __init__(
        self,
        cfg: DictConfig,
        model: nn.Module,
        loaders: Loaders,
        device: torch.device,
        dist: DistributedContext,
        checkpoint_path: Path,
    ):
        self.cfg, self.trainer, self.loaders = cfg, cfg.trainer, loaders
        self.device, self.dist, self.checkpoint_path = device, dist, checkpoint_path
        self.memory_format = torch.channels_last if self.trainer.channels_last else torch.contiguous_format
        self.model = model.to(device, memory_format=self.memory_format)
        self.optimizer = build_optimizer(self.model, self.trainer)
        self.scheduler = build_scheduler(self.optimizer, self.trainer)
        use_amp = self.trainer.amp and device.type == "cuda"
        bf16 = use_amp and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.use_amp = use_amp
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_amp and not bf16)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.trainer.label_smoothing)
        network = DistributedDataParallel(self.model, [dist.local_rank]) if dist.world_size > 1 else self.model
        self.network = torch.compile(network) if self.trainer.compile else network

    def autocast(self):
        if not self.use_amp:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return images, labels.to(self.device, non_blocking=True)

    def fit(self, on_epoch: Callable[[list[dict]], None]) -> list[dict]:
        """Train from the checkpoint (if any) to `trainer.epochs`; return every epoch's metrics.

        `on_epoch` gets the metrics of every epoch so far after each one is checkpointed."""
        history = self.resume()
        for epoch in range(len(history), self.trainer.epochs):
            self.start_epoch(epoch)
            started = time.perf_counter()
            train_metrics = self.train_one_epoch(epoch)
            val_metrics = self.evaluate()
            step_scheduler(self.scheduler, val_metrics["val_loss"])
            metrics = {
                "epoch": epoch + 1,
                "lr": train_metrics.pop("lr"),
                **train_metrics,
                **val_metrics,
                "epoch_time_s": time.perf_counter() - started,
            }
            history.append(metrics)
            if self.dist.is_main:
                self.save(history)
            log.info(
                "epoch %d/%d  lr %.4g  train loss %.4f  val top-1 err %.2f%%  top-5 err %.2f%%  %.0f img/s",
                metrics["epoch"],
                self.trainer.epochs,
                metrics["lr"],
                metrics["train_loss"],
                metrics["top1_err"],
                metrics["top5_err"],
                metrics["images_per_s"],
            )
            on_epoch(history)
        return history

    def start_epoch(self, epoch: int) -> None:
        seed = epoch_seed(self.cfg.seed, epoch)
        torch.manual_seed(seed)
        self.loaders.train_generator.manual_seed(seed)
        if isinstance(self.loaders.train.sampler, DistributedSampler):
            self.loaders.train.sampler.set_epoch(epoch)

    def steps_per_epoch(self) -> int:
        steps = len(self.loaders.train)
        cap = self.trainer.max_steps_per_epoch
        return min(steps, cap) if cap else steps

    def train_one_epoch(self, epoch: int) -> dict:
        self.network.train()
        steps, accumulate = self.steps_per_epoch(), self.trainer.accumulate_steps
        lr = self.optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device)
        seen = 0
        bar = tqdm(
            total=steps,
            desc=f"epoch {epoch + 1}/{self.trainer.epochs}",
            leave=False,
            disable=not (self.trainer.progress and self.dist.is_main),
        )
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        for step, (images, labels) in enumerate(self.loaders.train):
            if step >= steps:
                break
            images, labels = self.to_device(images, labels)
            with self.autocast():
                logits = self.network(images)
                loss = self.criterion(logits, labels)
            self.scaler.scale(loss / accumulate).backward()
            if (step + 1) % accumulate == 0 or step + 1 == steps:
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.detach() * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
            if (step + 1) % PROGRESS_EVERY == 0 or step + 1 == steps:
                mean_loss = loss_sum.item() / seen
                self.check_finite(mean_loss, epoch, step)
                elapsed = time.perf_counter() - started
                bar.set_postfix(
                    loss=f"{mean_loss:.3f}",
                    err=f"{100 - 100 * correct.item() / seen:.1f}%",
                    img_s=f"{seen * self.dist.world_size / elapsed:.0f}",
                )
            bar.update()
        bar.close()
        elapsed = time.perf_counter() - started
        totals = self.dist.all_reduce_sum(
            torch.stack([loss_sum, correct, torch.tensor(float(seen), device=self.device)])
        )
        loss_total, correct_total, seen_total = totals.tolist()
        return {
            "lr": lr,
            "train_loss": loss_total / seen_total,
            "train_top1_err": 100 * (1 - correct_total / seen_total),
            "images_per_s": seen_total / elapsed,
        }

    def check_finite(self, loss: float, epoch: int, step: int) -> None:
        if not math.isfinite(loss):
            raise Diverged(f"training loss is {loss} at epoch {epoch + 1}, step {step + 1}")

    @torch.no_grad()
    def evaluate(self) -> dict:
        self.network.eval()
        topk = min(5, self.cfg.data.num_classes)
        totals = torch.zeros(4, device=self.device)  # loss sum, top-1 correct, top-k correct, count
        for images, labels in self.loaders.val:
            images, labels = self.to_device(images, labels)
            with self.autocast():
                logits = self.network(images)
            hits = logits.topk(topk, dim=1).indices == labels[:, None]
            totals += torch.stack(
                [
                    nn.functional.cross_entropy(logits.float(), labels, reduction="sum"),
                    hits[:, 0].sum(),
                    hits.any(dim=1).sum(),
                    torch.tensor(len(labels), device=self.device),
                ]
            )
        loss_sum, top1, topk_hits, count = self.dist.all_reduce_sum(totals).tolist()
        return {
            "val_loss": loss_sum / count,
            "top1_err": 100 * (1 - top1 / count),
            "top5_err": 100 * (1 - topk_hits / count),
        }

    def save(self, history: list[dict]) -> None:
        save_checkpoint(
            self.checkpoint_path,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "history": history,
            },
        )

    def resume(self) -> list[dict]:
        """Restore the last checkpoint of this run, if any; return the epochs it had finished."""
        state = load_checkpoint(self.checkpoint_path, self.device)
        if state is None:
            return []
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        log.info("resumed from %s after epoch %d", self.checkpoint_path, len(state["history"]))
        return state["history"]
