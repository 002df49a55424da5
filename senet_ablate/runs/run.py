"""One run, start to finish: the unit a sweep launches once per (row, seed).

The record is written before training starts (status `running`) and after every epoch; it
says `completed` only once the last epoch has been evaluated. A NaN/inf loss ends the run as
`diverged` (with the step), any other error as `failed`, and either way the sweep moves on to
the next row (with several processes, a failure on one process ends them all: see `fail`). A
stop signal (SLURM's time limit or preemption, Ctrl-C: see `engine/preemption.py`) ends it as
`interrupted` at a step boundary, with a checkpoint of that step; a killed process leaves
`running` and its last epoch's checkpoint. The next start resumes from the checkpoint;
a failed run is tried again. The record lists only epochs whose checkpoint was written, and a
record that cannot be written (a full disk) makes the run count as failed. A process whose claim
was taken over while it was suspended stops without writing anything (`claims.py`).
"""

import logging
import platform
import random
import signal
import subprocess
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torchvision
from omegaconf import DictConfig

from senet_ablate.base.atomic import FULL_OR_READ_ONLY, check_writable_dir
from senet_ablate.base.distributed import DistributedContext, init_distributed
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.shared_dir import make_dirs
from senet_ablate.data import Loaders, build_loaders, dataset_fingerprint
from senet_ablate.engine.machine import for_device
from senet_ablate.engine.out_of_memory import is_out_of_memory
from senet_ablate.engine.preemption import StopSignals
from senet_ablate.engine.trainer import Diverged, Interrupted, NoImagesLeft, TakenOver, Trainer, resolve_device
from senet_ablate.models.build import build_model
from senet_ablate.models.checks import se_stages
from senet_ablate.models.complexity import Complexity, config_complexity
from senet_ablate.records.claims import Claim, claim_run
from senet_ablate.records.store import (
    FINAL_STATUSES,
    RunRecord,
    config_dict,
    new_record,
    read_record,
    record_path,
    run_id,
    runs_dir,
    write_record,
)
from senet_ablate.runs.loggers import build_logger
from senet_ablate.runs.run_log import log_dir, run_log

log = logging.getLogger(__name__)


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
    return version("senet-ablate")


def environment(device: torch.device, world_size: int) -> dict:
    return {
        "world_size": world_size,
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
        "tta_top1_err": history[-1].get("tta_top1_err"),
        "wall_time_s": train_time,
        "images_per_s": images / train_time if train_time else None,
    }


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def describe_run(cfg: DictConfig, run: str, loaders: Loaders, fingerprint: str, trainer: Trainer) -> str:
    """The block every run's log opens with: what will actually run, after every default and rule."""
    if cfg.se.enabled:
        block = f"SE {cfg.se.squeeze} squeeze, r={cfg.se.reduction}, {cfg.se.gate} gate"
        if cfg.attention != "se":
            block = f"{cfg.attention.upper()} attention"
        se = f"{block}, {cfg.se.position} position, stages {list(se_stages(cfg))}"
    else:
        se = "no SE"
    recipe, data = cfg.trainer, cfg.data
    world = trainer.dist.world_size
    lines = [
        f"run {run}"
        + (f" ({cfg.exp.name}, row {cfg.exp.row}, seed {cfg.seed})" if cfg.exp.row else f" (seed {cfg.seed})"),
        f"  model   {cfg.model.name}; {se}",
        f"  data    {data.name}, {data.num_classes} classes, {data.image_size} px: "
        f"{loaders.train_size} train / {loaders.val_size} val images (fingerprint {fingerprint}); "
        f"{loaders.kind} loader",
        f"  batch   {effective_batch(recipe)} per optimiser step ({recipe.batch_size} x {recipe.accumulate_steps} "
        f"accumulation, over {world} process{'es' if world > 1 else ''})",
        f"  lr      {recipe.lr:g} peak, {recipe.schedule} schedule, {recipe.warmup_epochs} warm-up epochs, "
        f"{recipe.epochs} epochs",
        f"  device  {recipe.device}; AMP {_on(trainer.step.dtype is not None)}, "
        f"channels_last {_on(recipe.channels_last)}, compile {_on(recipe.compile)}",
    ]
    return "\n".join(lines)


def effective_batch(recipe: DictConfig) -> int:
    return recipe.batch_size * recipe.accumulate_steps


def out_of_memory_advice(recipe: DictConfig) -> str:
    """What to type after a CUDA OOM: half the batch, twice the accumulation: same step, same lr."""
    if recipe.batch_size == 1:
        return "CUDA out of memory at trainer.batch_size=1: use a smaller model or data.image_size"
    return (
        f"CUDA out of memory at trainer.batch_size={recipe.batch_size}: try trainer.batch_size="
        f"{recipe.batch_size // 2} trainer.accumulate_steps={recipe.accumulate_steps * 2} "
        "(the same images per optimiser step, so the same lr)"
    )


