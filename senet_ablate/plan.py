"""`python -m senet_ablate.plan +exp=<name> [seed=0,1,2] [devices=N] [overrides]`: what a sweep has left,
what it will cost, and the command that launches it.

It lists every (row, seed) run with its run id and state (from records and claims: see
`records/status.py`), then costs the runs not completed, each row from its own config (a row may select
another recipe, model or image size than its neighbours):
    remaining epochs x training images per epoch / images per second of one device
in device-hours. A row's images/s is measured when completed runs of its config exist, of any seed,
on the device kind the jobs train on (their training images over their device-seconds: a mean of
rates would weigh a short run like a long one); else it is a short timed probe of training steps of
the row's model on this machine's device, once per distinct model and at the batch one device trains
on, but only where the jobs train here (`runs/target.py`): under `hydra/launcher=slurm` on a login
node, or with `trainer.device=cuda` on a machine without CUDA, such a row is "not measured", left out
of the estimate, and the plan ends with the `srun` that probes it on one GPU of a compute node.

`devices=N` (a tool option) is the number of devices each run trains on: by default the SLURM
launcher's nodes x tasks per node, else the most that any measured run used, else 1. The global
batch is split over them, and their throughput is assumed to add up (hours = device-hours / N).
Rows that the run would refuse before training (a key its dataset lacks, a batch the devices cannot
split) are named, not costed.
The last line is the command that runs what is left; its completed runs are skipped as usual.

With `settle.max_seeds=N` (a settle sweep, `runs/settle.py`) the runs are costed up to N seeds per
row, and a settle section prices the design per row: its maximum device-hours (N seeds), its
expected ones, and those of the fixed design of equal power, the expected seeds simulated at the
paper's top-1 figures for the table and a seed spread σ (`report/settle_cost.py`): `sigma=` as typed
(a tool option, top-1 points), else the pooled within-row standard deviation of this setting's
completed runs (rows with two seeds or more), else 0.15 top-1 points, assumed; the line says which.

Nothing is trained and nothing is written.
"""

import json
import math
import shlex
import sys
import time
from dataclasses import dataclass

import torch
from omegaconf import DictConfig, OmegaConf

from senet_ablate.base.cli import pop_option, run_cli
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config, launcher_config
from senet_ablate.data import build_datasets
from senet_ablate.engine.loss import build_loss
from senet_ablate.engine.machine import for_device
from senet_ablate.engine.optim import build_optimizer
from senet_ablate.engine.trainer import TrainStep, resolve_device
from senet_ablate.models.build import build_model
from senet_ablate.records.status import RunState
from senet_ablate.records.store import FINAL_STATUSES, RunRecord, config_id, world_size
from senet_ablate.records.trusted import read_trusted
from senet_ablate.report.experiments import Experiment, load_experiment, section_evidence, sections
from senet_ablate.report.paper import paper_figures
from senet_ablate.report.sequential import Settle
from senet_ablate.report.settle_cost import TABLES, cost
from senet_ablate.report.settle_design import covers, pinned
from senet_ablate.report.stats import pooled_std
from senet_ablate.report.summary import table_family
from senet_ablate.runs.checks import check_run
from senet_ablate.runs.listing import run_ids, run_state, sweep_configs
from senet_ablate.runs.sweep import common_overrides, swept_values
from senet_ablate.runs.target import Target, job_target

SIGMA = 0.15  # top-1 points: a seed's spread on ImageNet-scale tables, where none is measured yet
MEASURED = "measured"  # `sigma=`'s default: pooled from the setting's completed runs (`seed_spread`)
PROBE_STEPS = 3  # timed, after one warm-up step
PROBE_CPU_BATCH = 8  # a CPU probe times a small batch: images/s hardly depends on it there
LEFT_OUT = (
    "not counted: validation, data loading where it is slower than the model, start-up, torch.compile's"
    " compilation, checkpoints, queueing, and communication between devices (their images/s are assumed to add"
    " up); a partly trained run counts its unfinished epoch whole"
)


@dataclass
class Throughput:
    per_device: float  # training images/s of one device
    source: str  # where the figure comes from, for the report


