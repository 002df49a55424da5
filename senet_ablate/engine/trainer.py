"""The epoch loop: train, evaluate top-1/top-5, step the schedule, checkpoint.

Determinism: the model is initialised from `seed`, and at the start of every epoch the global
RNG, the shuffling and each image's augmentation are reseeded from (seed, epoch). A run resumed
at any epoch boundary therefore draws exactly the batches and augmentations of an uninterrupted
one, whatever the number of loader workers, and a CPU run with a fixed seed gives the same
metrics twice.

Preemption: when `stop_requested()` turns true (a warning signal, see `preemption.py`), every
process stops at the same optimiser-step boundary, rank 0 saves a mid-epoch checkpoint (weights,
optimiser, the epoch's running totals and RNG state) and `Interrupted` is raised. Resumed from
it, the epoch goes on with exactly the batches it had not trained on, and the run ends with the
metrics of an uninterrupted one.
"""

import copy
import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.metrics import percent, top5_defined
from senet_ablate.base.predictions import PREDICTIONS_FILE, save_predictions
from senet_ablate.data import Loaders, mix_seed
from senet_ablate.engine.checkpoint import load_checkpoint, save_checkpoint
from senet_ablate.engine.ema import build_ema
from senet_ablate.engine.loss import BatchMixer, build_loss, check_pairs_stay_on_one_process
from senet_ablate.engine.machine import resolve_sync_bn
from senet_ablate.engine.optim import (
    build_optimizer,
    build_scheduler,
    load_optimizer_state,
    step_after_update,
    step_scheduler,
)
from senet_ablate.engine.progress import EpochProgress
from senet_ablate.models import full_precision_head, global_batch

log = logging.getLogger(__name__)
SYNC_EVERY_CUDA = 10  # steps between host syncs on a GPU (running totals, divergence check, progress)
# What a mid-epoch checkpoint holds of its epoch (see train_one_epoch, where a stop saves them).
PARTIAL_EPOCH_KEYS = frozenset({"step", "loss_sum", "correct", "seen", "elapsed_s", "rng", "cuda_rng"})


def batch_norm_over_processes(model: nn.Module, recipe: DictConfig, device_type: str, world_size: int) -> nn.Module:
    """`model` with its BatchNorm layers made SyncBatchNorm where several processes train it and
    `trainer.sync_bn` (resolved: on on CUDA) asks for statistics over the global batch; `model`
    itself otherwise. Without it each process normalises over its own slice of the batch, and DDP
    sets every process's running statistics to rank 0's at each forward pass, so evaluation uses
    rank 0's. The converted modules hold the weights that are saved."""
    if world_size == 1 or not resolve_sync_bn(recipe, device_type):
        return model
    if device_type != "cuda":
        raise ConfigError("trainer.sync_bn", True, "SyncBatchNorm runs on CUDA only: use false on CPU")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


class Diverged(RuntimeError):
    """The training loss became NaN or infinite at (epoch, step), both 1-based."""

    def __init__(self, loss: float, epoch: int, step: int):
        self.loss, self.epoch, self.step = loss, epoch, step
        super().__init__(f"training loss is {loss} at epoch {epoch}, step {step}")


class Interrupted(RuntimeError):
    """A stop was requested: the state after `step` steps of epoch `epoch` (both 1-based; step 0:
    at the start of the epoch) is checkpointed and the run stopped there."""

    def __init__(self, epoch: int, step: int, partial: dict | None = None):
        self.epoch, self.step, self.partial = epoch, step, partial
        super().__init__(f"stopped after step {step} of epoch {epoch}; checkpoint saved, a restart resumes there")


class TakenOver(RuntimeError):
    """Another process has taken this run over (this one was suspended, or cut off, for longer than
    its claim lives): this process must write nothing more of the run."""