def full_place(error: OSError, results: Path) -> str:
    """`error` (a full or read-only file system) and where it happened: the file it names (the
    loaders name their shared memory), else `results`, where a run writes its checkpoints and records."""
    return str(error) if error.filename else f"{error} under {results}"


def running_record(cfg: DictConfig, run: str, fingerprint: str, **fields) -> RunRecord:
    """A `running` record of `cfg`: what is known of a run before its first epoch, plus `fields`."""
    return new_record(
        run_id=run,
        status="running",
        exp=cfg.exp.name,
        label=cfg.exp.row,
        seed=cfg.seed,
        config=config_dict(cfg),
        data_fingerprint=fingerprint,
        **fields,
    )


def take_claim(
    cfg: DictConfig, run: str, fingerprint: str, dist: DistributedContext, device: torch.device
) -> tuple[Claim | None, RunRecord | None]:
    """(claim, None) if this process is to train `run` (rank 0 holds the claim for all ranks), or
    (None, record) if it is to leave it: claimed by a live process (`claim_run` waits until it
    knows, and says so in one line), or finished since we looked."""
    path = record_path(cfg.results_dir, run)
    claim = claim_run(runs_dir(cfg.results_dir), run) if dist.is_main else None
    latest = read_record(path) if path.exists() else None
    if isinstance(claim, Claim) and latest and latest["status"] in FINAL_STATUSES:
        claim.release()
        claim = None
    leave = dist.all_reduce_sum(torch.tensor(float(dist.is_main and not isinstance(claim, Claim)), device=device))
    if leave.item() == 0:
        return claim, None
    return None, latest or running_record(cfg, run, fingerprint)