def train_side(cfg: DictConfig) -> int:
    """The side of the images a run trains on: a recipe may train at another size than it evaluates."""
    return cfg.trainer.train_image_size or cfg.data.image_size


def train_images_per_epoch(cfg: DictConfig, training_set_size: int) -> int:
    """Images one epoch trains on: the training set, or `max_steps_per_epoch` global batches of it."""
    cap = cfg.trainer.max_steps_per_epoch
    return min(training_set_size, cap * cfg.trainer.batch_size) if cap else training_set_size


def measured_throughput(records: list[RunRecord]) -> Throughput:
    """Images/s of one device over completed runs: their training images over their device-seconds.

    A record's `images_per_s` x `wall_time_s` is its training images (`run.summarise` sums each
    epoch's images/s x time), and its `images_per_s` counts every process, so its device-seconds are
    its time x its world size."""
    images = sum(record["images_per_s"] * record["wall_time_s"] for record in records)
    device_seconds = sum(record["wall_time_s"] * world_size(record) for record in records)
    names = sorted({(record["env"] or {}).get("device") for record in records} - {None})
    on = f" on {', '.join(names)}" if names else ""
    return Throughput(images / device_seconds, f"measured over {len(records)} completed run(s){on}")


def completed_by_config(results_dir: str, device: str) -> dict[str, list[RunRecord]]:
    """The completed runs under `results_dir` on `device` (cpu, cuda) with a measured throughput,
    keyed by the id of their config without the seed: every seed of a row trains the same model on
    the same images. Records are read as the report reads them (`records/trusted.py`: each run
    once, migrated to this schema, with finite figures), their configs as data, never resolved."""
    found: dict[str, list[RunRecord]] = {}
    for record in read_trusted(results_dir).counted:
        ran_on = record["config"].get("trainer", {}).get("device")
        if record["status"] == "completed" and record["images_per_s"] and record["wall_time_s"] and ran_on == device:
            found.setdefault(config_id(record["config"], record["data_fingerprint"], ("seed",)), []).append(record)
    return found


def devices_per_run(typed: str, measured: list[RunRecord], launched: int | None) -> int:
    """`devices=N` as typed; `auto`: what the launcher gives a run (`launched`), else the most
    devices a measured run of the sweep used, else 1."""
    if typed == "auto":
        return launched or max((world_size(record) for record in measured), default=1)
    if not typed.isdigit() or int(typed) < 1:
        raise ConfigError("devices", typed, "the number of devices each run trains on (a positive integer), or auto")
    return int(typed)


def refusal(cfg: DictConfig, devices: int) -> str | None:
    """Why a run of `cfg` on `devices` devices would be refused before it trains, or None."""
    try:
        check_run(cfg)
        if cfg.trainer.batch_size % devices:
            raise ConfigError(
                "trainer.batch_size", cfg.trainer.batch_size, f"a multiple of the {devices} processes (devices=)"
            )
    except ConfigError as error:
        return str(error)
    return None


def probe_batch(cfg: DictConfig, devices: int) -> int:
    """The batch one device trains on (the global batch split over `devices`); a CPU probe times at
    most PROBE_CPU_BATCH images a step."""
    batch = cfg.trainer.batch_size // devices
    return batch if resolve_device(cfg.trainer.device).type == "cuda" else min(batch, PROBE_CPU_BATCH)


def probe_key(cfg: DictConfig, batch: int) -> str:
    """What a probe's timing depends on: rows equal in these share one probe."""
    keys = ("model", "se", "attention", "eca", "cbam", "data.num_classes")
    keys += ("trainer.amp", "trainer.amp_dtype", "trainer.channels_last", "trainer.optimizer", "trainer.device")
    timed = {key: OmegaConf.select(cfg, key) for key in keys}
    timed.update(side=train_side(cfg), batch=batch)
    return json.dumps(OmegaConf.to_container(OmegaConf.create(timed), resolve=True), sort_keys=True)