class NoImagesLeft(RuntimeError):
    """Every image of a training epoch, or of the validation set, was unreadable and skipped
    (`data.skip_corrupt=true`): there is nothing to average a loss or an error over, and the data,
    not the run, is what needs looking at."""

    def __init__(self, split: str, skipped: int, root: str):
        self.split, self.skipped = split, skipped
        super().__init__(
            f"all {skipped} {split} images were unreadable and skipped (data.skip_corrupt=true): check data.root={root}"
        )


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_dtype(amp: bool, device: torch.device, choice: str = "auto") -> torch.dtype | None:
    """The dtype a run with `trainer.amp=amp` computes in under autocast on `device`, or None for
    full precision: AMP is CUDA-only, bfloat16 where the GPU computes it natively (compute
    capability 8.0 on; no loss scaling needed), else float16 with a GradScaler. Emulated bf16
    (Turing and older, which `is_bf16_supported()` counts by default) would run without tensor
    cores. The rule of TrainStep. `choice` (`trainer.amp_dtype`) other than auto names the dtype."""
    if not (amp and device.type == "cuda"):
        return None
    if choice != "auto":
        return getattr(torch, choice)
    native = torch.cuda.is_bf16_supported(including_emulation=False)  # the current device: the run's
    return torch.bfloat16 if native else torch.float16


