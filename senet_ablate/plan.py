"""`python -m senet_ablate.plan +exp=<name> [seed=0,1,2] [overrides]`: what a sweep has left, what
it will cost, and the command that launches it.

It lists every (row, seed) run with its run id and state (from records and claims: see
`status.py`), then estimates the device-hours of the runs not completed:
    remaining epochs x images per epoch / images per second,
where images/s is the mean of the sweep's completed runs when there are any (their recorded
throughput, over all their GPUs, so the hours are multiplied by that GPU count), else a short
timed probe of training steps of the first row's model on this machine's device (one device).
Validation time is not counted. The last line is the command that runs what is left; the
completed runs among its rows and seeds are skipped as usual.

Nothing is trained and nothing is written.
"""

import shlex
import statistics
import sys
import time

import torch
from omegaconf import DictConfig

from senet_ablate.cli import run_cli
from senet_ablate.config import apply_row, compose_config
from senet_ablate.data.build import build_datasets
from senet_ablate.engine.trainer import resolve_device
from senet_ablate.errors import ConfigError
from senet_ablate.models.build import build_model
from senet_ablate.status import RunState, sweep_states
from senet_ablate.sweep import common_overrides, swept_values

PROBE_STEPS = 3  # timed, after one warm-up step
PROBE_CPU_BATCH = 8  # a CPU probe times a small batch: images/s hardly depends on it there


def train_images_per_epoch(cfg: DictConfig) -> int:
    """Images one epoch trains on: the training set, or `max_steps_per_epoch` global batches of it."""
    size = len(build_datasets(cfg)[0])
    cap = cfg.trainer.max_steps_per_epoch
    return min(size, cap * cfg.trainer.batch_size) if cap else size


def probe_images_per_second(cfg: DictConfig) -> tuple[float, str]:
    """Training images/s of `cfg`'s model on this machine's device, timed over a few SGD steps."""
    device = resolve_device(cfg.trainer.device)
    batch = cfg.trainer.batch_size if device.type == "cuda" else min(cfg.trainer.batch_size, PROBE_CPU_BATCH)
    memory_format = torch.channels_last if cfg.trainer.channels_last else torch.contiguous_format
    model = build_model(cfg).to(device, memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    size = cfg.data.image_size
    images = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=memory_format)
    labels = torch.randint(cfg.data.num_classes, (batch,), device=device)
    use_amp = cfg.trainer.amp and device.type == "cuda"

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(PROBE_STEPS):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return PROBE_STEPS * batch / (
        time.perf_counter() - started
    ), f"a {PROBE_STEPS}-step probe at batch {batch} on {name}"


def remaining_epochs(state: RunState, epochs: int) -> int:
    """Epochs a run has not finished (a partly trained one counts whole: the estimate errs high)."""
    return max(epochs - len((state.record or {}).get("epochs") or []), 0)


def plan(argv: list[str]) -> list[str]:
    """The planner's report, as lines."""
    exps = swept_values(argv, "exp")  # `+exp=<name>`
    if not exps:
        raise ConfigError("+exp", None, "name an experiment file, e.g. +exp=reduction_sweep")
    exp = exps[0]
    common = common_overrides(argv)
    seeds = [int(seed) for seed in swept_values(argv, "seed") or ["0"]]
    states = sweep_states(exp, seeds, common, swept_values(argv, "exp.row"))
    lines = [f"{exp}: {len(states)} runs ({len(set(s.label for s in states))} rows x {len(seeds)} seeds)", ""]
    lines += [state.describe() for state in states]
    left = [state for state in states if state.state not in ("completed", "diverged")]
    if not left:
        return lines + ["", "nothing left to run"]

    base = compose_config([f"+exp={exp}", *common])
    row_cfg = apply_row(base, left[0].label)
    done = [s.record for s in states if s.state == "completed" and s.record.get("images_per_s")]
    if done:
        speed = statistics.fmean(record["images_per_s"] for record in done)
        devices = statistics.fmean((record["env"] or {}).get("world_size", 1) for record in done)
        source = f"the mean of {len(done)} completed runs of this sweep (on {devices:g} device(s) each)"
    else:
        (speed, source), devices = probe_images_per_second(row_cfg), 1
    epoch_images = train_images_per_epoch(row_cfg)
    epochs = sum(remaining_epochs(state, row_cfg.trainer.epochs) for state in left)
    hours = epochs * epoch_images / speed / 3600
    running = sum(state.state == "running" for state in left)
    rows = list(dict.fromkeys(state.label for state in left))
    command = ["python", "-m", "senet_ablate", f"+exp={exp}", *common]
    command += [f"exp.row={','.join(rows)}", f"seed={','.join(str(seed) for seed in seeds)}"]
    return lines + [
        "",
        f"left: {len(left)} runs ({running} running elsewhere), {epochs:g} epochs x {epoch_images} images",
        f"throughput: {speed:.1f} images/s, from {source}",
        f"estimate: {hours:.3g} h of training on that hardware = {hours * devices:.3g} device-hours"
        " (validation not counted)",
        "",
        "launch what is left (completed runs are skipped):",
        "  " + shlex.join(command),
    ]


def main(argv: list[str]) -> None:
    print("\n".join(plan(argv)))


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