def probe_images_per_second(cfg: DictConfig, batch: int) -> tuple[float, str]:
    """Training images/s of `cfg`'s model on one of this machine's devices at `batch` images a step,
    timed over a few TrainSteps, the trainer's, with the run's optimiser, loss, precision and memory format
    (not torch.compile)."""
    device = resolve_device(cfg.trainer.device)
    cfg = for_device(cfg, device.type)  # the memory format the run will use
    memory_format = torch.channels_last if cfg.trainer.channels_last else torch.contiguous_format
    model = build_model(cfg).to(device, memory_format=memory_format).train()
    recipe = cfg.trainer
    step = TrainStep(model, build_optimizer(model, recipe), build_loss(recipe), device, recipe.amp, recipe.amp_dtype)
    size = train_side(cfg)
    images = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=memory_format)
    labels = torch.randint(cfg.data.num_classes, (batch,), device=device)

    step(images, labels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(PROBE_STEPS):
        step(images, labels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    speed = PROBE_STEPS * batch / (time.perf_counter() - started)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return speed, f"a {PROBE_STEPS}-step probe at batch {batch} on {name}"


def row_throughput(
    cfg: DictConfig, records: list[RunRecord], devices: int, probes: dict[str, Throughput], target: Target
) -> Throughput | None:
    """A row's images/s of one device: measured over its completed runs if it has any, else probed
    where this machine is where the jobs train (`target`), else None: not measured. `probes` holds
    the figures probed so far, so that rows training one model alike share a probe."""
    if records:
        return measured_throughput(records)
    if target.unmeasurable:
        return None
    batch = probe_batch(cfg, devices)
    key = probe_key(cfg, batch)
    if key not in probes:
        probes[key] = Throughput(*probe_images_per_second(cfg, batch))
    return probes[key]


def where_measured(target: Target) -> str:
    """One line: what the jobs train on, where, and what can measure it from here."""
    line = f"the jobs train on {target.device} on {target.where}"
    if target.unmeasurable:
        return f"{line}; {target.unmeasurable}: a row is costed only from completed runs on {target.device}"
    return f"{line}: a row without completed runs on {target.device} is costed from a probe here"


def probe_advice(target: Target, unmeasured: int) -> list[str]:
    """How to cost the rows not measured: the same plan on one device of the jobs' machines."""
    if not unmeasured:
        return []
    if target.probe_command:
        return ["", "to probe them on one of the jobs' machines:", "  " + shlex.join(target.probe_command)]
    return ["", f"to probe them, run this plan where the jobs train (on {target.device})"]


def remaining_epochs(state: RunState, epochs: int) -> int:
    """Epochs a run has not finished (a partly trained one counts whole: the estimate errs high)."""
    return max(epochs - len((state.record or {}).get("epochs") or []), 0)


def seed_spread(experiment: Experiment, results_dir: str, typed: str) -> tuple[float, str]:
    """The σ a settle sweep is priced at, and where it comes from: as typed (`sigma=`), else pooled
    over the rows of this setting with two completed seeds or more (`stats.pooled_std`, the
    records read as the report reads them), else SIGMA, assumed."""
    if typed != MEASURED:
        try:
            sigma = float(typed)
        except ValueError:
            sigma = math.nan
        if not 0 < sigma < math.inf:
            raise ConfigError("sigma", typed, f"a positive number of top-1 points, or {MEASURED}")
        return sigma, f"σ = {sigma:g} top-1 points as typed"
    setting = pinned(experiment.defaults)
    found = [s for s in sections(experiment, read_trusted(results_dir).counted) if covers(setting, s.setting)]
    pooled = pooled_std([e.values for section in found for e in section_evidence(section).values()])
    if pooled is None or not pooled[0]:  # no spread measured (a zero one: copies of one run, `summary.zero_spread`)
        return SIGMA, f"σ = {SIGMA:g} top-1 points assumed (no row of this setting has 2 completed seeds that differ)"
    sigma, runs, rows = pooled
    return sigma, f"σ = {sigma:.2g} top-1 points pooled from {runs} runs in {rows} rows"


def settle_section(
    exp: str, common: list[str], settle_cfg: DictConfig, run_hours: dict[str, float], typed_sigma: str
) -> list[str]:
    """A settle sweep priced per row: device-hours at its maximum seeds, expected at the paper's figures
    and the setting's seed spread σ (`seed_spread`; simulated, `report/settle_cost.py`), and the fixed
    design's of equal power."""
    experiment = load_experiment(exp, common)
    pairs = table_family(experiment)
    design = Settle(settle_cfg.max_seeds, settle_cfg.looks, rho=settle_cfg.rho).design(len(pairs))
    cfg = compose_config([f"+exp={exp}", *common])
    data_name = cfg.data.name
    sigma, spread = seed_spread(experiment, cfg.results_dir, typed_sigma)
    paper = {label: f["top1_err"] for label, f in paper_figures(experiment.table, data_name).items() if "top1_err" in f}
    lines = ["", f"settle sweep: {design.describe()}"]
    if not pairs or any(label not in paper for pair in pairs for label in pair):
        return [*lines, "  expected cost not simulated: the paper gives no top-1 figure for every row compared"]
    simulated = cost(design, {label: paper[label] for pair in pairs for label in pair}, sigma, pairs, experiment.margin)
    fixed = simulated.fixed
    lines += [
        f"  simulated at the paper's top-1 figures, {spread}, {TABLES} tables: it settles "
        f"{100 * simulated.power:.0f}% of the family's {len(pairs)} comparisons; the fixed design settling as many "
        + (f"runs {fixed:.1f} seeds per row" if fixed else f"needs over {3 * design.looks[-1]} seeds per row"),
        f"  {'row':<12}   h/run  E[seeds]  E device-h  max device-h  fixed device-h",
    ]
    totals = [0.0, 0.0, 0.0]
    for label, expected in simulated.expected.items():
        if label not in run_hours:  # refused, not measured, or already done
            continue
        hours = run_hours[label]
        row = (expected * hours, design.looks[-1] * hours, (fixed or 0) * hours)
        totals = [total + value for total, value in zip(totals, row, strict=True)]
        lines.append(
            f"  {label:<12}  {hours:6.3g}  {expected:8.1f}  {row[0]:10.3g}  {row[1]:12.3g}  "
            + (f"{row[2]:14.3g}" if fixed else f"{'-':>14}")
        )
    if fixed and totals[2]:
        lines.append(
            f"  all rows: expected {totals[0]:.3g}, at most {totals[1]:.3g}, fixed design {totals[2]:.3g} device-hours "
            f"(expected {totals[0] / totals[2]:.2f}x the fixed design's, at most {totals[1] / totals[2]:.2f}x); "
            "the whole sweep from no run"
        )
    return lines


def plan(argv: list[str]) -> list[str]:
    """The planner's report, as lines."""
    typed = list(argv)
    argv, typed_devices = pop_option(argv, "devices", None, default="auto")
    argv, sigma = pop_option(argv, "sigma", None, default=MEASURED)
    exps = swept_values(argv, "exp")  # `+exp=<name>`
    if not exps:
        raise ConfigError("+exp", None, "name an experiment file, e.g. +exp=reduction_sweep")
    exp = exps[0]
    common = common_overrides(argv)
    seeds = [int(seed) for seed in swept_values(argv, "seed") or ["0"]]
    settle_cfg = compose_config([f"+exp={exp}", *common]).settle
    if settle_cfg.max_seeds:
        seeds = list(range(settle_cfg.max_seeds))
    runs = [(cfg, run_state(cfg)) for cfg in sweep_configs(exp, seeds, common, swept_values(argv, "exp.row"))]
    lines = [f"{exp}: {len(runs)} runs ({len(set(s.label for _, s in runs))} rows x {len(seeds)} seeds)", ""]
    lines += [state.describe() for _, state in runs]
    left = [(cfg, state) for cfg, state in runs if state.state not in FINAL_STATUSES]
    if not left:
        return lines + ["", "nothing left to run"]

    rows: dict[str, list[tuple[DictConfig, RunState]]] = {}
    for cfg, state in left:
        rows.setdefault(state.label, []).append((cfg, state))
    target = job_target(
        left[0][0].trainer.device,
        launcher_config([f"+exp={exp}", *common]),
        ["python", "-m", "senet_ablate.plan", *typed],
    )
    completed = completed_by_config(left[0][0].results_dir, target.device)
    measured = {
        label: [record for run in run_ids(row[0][0], ("seed",)) for record in completed.get(run, [])]
        for label, row in rows.items()
    }
    launched = target.devices if typed_devices == "auto" else None
    devices = devices_per_run(typed_devices, [record for records in measured.values() for record in records], launched)
    training_sets: dict[str, int] = {}  # data config -> training-set size: an image folder is listed once
    probes: dict[str, Throughput] = {}  # probe_key -> the probe's figure
    width = max(len(label) for label in rows)
    table = [f"  {'row':<{width}}  runs  epochs each  epochs left  images/epoch  img/s/device  device-h  img/s from"]
    total_epochs = total_hours = 0.0
    refused = unmeasured = 0
    run_hours: dict[str, float] = {}  # a whole run of each costed row, for the settle section
    for label, row in rows.items():
        cfg = row[0][0]  # the row's seeds differ in nothing that costs time
        epochs = sum(remaining_epochs(state, cfg.trainer.epochs) for _, state in row)
        counts = f"  {label:<{width}}  {len(row):>4}  {cfg.trainer.epochs:>11}  {epochs:>11}"
        why = refusal(cfg, devices)
        if why is not None:
            refused += len(row)
            table.append(f"{counts}  {'-':>12}  {'-':>12}  {'-':>8}  refused when launched: {why}")
            continue
        data_key = json.dumps(OmegaConf.to_container(cfg.data, resolve=True), sort_keys=True)
        if data_key not in training_sets:
            training_sets[data_key] = len(build_datasets(cfg)[0])
        epoch_images = train_images_per_epoch(cfg, training_sets[data_key])
        speed = row_throughput(cfg, measured[label], devices, probes, target)
        if speed is None:
            unmeasured += len(row)
            table.append(f"{counts}  {epoch_images:>12}  {'-':>12}  {'-':>8}  not measured for {target.device}")
            continue
        hours = epochs * epoch_images / speed.per_device / 3600
        run_hours[label] = cfg.trainer.epochs * epoch_images / speed.per_device / 3600
        total_epochs += epochs
        total_hours += hours
        table.append(f"{counts}  {epoch_images:>12}  {speed.per_device:>12.1f}  {hours:>8.3g}  {speed.source}")

    running = sum(state.state == "running" for _, state in left)
    if typed_devices != "auto":
        assumed = "as typed"
    elif launched:
        assumed = "hydra.launcher's nodes x tasks_per_node"
    else:
        assumed = "the most a measured run used, else 1; set it with devices=N"
    costed = len(left) - refused - unmeasured  # the runs the estimate counts
    command = ["python", "-m", "senet_ablate", f"+exp={exp}", *common]
    if not settle_cfg.max_seeds:  # a settle sweep chooses its rows and seeds round by round
        command += [f"exp.row={','.join(rows)}", f"seed={','.join(str(seed) for seed in seeds)}"]
    return lines + [
        "",
        f"left: {len(left)} runs ({running} running elsewhere), each on {devices} device(s) ({assumed})",
        where_measured(target),
        *table,
        ("estimate: " if not unmeasured else f"estimate for {costed} of the {len(left)} runs left: ")
        + (
            f"{total_epochs:g} epochs, {total_hours:.3g} device-hours of training"
            f" = {total_hours / devices:.3g} h on {devices} device(s) per run"
            if costed
            else "none"
        )
        + (f"; {refused} runs refused when launched are not counted" if refused else "")
        + (f"; {unmeasured} runs not measured for {target.device} are not counted" if unmeasured else ""),
        LEFT_OUT,
        *probe_advice(target, unmeasured),
        *(settle_section(exp, common, settle_cfg, run_hours, sigma) if settle_cfg.max_seeds else []),
        "",
        "launch what is left (completed runs are skipped):",
        "  " + shlex.join(command),
    ]


def main(argv: list[str]) -> None:
    print("\n".join(plan(argv)))


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