def run_job(cfg: DictConfig) -> RunRecord:
    """Train `cfg` unless its record says completed (or diverged); return the (final) record.

    Everything that can refuse the run (device, dataset, model) runs before the first record
    is written, so a refused run leaves no trace. Its log and config snapshot are in
    `<results_dir>/logs/<run_id>/` (`run_log.py`), opened once the run id is known and the run
    is to be trained.
    """
    device = resolve_device(cfg.trainer.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device", "cuda", "no CUDA device is visible: use trainer.device=cpu or auto")
    cfg = for_device(cfg, device.type)
    fingerprint = dataset_fingerprint(cfg.data)
    run = run_id(cfg, fingerprint)
    path = record_path(cfg.results_dir, run)
    dist = init_distributed(device.type, cfg.trainer.dist_timeout_s)
    existing = dist.decided_by_main(lambda: read_record(path) if path.exists() else None)
    if existing and existing["status"] in FINAL_STATUSES:
        log.info("skipping %s (%s): %s", run, cfg.exp.row or cfg.model.name, existing["status"])
        return existing

    if not dist.is_main:  # rank 0 speaks for the run; the others only warn
        logging.getLogger().setLevel(logging.WARNING)
    seed_everything(cfg.seed)
    model = build_model(cfg)
    complexity = config_complexity(cfg)
    loaders = build_loaders(cfg, dist, device)
    trainer = Trainer(cfg, model, loaders, device, dist, runs_dir(cfg.results_dir) / run / "checkpoint.pt")
    check_run_folders(cfg.results_dir, run)
    with run_log(cfg, run):
        return train_run(cfg, run, fingerprint, trainer, complexity)


def check_run_folders(results_dir: str, run: str) -> None:
    """Make the folders a run writes in (its log's; `runs/`, for its claim and record; its checkpoints'),
    refusing a link planted in their paths, and check that this user can write in each: in a results
    dir a team shares, another user's folder is one line saying what to chmod, not a traceback later."""
    for folder in (log_dir(results_dir, run), runs_dir(results_dir), runs_dir(results_dir) / run):
        make_dirs(folder, below=Path(results_dir))
        check_writable_dir("results_dir", folder)


def train_run(cfg: DictConfig, run: str, fingerprint: str, trainer: Trainer, complexity: Complexity) -> RunRecord:
    """`run_job` from the point where nothing but another process's claim can refuse the run."""
    device, dist, loaders, path = trainer.device, trainer.dist, trainer.loaders, record_path(cfg.results_dir, run)
    log.info("%s", describe_run(cfg, run, loaders, fingerprint, trainer))
    claim, left = take_claim(cfg, run, fingerprint, dist, device)  # after everything that can refuse the run
    if left is not None:
        return left
    existing = read_record(path) if path.exists() else None

    record = running_record(
        cfg,
        run,
        fingerprint,
        lr=cfg.trainer.lr,
        effective_batch=effective_batch(cfg.trainer),
        params_m=complexity.params_m,
        gflops=complexity.gflops,
        env=environment(device, dist.world_size),
        started_at=(existing or {}).get("started_at") or _now(),
        updated_at=_now(),
    )

    def save(**changes) -> None:
        record.update(changes, updated_at=_now())
        if dist.is_main:
            write_record(path, record)

    def finish(**outcome) -> None:
        """Record how the run ended. If the record cannot be written (a full disk), the run counts
        as failed here, whatever it did, and its file keeps what it said last."""
        try:
            save(**outcome)
        except OSError as error:
            log.error("run %s ended %s, but its record %s cannot be written: %s", run, outcome["status"], path, error)
            record.update(status="failed", error=f"record not written: {error}")

    def fail(error: str) -> None:
        """Record that the run failed with `error`. With several processes the failing one may
        not be rank 0, which alone writes otherwise: it writes the record itself, naming its rank,
        and its caller raises the error again, so that the process exits and the launcher
        (torchrun, SLURM) stops the others at once, rather than leaving them in a collective until
        NCCL's watchdog fires. Rank 0, meeting the peer's failure (a collective that lost a
        process), keeps the failed record found on disk: this attempt, rank 0 wrote only `running`."""
        if dist.world_size == 1:
            finish(status="failed", error=error)
            return
        on_disk = read_record(path) if dist.is_main and path.exists() else None
        if on_disk and on_disk["status"] == "failed":
            record.update(on_disk)
            return
        record.update(status="failed", error=f"{error} (process {dist.rank} of {dist.world_size})", updated_at=_now())
        write_record(path, record)

    def on_epoch(history: list[dict]) -> None:
        metric_logger.log_epoch(history[-1])
        # a copy: the trainer appends its next epoch before that epoch's checkpoint is written
        save(epochs=list(history), skipped_images=sum(epoch.get("skipped_images", 0) for epoch in history))

    signals = StopSignals()
    trainer.stop_requested = lambda: signals.requested or (claim is not None and claim.lost is not None)
    if claim is not None:
        trainer.heartbeat, trainer.owns_run = claim.beat, claim.owned
    metric_logger = build_logger(cfg, run, dist.is_main)
    started = time.perf_counter()
    try:
        save()
        with signals:
            history = trainer.fit(on_epoch=on_epoch)
        finish(status="completed", epochs=history, **summarise(history))
    except Interrupted as stop:
        # another process of the run may have been the one signalled: every process stops together
        signal_name = signal.Signals(signals.received).name if signals.requested else "another process's signal"
        log.warning("run %s %s by %s", run, stop, signal_name)
        finish(status="interrupted", interrupted_at={"epoch": stop.epoch, "step": stop.step, "signal": signal_name})
    except TakenOver:
        holder = claim.lost if claim is not None else {}
        log.warning(
            "run %s was taken over by %s pid %s while this process was stopped or cut off: "
            "this one stops without saving and leaves the run to it",
            run,
            holder.get("host"),
            holder.get("pid"),
        )
        record.update(status="running")  # written by its new holder from now on, not by this process
    except KeyboardInterrupt:
        log.warning("run %s stopped at once by a second SIGINT: this step is not saved", run)
        raise
    except Diverged as error:
        log.error("run %s diverged: %s", run, error)
        finish(status="diverged", error=str(error), diverged_at={"epoch": error.epoch, "step": error.step})
    except NoImagesLeft as error:  # the data's fault, said in one line: a traceback would point at the trainer
        log.error("run %s failed: %s", run, error)
        finish(status="failed", error=str(error))
    except Exception as error:
        if is_out_of_memory(error):  # torch's allocator's, or cuBLAS's or cuDNN's own
            advice = out_of_memory_advice(cfg.trainer)
            log.error("run %s failed: %s (%s)", run, advice, str(error).strip().splitlines()[0])
            fail(advice)
        else:
            if isinstance(error, OSError) and error.errno in FULL_OR_READ_ONLY:
                log.error(
                    "run %s failed: %s: free space (or write access) there and run the same command again",
                    run,
                    full_place(error, path.parent),
                )
            else:
                log.exception("run %s failed", run)
            fail(f"{type(error).__name__}: {error}")
        if dist.world_size > 1:
            raise  # this process exits, and the launcher stops the others: see fail()
    finally:
        loaders.close()  # a failed run's workers would otherwise keep the process from exiting
        metric_logger.finish()
        if claim is not None:
            claim.release()
    log.info("run %s %s in %.1f s -> %s", run, record["status"], time.perf_counter() - started, path)
    if record["status"] == "interrupted":
        signals.hand_over()  # under submitit: requeue this job, which resumes from the checkpoint
    return record
