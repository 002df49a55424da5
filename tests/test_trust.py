"""What a researcher must be able to trust: the typed lr is the lr, a run's id is its data and
config, every key does what it says, logs fit a cluster's files, exit statuses are honest."""

import copy
import json
import logging
import multiprocessing
import subprocess
import sys

import pytest
import torch
from helpers import TINY
from omegaconf import OmegaConf

from senet_ablate import create_model
from senet_ablate.config import compose_config
from senet_ablate.data.build import workers_per_loader
from senet_ablate.engine.optim import build_scheduler, step_scheduler
from senet_ablate.engine.progress import EpochProgress
from senet_ablate.models.residual import ResidualUnit
from senet_ablate.records.store import iter_records, new_record, read_record, record_path, run_id, write_record
from senet_ablate.runs.run import run_job

# Under the default preset (conf/config.yaml's trainer), whose lr follows the batch: what these tests trust.
RUN = [*TINY, "trainer=imagenet_paper", "trainer.epochs=1"]
SMALL_DATA = ["data.train_size=64", "data.val_size=32"]


@pytest.mark.slow  # trains a run
def test_typed_lr_under_the_default_preset_is_the_lr_used_and_recorded(tmp_path, caplog):
    """The issue's command: the default preset (0.6 per 1024 images) must not rescale a typed lr."""
    cfg = compose_config([*RUN, *SMALL_DATA, "trainer.batch_size=64", "trainer.lr=0.1", f"results_dir={tmp_path}"])
    with caplog.at_level(logging.INFO):
        record = run_job(cfg)
    assert record["status"] == "completed"
    assert record["lr"] == 0.1 and record["effective_batch"] == 64 and record["config"]["trainer"]["lr"] == 0.1
    assert record["epochs"][0]["lr"] == pytest.approx(0.1)
    block = next(message for message in caplog.messages if message.startswith("run "))
    assert "resnet20; SE avg squeeze, r=16, sigmoid gate, standard position, stages [2, 3, 4]" in block
    assert "synthetic, 10 classes, 32 px: 64 train / 32 val images" in block
    assert "64 per optimiser step (64 x 1 accumulation, over 1 process)" in block
    assert "lr      0.1 peak, step schedule, 0 warm-up epochs, 1 epochs" in block
    assert "device  cpu; AMP off, channels_last off, compile off" in block


@pytest.mark.slow  # trains a run
def test_changing_the_batch_alone_follows_the_presets_rule(tmp_path):
    record = run_job(compose_config([*RUN, *SMALL_DATA, "trainer.batch_size=32", f"results_dir={tmp_path}"]))
    assert record["lr"] == pytest.approx(0.6 * 32 / 1024) and record["effective_batch"] == 32


# What cannot change a result, each as a user changes it: where results go, how they are logged,
# where the data lies (its content is in the id as its fingerprint) and whether it may be
# downloaded, how many loader workers read it (augmentations are seeded per image), whether a
# progress bar is drawn, which experiment file and row asked for the run, how a settle sweep
# spends its seeds, and the names of the plugin modules (their blocks' keys are in the id).
RUNTIME_OVERRIDES = {
    "results_dir": "results_dir=elsewhere",
    "logger": "logger=wandb",
    "data.root": "data.root=/mnt/copy",
    "data.download": "data.download=true",
    "data.num_workers": "data.num_workers=7",
    "trainer.progress": "trainer.progress=true",
    "exp": "exp.row=another",
    "settle": "settle.max_seeds=3",
    "plugins": "plugins=[senet_ablate.attention.eca]",  # any importable module
    "trainer.dist_timeout_s": "trainer.dist_timeout_s=30",
}


def _leaves(node: dict, prefix: str = ""):
    for key, value in node.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{path}.")
        else:
            yield path