def tune_convolutions(device: torch.device) -> None:
    """On CUDA, cuDNN times its algorithms for each new input shape (a run has two: train and eval)
    and keeps the fastest. The choice may differ between processes, so GPU runs repeat to float
    rounding, not bit for bit (CPU runs are unaffected). A process-wide setting, left on."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


class TrainStep:
    """The training step of the trainer, the planner's probe and scripts/benchmark.py, so that they time
    what the trainer runs: autocast forward and loss, GradScaler-scaled backward (`backward`, once per
    micro-batch), then `update`: the scaler's optimiser step, its update, zero_grad. On CUDA it
    also lets cuDNN choose its algorithms by timing them (`tune_convolutions`), for all three alike."""

    def __init__(self, network, optimizer, criterion, device: torch.device, amp: bool, amp_dtype: str = "auto"):
        self.network, self.optimizer, self.criterion, self.device = network, optimizer, criterion, device
        tune_convolutions(device)
        self.dtype = autocast_dtype(amp, device, amp_dtype)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    def backward(self, images: torch.Tensor, targets: torch.Tensor, accumulate: int = 1):
        """Add up the gradients of a micro-batch of `accumulate`; return (logits, detached loss)."""
        with self.autocast():
            logits = self.network(images)
            # No images (all skipped as unreadable): the mean loss of nothing is NaN; zero, through
            # every weight, lets a DDP process take part in the step's all-reduce.
            loss = self.criterion(logits, targets) if len(targets) else logits.sum()
        self.scaler.scale(loss / accumulate).backward()
        return logits, loss.detach()

    def autocast(self):
        """The run's mixed precision (`dtype`), or nothing in full precision."""
        return nullcontext() if self.dtype is None else torch.autocast(self.device.type, dtype=self.dtype)

    def update(self) -> None:
        self.scaler.step(self.optimizer)  # skipped where the gradients are not finite
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def __call__(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = self.backward(images, targets)[1]
        self.update()
        return loss


def restore_scaler(scaler: torch.amp.GradScaler, state: dict) -> None:
    """Load a checkpoint's GradScaler state. A run checkpointed in bf16 (or full precision) saved a
    disabled scaler's empty state, which `load_state_dict` refuses; resumed on a GPU where fp16 is
    chosen, the scaler starts afresh, as at the start of a run (its scale adapts within steps)."""
    if state:
        scaler.load_state_dict(state)
    elif scaler.is_enabled():
        log.warning("the checkpoint was saved without fp16 loss scaling: the GradScaler starts afresh")


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


class Trainer:
    """Owns the model, optimiser, schedule and mixed-precision state of one run.

    `model` is the module whose weights are saved; `network` is what runs the steps: the same
    model, wrapped in DDP and/or torch.compile when those are on.
    """

    def __init__(
        self,
        cfg: DictConfig,
        model: nn.Module,
        loaders: Loaders,
        device: torch.device,
        dist: DistributedContext,
        checkpoint_path: Path,
    ):
        self.cfg, self.recipe, self.loaders = cfg, cfg.trainer, loaders
        self.device, self.dist, self.checkpoint_path = device, dist, checkpoint_path
        self.memory_format = torch.channels_last if self.recipe.channels_last else torch.contiguous_format
        self.model = model.to(device, memory_format=self.memory_format)
        self.optimizer = build_optimizer(self.model, self.recipe)
        self.scheduler = build_scheduler(self.optimizer, self.recipe, self.updates_per_epoch())
        check_pairs_stay_on_one_process(self.recipe, dist.world_size)
        self.mixer = BatchMixer(self.recipe, cfg.data.num_classes)
        self.model = network = batch_norm_over_processes(self.model, self.recipe, device.type, dist.world_size)
        if dist.world_size > 1:
            network = DistributedDataParallel(network, [dist.local_rank] if device.type == "cuda" else None)
        self.ddp = network if isinstance(network, DistributedDataParallel) else None  # for no_sync()
        self.ema = build_ema(self.model, self.recipe.ema_decay)  # None with trainer.ema_decay=0
        if self.recipe.compile:
            # Dynamo's caches outlive a run: each run of a sweep in one process adds graphs for its
            # new model until the recompile limit (8) is hit, and every later run silently runs eager.
            torch._dynamo.reset()
        self.network = torch.compile(network) if self.recipe.compile else network
        self.step = TrainStep(
            self.network, self.optimizer, build_loss(self.recipe), device, self.recipe.amp, self.recipe.amp_dtype
        )
        # On the CPU a host sync costs nothing, so divergence is checked at every step there.
        self.sync_every = SYNC_EVERY_CUDA if device.type == "cuda" else 1
        self.heartbeat: Callable[[], None] = lambda: None  # called often; keeps the run's claim alive
        self.stop_requested: Callable[[], bool] = lambda: False  # polled at host syncs: see Interrupted
        self.owns_run: Callable[[], bool] = lambda: True  # checked before every checkpoint: see TakenOver

    def gradients_synced(self, stepped: bool):
        """DDP all-reduces gradients in every backward pass; a micro-batch that no optimiser step
        follows (trainer.accumulate_steps > 1) only accumulates them locally (`no_sync`), and the
        step's last backward all-reduces the sum: the same gradients, 1/accumulate_steps the traffic."""
        if self.ddp is None or stepped:
            return nullcontext()
        return self.ddp.no_sync()

    def in_memory_format(self, images: torch.Tensor) -> torch.Tensor:
        """The loaders deliver model input on the device; this only lays it out as the model's weights."""
        return images.contiguous(memory_format=self.memory_format)

    def fit(self, on_epoch: Callable[[list[dict]], None]) -> list[dict]:
        """Train from the checkpoint (if any) to `trainer.epochs`; return every epoch's metrics.

        `on_epoch` gets the metrics of every epoch so far after each one is checkpointed. Raises
        Interrupted, after checkpointing, when a stop is requested before the last epoch ends."""
        history, partial = self.resume()
        for epoch in range(len(history), self.recipe.epochs):
            self.begin_epoch(epoch, partial)
            started = time.perf_counter() - (partial["elapsed_s"] if partial else 0.0)
            try:
                train_metrics = self.train_one_epoch(epoch, partial)
            except Interrupted as stop:
                self.check_ownership()
                if self.dist.is_main:
                    self.save(history, partial=stop.partial)
                # The others leave only once it is written: a launcher that ends the job when its
                # first process exits would otherwise kill rank 0 mid-save.
                self.dist.barrier()
                raise
            partial = None
            final = epoch + 1 == self.recipe.epochs
            val_metrics = self.evaluate(keep_predictions=final)
            predictions = val_metrics.pop("predictions", None)
            step_scheduler(self.scheduler, val_metrics["val_loss"])
            skipped = train_metrics.pop("skipped") + val_metrics.pop("skipped")
            metrics = {
                "epoch": epoch + 1,
                "lr": train_metrics.pop("lr"),
                **train_metrics,
                **val_metrics,
                "skipped_images": skipped,
                "epoch_time_s": time.perf_counter() - started,
            }
            history.append(metrics)
            self.check_ownership()
            if self.dist.is_main:
                if predictions is not None:  # before the checkpoint that makes the run complete
                    save_predictions(self.checkpoint_path.with_name(PREDICTIONS_FILE), *predictions)
                self.save(history)
            log.info(
                "epoch %d/%d  lr %.4g  train loss %.4f  val top-1 err %.2f%%  top-5 err %s  %.0f img/s",
                metrics["epoch"],
                self.recipe.epochs,
                metrics["lr"],
                metrics["train_loss"],
                metrics["top1_err"],
                percent(metrics["top5_err"]),
                metrics["images_per_s"],
            )
            on_epoch(history)
            if epoch + 1 < self.recipe.epochs and self.stop_agreed():  # asked during evaluation
                raise Interrupted(epoch + 2, 0)
        return history

    def begin_epoch(self, epoch: int, partial: dict | None) -> None:
        """Seed the epoch from (seed, epoch); resumed mid-epoch, also skip the batches already
        trained and restore the RNG state at the step where the run stopped."""
        self.loaders.set_epoch(epoch_seed(self.cfg.seed, epoch), partial["step"] if partial else 0, epoch)
        if partial:
            torch.set_rng_state(partial["rng"])  # loaded on the CPU: see resume
            if partial["cuda_rng"] is not None:
                torch.cuda.set_rng_state(partial["cuda_rng"], self.device)

    def check_ownership(self) -> None:
        """Raise TakenOver on every process if the run is no longer this job's (a collective, at the
        same point on every process, so that none is left waiting in the next one)."""
        lost = torch.tensor(float(not self.owns_run()), device=self.device)
        if self.dist.all_reduce_sum(lost).item() > 0:
            raise TakenOver("another process has taken this run over; this one stops without saving")

    def stop_agreed(self) -> bool:
        """Whether any process was asked to stop (a collective: every process calls it at the same step)."""
        asked = torch.tensor(float(self.stop_requested()), device=self.device)
        return self.dist.all_reduce_sum(asked).item() > 0

    def steps_per_epoch(self) -> int:
        steps = len(self.loaders.sampler)
        cap = self.recipe.max_steps_per_epoch
        return min(steps, cap) if cap else steps

    def updates_per_epoch(self) -> int:
        """Optimiser steps per epoch, which size a per-step schedule (one-cycle); 1 for the others,
        which need no loader to be built (as the evaluation-only trainers of the tests)."""
        if self.recipe.schedule != "onecycle":
            return 1
        return -(-self.steps_per_epoch() // self.recipe.accumulate_steps)

    def train_one_epoch(self, epoch: int, partial: dict | None = None) -> dict:
        """One epoch, or the rest of one from a mid-epoch checkpoint's `partial` state."""
        self.network.train()
        steps, accumulate = self.steps_per_epoch(), self.recipe.accumulate_steps
        # Running totals stay on the device; the host reads them only every `sync_every` steps.
        # Resumed, rank 0 carries the totals of every process so far, so their sum is unchanged.
        carried = partial if partial and self.dist.is_main else {"loss_sum": 0.0, "correct": 0.0, "seen": 0}
        loss_sum = torch.tensor(carried["loss_sum"], device=self.device)
        correct = torch.tensor(carried["correct"], device=self.device)
        first_bad_step = torch.full((), -1, dtype=torch.long, device=self.device)  # 0-based; -1: none yet
        seen = carried["seen"]
        start_step = partial["step"] if partial else 0
        progress = EpochProgress(
            steps, f"epoch {epoch + 1}/{self.recipe.epochs}", self.recipe.progress and self.dist.is_main
        )
        started = time.perf_counter() - (partial["elapsed_s"] if partial else 0.0)
        stopping = False
        self.optimizer.zero_grad(set_to_none=True)
        for step, (images, labels) in enumerate(self.loaders.train, start=start_step):
            if step >= steps:
                break
            stepped = (step + 1) % accumulate == 0 or step + 1 == steps
            # A batch of nothing but skipped corrupt images trains nothing; under DDP its process
            # still runs the step on it (a zero loss), or the others would wait for it forever in
            # the all-reduce of the step's gradients (and of SyncBatchNorm's statistics).
            if labels.numel() or self.ddp is not None:
                targets = labels
                if labels.numel():
                    images, targets = self.mixer(images, labels, mix_seed(epoch_seed(self.cfg.seed, epoch), step))
                sampler = self.loaders.sampler
                with self.gradients_synced(stepped), global_batch(sampler.offset, sampler.global_batch_size(step)):
                    logits, loss = self.step.backward(self.in_memory_format(images), targets, accumulate)
                newly_bad = (first_bad_step < 0) & ~torch.isfinite(loss)
                first_bad_step = torch.where(newly_bad, torch.full_like(first_bad_step, step), first_bad_step)
                loss_sum += loss * len(labels)
                correct += (logits.argmax(1) == labels).sum()
                seen += len(labels)
            if stepped:
                self.step.update()
                step_after_update(self.scheduler)
                if self.ema is not None:
                    self.ema.update_parameters(self.model)
            if (step + 1) % self.sync_every == 0 or step + 1 == steps:
                self.heartbeat()
                self.check_finite(first_bad_step, loss_sum, epoch)
                elapsed = time.perf_counter() - started
                progress.update(
                    step + 1,
                    loss=loss_sum.item() / max(seen, 1),
                    err=100 - 100 * correct.item() / max(seen, 1),
                    images_per_s=seen * self.dist.world_size / elapsed,
                    elapsed_s=elapsed,
                )
                stopping = stopping or self.stop_agreed()
            if stopping and stepped and step + 1 < steps:  # at the last step, the epoch ends first
                progress.close()
                totals = self.dist.all_reduce_sum(
                    torch.stack([loss_sum, correct, torch.tensor(float(seen), device=self.device)])
                )
                loss_total, correct_total, seen_total = totals.tolist()
                state = {
                    "step": step + 1,
                    "loss_sum": loss_total,
                    "correct": correct_total,
                    "seen": int(seen_total),
                    "elapsed_s": time.perf_counter() - started,
                    "rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
                }
                raise Interrupted(epoch + 1, step + 1, state)
        progress.close()
        elapsed = time.perf_counter() - started
        expected = self.loaders.sampler.images(steps)
        totals = self.dist.all_reduce_sum(
            torch.stack([loss_sum, correct, torch.tensor(float(seen), device=self.device)])
        )
        loss_total, correct_total, seen_total = totals.tolist()
        skipped = self.dist.all_reduce_sum(torch.tensor(float(expected - seen), device=self.device)).item()
        if seen_total == 0:
            raise NoImagesLeft(f"training (epoch {epoch + 1})", int(skipped), self.cfg.data.root)
        return {
            # The epoch's lr, read at its end: the same as at its start for the schedules stepped
            # per epoch, and for a per-step one (one-cycle) the same whether or not it was resumed.
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": loss_total / seen_total,
            "train_top1_err": 100 * (1 - correct_total / seen_total),
            "images_per_s": seen_total / elapsed,
            "skipped": int(skipped),
        }

    def check_finite(self, first_bad_step: torch.Tensor, loss_sum: torch.Tensor, epoch: int) -> None:
        """Raise Diverged naming the first step whose loss was NaN/inf on any process (one host
        sync); every process raises together, so none is left waiting in a collective."""
        never = torch.iinfo(torch.long).max
        earliest = self.dist.all_reduce_min(torch.where(first_bad_step < 0, never, first_bad_step))
        bad_step = int(earliest.item())
        if bad_step != never:
            raise Diverged(loss_sum.item(), epoch + 1, bad_step + 1)

    @torch.no_grad()
    def evaluate(self, keep_predictions: bool = False) -> dict:
        """Validation loss and top-1/top-5 error over every val image, of the weights' average where
        `trainer.ema_decay` keeps one; top-5 is None where it is undefined (5 classes or fewer, see
        `metrics.top5_defined`). With `keep_predictions`, also `predictions`: every image's top-1
        class and its label, in the validation set's order. With `trainer.tta_flip`, also
        `tta_top1_err`: the top-1 error of each image's logits averaged with its mirror image's, a
        figure apart that changes none of the others."""
        network = self.network if self.ema is None else self.ema.module
        if self.ema is not None:  # without SyncBatchNorm each process's average has its own statistics
            self.dist.broadcast_buffers(self.ema.module)
        network.eval()
        has_top5 = top5_defined(self.cfg.data.num_classes)
        tta = self.recipe.tta_flip
        totals = torch.zeros(4 if tta else 3, device=self.device)  # loss sum, top-1, top-5 correct[, TTA top-1]
        count = 0  # counted on the host: a count sent to the device would cost a sync per batch
        predicted, truth = [], []
        # The model runs in the training's precision, its Classifier head in float32 (see there):
        # logits rounded to bf16 tie often among 1000 classes, and ties would decide top-1. A model
        # without one is evaluated wholly in float32.
        mixed = full_precision_head(self.model)
        for images, labels in self.loaders.val:
            self.heartbeat()
            with self.step.autocast() if mixed else nullcontext():
                logits = network(self.in_memory_format(images))
            ranked = logits.topk(5 if has_top5 else 1, dim=1).indices
            hits = ranked == labels[:, None]
            if keep_predictions:
                predicted.append(ranked[:, 0])
                truth.append(labels)
            figures = [
                nn.functional.cross_entropy(logits, labels, reduction="sum"),
                hits[:, 0].sum(),
                hits.any(dim=1).sum(),
            ]
            if tta:
                with self.step.autocast() if mixed else nullcontext():
                    mirrored = network(self.in_memory_format(images.flip(3)))
                figures.append(((logits + mirrored).argmax(1) == labels).sum())
            totals += torch.stack(figures)
            count += len(labels)
        totals = torch.cat([totals, torch.tensor([float(count)], device=self.device)])
        loss_sum, top1, top5_hits, *tta_top1, count = self.dist.all_reduce_sum(totals).tolist()
        if count == 0:
            raise NoImagesLeft("validation", self.loaders.val_size, self.cfg.data.root)
        metrics = {
            "val_loss": loss_sum / count,
            "top1_err": 100 * (1 - top1 / count),
            "top5_err": 100 * (1 - top5_hits / count) if has_top5 else None,
            "val_images": int(count),
            "skipped": self.loaders.val_size - int(count),
        }
        if tta:
            metrics["tta_top1_err"] = 100 * (1 - tta_top1[0] / count)
        if keep_predictions:
            empty = torch.zeros(0, dtype=torch.long, device=self.device)
            metrics["predictions"] = tuple(
                self.dist.gather_strided(torch.cat(parts) if parts else empty).cpu() for parts in (predicted, truth)
            )
        return metrics

    def save(self, history: list[dict], partial: dict | None = None) -> None:
        """Checkpoint after the epochs of `history`, and `partial` steps into the next one if given."""
        save_checkpoint(self.checkpoint_path, {**self.states(), "history": history, "partial_epoch": partial})

    def resume(self) -> tuple[list[dict], dict | None]:
        """Restore the last checkpoint of this run, if any: the epochs it had finished, and the
        state of the epoch it stopped in (None at an epoch boundary). Rank 0 reads it, restores it
        (a checkpoint that does not fit this run counts as damaged: see `restore`) and sends it to
        the others (a copy of the weights and optimiser through the process group, once per start),
        so that every process resumes from the same checkpoint, or none."""
        state = self.dist.decided_by_main(
            lambda: load_checkpoint(self.checkpoint_path, torch.device("cpu"), restore=self.restore)
        )
        if state is None:
            return [], None
        if not self.dist.is_main:
            self.restore(state)
        history, partial = state["history"], state.get("partial_epoch")
        if partial:
            log.info("resumed from %s at step %d of epoch %d", self.checkpoint_path, partial["step"], len(history) + 1)
        else:
            log.info("resumed from %s after epoch %d", self.checkpoint_path, len(history))
        return history, partial

    def restore(self, state: dict) -> None:
        """Load a checkpoint's `state` (see `save`) into the model, optimiser, schedule and scaler.

        A state that does not fit this run (a missing key, history or partial epoch of the wrong
        form, weights of another model) raises KeyError, TypeError or RuntimeError and leaves
        all four as they were, so the run can fall back to an older checkpoint or start afresh."""
        if not isinstance(state, dict):
            raise TypeError(f"it holds a {type(state).__name__}, not a trainer's state")
        history, partial = state["history"], state.get("partial_epoch")  # (none in checkpoints before it)
        if not (isinstance(history, list) and all(isinstance(epoch, dict) for epoch in history)):
            raise TypeError(f"its history is a {type(history).__name__}, not a list of epochs' metrics")
        if partial is not None and not (isinstance(partial, dict) and PARTIAL_EPOCH_KEYS <= partial.keys()):
            raise TypeError(f"its partial epoch lacks some of {sorted(PARTIAL_EPOCH_KEYS)}")
        before = copy.deepcopy(self.states())
        try:
            self.load_states(state)
        except Exception:
            self.load_states(before)
            raise

    def states(self) -> dict:
        """What `restore` loads: the model's, optimiser's, schedule's and GradScaler's state dicts,
        and the weights' average where the run keeps one."""
        states = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.step.scaler.state_dict(),
        }
        if self.ema is not None:
            states["ema"] = self.ema.state_dict()
        return states

    def load_states(self, states: dict) -> None:
        self.model.load_state_dict(states["model"])
        load_optimizer_state(self.optimizer, states["optimizer"])
        self.scheduler.load_state_dict(states["scheduler"])
        restore_scaler(self.step.scaler, states["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(states["ema"])