def _changed(value):
    """Another value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, list):
        return [*value, 1]
    if isinstance(value, dict):  # an empty mapping
        return {"added": 1}
    return "set"  # None


def test_the_run_id_ignores_what_cannot_change_a_result_and_sees_every_other_key():
    base = compose_config(RUN)
    assert run_id(base, "a") != run_id(base, "b")  # the data's content is part of the id
    for key, override in RUNTIME_OVERRIDES.items():
        moved = compose_config([*RUN, override])
        assert OmegaConf.select(moved, key) != OmegaConf.select(base, key), override  # it did change
        assert run_id(moved, "a") == run_id(base, "a"), override
    identity = OmegaConf.to_container(base, resolve=True)
    assert run_id(OmegaConf.create(identity), "a") == run_id(base, "a")
    checked = 0
    for path in _leaves(identity):
        if any(path == key or path.startswith(f"{key}.") for key in RUNTIME_OVERRIDES):
            continue
        *parents, leaf = path.split(".")
        changed = copy.deepcopy(identity)
        node = changed
        for parent in parents:
            node = node[parent]
        node[leaf] = _changed(node[leaf])
        assert run_id(OmegaConf.create(changed), "a") != run_id(base, "a"), f"{path} is not in the run id"
        checked += 1
    assert checked > 50  # seed, model.*, data.*, trainer.*, se.*, ...


@pytest.mark.slow  # trains a run
def test_auto_device_and_its_resolution_are_one_run(tmp_path):
    auto = run_job(compose_config([*RUN, *SMALL_DATA, "trainer.device=auto", f"results_dir={tmp_path}"]))
    assert auto["config"]["trainer"]["device"] == "cpu"
    again = run_job(compose_config([*RUN, *SMALL_DATA, f"results_dir={tmp_path}"]))
    assert again == auto  # skipped: the same run


def test_warmup_works_under_the_plateau_schedule_and_survives_resume():
    recipe = compose_config(["trainer=imagenet_ablation", "trainer.warmup_epochs=4", "trainer.plateau_patience=0"])
    recipe = recipe.trainer
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr)
    scheduler = build_scheduler(optimizer, recipe)
    lrs = []
    for loss in (5, 4, 3, 2, 1.0, 1.0, 1.0):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        step_scheduler(scheduler, loss)
    assert lrs[:5] == pytest.approx([0.01, 0.0325, 0.055, 0.0775, 0.1])  # lr/10 rising to the peak
    assert lrs[5:] == pytest.approx([0.1, 0.01])  # then /10 at each plateau (patience 0)

    resumed_optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr)
    resumed = build_scheduler(resumed_optimizer, recipe)
    resumed_optimizer.load_state_dict(optimizer.state_dict())
    resumed.load_state_dict(scheduler.state_dict())
    step_scheduler(resumed, 1.0)
    step_scheduler(scheduler, 1.0)
    assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)


@pytest.mark.parametrize("name", ["resnet20", "resnet164", "wrn16_8", "resnet50"])
def test_zero_init_residual_makes_every_block_start_as_its_shortcut(name):
    model = create_model([f"model={name}", "se.enabled=false", "model.zero_init_residual=true", "data.image_size=32"])
    blocks = [module for module in model.modules() if isinstance(module, ResidualUnit)]
    x = torch.randn(2, blocks[1].conv1.in_channels, 8, 8)
    with torch.no_grad():
        assert torch.count_nonzero(blocks[1].residual(x)) == 0
    plain = create_model([f"model={name}", "se.enabled=false", "data.image_size=32"])
    first = next(module for module in plain.modules() if isinstance(module, ResidualUnit))
    assert torch.count_nonzero(getattr(first, first.zero_init_layer).weight) > 0


def test_num_workers_defaults_to_half_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert workers_per_loader(None) == 1
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert workers_per_loader(None) == 8
    assert workers_per_loader(0) == 0
    assert compose_config(["data=cifar10"]).data.num_workers is None


def test_progress_off_a_terminal_is_a_line_per_tenth_without_carriage_returns(caplog, capsys):
    progress = EpochProgress(200, "epoch 1/3", enabled=True, interactive=False)
    with caplog.at_level(logging.INFO):
        for step in range(1, 201):
            progress.update(step, loss=2.0, err=50.0, images_per_s=100.0, elapsed_s=step * 0.5)
    progress.close()
    lines = [m for m in caplog.messages if m.startswith("epoch 1/3")]
    assert len(lines) == 11  # step 1, then every 10%
    assert lines[1] == "epoch 1/3  step 20/200 (10%)  loss 2.0000  err 50.0%  100 img/s  ETA 0:01:30"
    assert lines[-1].startswith("epoch 1/3  step 200/200 (100%)")
    captured = capsys.readouterr()
    assert "\r" not in captured.out + captured.err


def _write_records(directory: str, writer: int, count: int) -> None:
    cfg = compose_config(RUN)
    for index in range(count):
        shared = new_record(
            run_id="shared", status="running", config={"writer": writer, "index": index}, seed=0, env={}
        )
        write_record(record_path(directory, "shared"), shared)
        own = new_record(
            run_id=f"w{writer}-{index}",
            status="completed",
            config=OmegaConf.to_container(cfg),
            seed=0,
            top1_err=50.0,
            env={},
        )
        write_record(record_path(directory, own["run_id"]), own)


@pytest.mark.slow  # starts writer processes
def test_concurrent_writers_into_one_results_dir_lose_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_records, args=(str(tmp_path), w, 200)) for w in range(2)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0
    records = list(iter_records(tmp_path))
    assert len(records) == 2 * 200 + 1
    assert read_record(record_path(tmp_path, "shared"))["config"]["index"] == 199  # whole, from one writer
    assert not list((tmp_path / "runs").glob(".*.tmp"))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "senet_ablate", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "overrides,status,exit_status",
    [([], "completed", 0), (["trainer.lr=1e30"], "diverged", 3)],
)
@pytest.mark.slow  # starts the CLI
def test_exit_status_says_what_happened_and_logs_have_no_carriage_returns(tmp_path, overrides, status, exit_status):
    args = [*RUN, *SMALL_DATA, "trainer.batch_size=32", "trainer.progress=true", f"results_dir={tmp_path}", *overrides]
    result = _cli(*args)
    assert result.returncode == exit_status, result.stderr[-2000:]
    (record,) = iter_records(tmp_path)
    assert record["status"] == status
    assert "\r" not in result.stdout + result.stderr  # not a terminal: lines, not a bar
    if status == "completed":
        assert "step 2/2 (100%)" in result.stdout


@pytest.mark.slow  # starts the CLI
def test_cli_refusals_write_nothing_and_touch_no_earlier_record(tmp_path):
    earlier = new_record(run_id="earlier", status="completed", config={}, seed=0, top1_err=50.0, env={})
    write_record(record_path(tmp_path, "earlier"), earlier)
    before = record_path(tmp_path, "earlier").read_bytes()
    for args in (["se.reduction=abc"], ["data=cifar10", f"data.root={tmp_path / 'none'}"]):
        result = _cli(*RUN, f"results_dir={tmp_path}", *args)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
    assert [path.name for path in (tmp_path / "runs").iterdir()] == ["earlier.json"]
    assert record_path(tmp_path, "earlier").read_bytes() == before
    assert json.loads(before)["status"] == "completed"
