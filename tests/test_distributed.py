"""Several processes train one run as one process would: the same global batches, every
validation image counted once, metrics reduced, one writer."""

import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import numpy as np
import pytest
import torch
from helpers import TINY, write_cifar

from senet_ablate.base import distributed
from senet_ablate.base.distributed import DistributedContext, init_distributed
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data.build import GlobalBatchSampler, build_loaders
from senet_ablate.engine.trainer import batch_norm_over_processes
from senet_ablate.models.build import build_model
from senet_ablate.records.store import iter_records
from senet_ablate.runs.run import run_job

CPU = torch.device("cpu")


def _batches(size, global_batch, rank, world, seed=3):
    return list(GlobalBatchSampler(size, global_batch, rank, world, torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize("size,global_batch", [(100, 32), (96, 32), (20, 32)])
def test_the_ranks_batches_make_up_the_single_process_batch(size, global_batch):
    single = _batches(size, global_batch, 0, 1)
    shards = [_batches(size, global_batch, rank, 4) for rank in range(4)]
    assert all(len(shard) == len(single) for shard in shards)  # every rank takes as many steps
    for step, batch in enumerate(single):
        assert sum((shard[step] for shard in shards), []) == batch
    seen = [index for batch in single for index in batch]
    assert len(seen) == len(set(seen))  # nothing padded in twice
    sampler = GlobalBatchSampler(size, global_batch, 1, 4, torch.Generator())
    assert sampler.images(len(sampler)) == sum(len(batch) for batch in shards[1])


def test_validation_shards_cover_every_image_once():
    cfg = compose_config(["data=synthetic", "data.val_size=37", "data.train_size=64", "trainer.batch_size=8"])
    shards = [build_loaders(cfg, DistributedContext(rank, 2), CPU).val.loader.dataset for rank in range(2)]
    assert sorted(i for shard in shards for i in shard.indices) == list(range(37))


def test_a_global_batch_that_does_not_split_over_the_processes_is_refused():
    cfg = compose_config(["data=synthetic", "trainer.batch_size=30"])
    with pytest.raises(ConfigError, match="trainer.batch_size=30 .* a multiple of the 4 processes"):
        build_loaders(cfg, DistributedContext(0, 4), CPU)
    small = compose_config(["data=synthetic", "data.train_size=16", "trainer.batch_size=32"])
    with pytest.raises(ConfigError, match="trainer.batch_size=32 .* at most the 16 training images"):
        build_loaders(small, DistributedContext(0, 2), CPU)


COMMON = [
    "model=resnet20",
    "data=synthetic",
    "data.train_size=128",
    "data.val_size=37",
    "data.num_workers=0",
    "trainer=smoke",
    "trainer.epochs=2",
    "trainer.device=cpu",
    "trainer.progress=false",
]


@pytest.mark.slow
def test_two_processes_under_torchrun_train_like_one_with_the_same_global_batch(tmp_path):
    """2 gloo processes x 16 images vs 1 process x 16 images x 2 accumulation steps: the same
    32-image steps. Training losses agree to float rounding (< 1e-4 relative); validation differs
    only through BatchNorm running statistics, which DDP keeps from rank 0's half of each batch
    (observed: val loss 2.69 vs 2.57 after epoch 1, top-1 equal)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    result = subprocess.run(
        [*command, "-m", "senet_ablate", *COMMON, "trainer.batch_size=32", f"results_dir={tmp_path / 'ddp'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (ddp,) = iter_records(tmp_path / "ddp")  # one writer: one record
    single = run_job(
        compose_config([*COMMON, "trainer.batch_size=16", "trainer.accumulate_steps=2", f"results_dir={tmp_path}"])
    )
    assert ddp["status"] == single["status"] == "completed" and ddp["env"]["world_size"] == 2
    assert ddp["effective_batch"] == single["effective_batch"] == 32 and ddp["lr"] == single["lr"]
    for ours, reference in zip(ddp["epochs"], single["epochs"], strict=True):
        assert ours["train_loss"] == pytest.approx(reference["train_loss"], rel=1e-4)
        assert ours["val_images"] == reference["val_images"] == 37  # each image once, none padded in
        assert ours["val_loss"] == pytest.approx(reference["val_loss"], rel=0.1)
        assert abs(ours["top1_err"] - reference["top1_err"]) <= 3 * 100 / 37  # at most 3 images apart
    assert result.stdout.count("epoch 2/2") == 1  # rank 1 does not log the run a second time
    # Each rank predicted its strided shard; gathered, they are in the validation set's order.
    kept = [
        np.load(root / "runs" / run["run_id"] / "predictions.npz")
        for root, run in ((tmp_path / "ddp", ddp), (tmp_path, single))
    ]
    assert len(kept[0]["label"]) == 37 and np.array_equal(kept[0]["label"], kept[1]["label"])
    assert 100 * (kept[0]["predicted"] != kept[0]["label"]).mean() == pytest.approx(ddp["top1_err"])


# Run under torchrun by the tests below: one run of the CLI's overrides (argv[2:]), with a fault
# injected on one rank as argv[1] says. Each rank notes when its run_job returned.
DRIVER = textwrap.dedent(
    """
    import logging, os, signal, sys, time
    from pathlib import Path
    import torch
    import senet_ablate.engine.trainer as trainer
    from senet_ablate.records.claims import Claim
    from senet_ablate.config import compose_config
    from senet_ablate.runs.run import run_job

    logging.basicConfig(level=logging.INFO)
    fault, overrides = sys.argv[1], sys.argv[2:]
    rank, out = int(os.environ["RANK"]), Path(os.environ["OUT"])
    if fault == "oom" and rank == 1:
        def out_of_memory(self, epoch, partial=None):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        trainer.Trainer.train_one_epoch = out_of_memory
    if fault == "slow-save" and rank == 0:  # rank 0 alone holds the claim, so it alone beats
        beats, save = [], trainer.save_checkpoint
        def beat(self):
            beats.append(1)
            if len(beats) == 2:
                os.kill(os.getpid(), signal.SIGUSR1)
        def slow_save(path, state):
            time.sleep(2)
            save(path, state)
            (out / "saved").write_text(repr(time.time()))
        Claim.beat, trainer.save_checkpoint = beat, slow_save
    if fault == "stale-view" and rank == 1:  # what rank 1 would read if it read the files itself
        import senet_ablate.runs.run as run
        run.read_record = lambda path: {"status": "completed"}
        trainer.load_checkpoint = lambda path, device: None
    record = run_job(compose_config(overrides))
    (out / f"returned{rank}").write_text(repr(time.time()))
    """
)


def torchrun_driver(tmp_path, fault, *overrides):
    (tmp_path / "driver.py").write_text(DRIVER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    return subprocess.run(
        [*command, str(tmp_path / "driver.py"), fault, *COMMON, f"results_dir={tmp_path / 'results'}", *overrides],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OUT": str(tmp_path)},
    )


@pytest.mark.slow
def test_an_out_of_memory_error_on_rank_1_is_recorded_with_the_advice_and_ends_every_process(tmp_path):
    """Rank 0 alone wrote records: rank 1's failure was lost, and rank 0 waited for it in a collective."""
    result = torchrun_driver(tmp_path, "oom", "trainer.batch_size=32")
    assert result.returncode != 0  # the job fails (rank 1 exits; torchrun stops rank 0)
    (record,) = iter_records(tmp_path / "results")
    assert record["status"] == "failed"
    assert record["error"] == (
        "CUDA out of memory at trainer.batch_size=32: try trainer.batch_size=16 trainer.accumulate_steps=2 "
        "(the same images per optimiser step, so the same lr) (process 1 of 2)"
    )
    assert not (tmp_path / "returned0").exists() and not (tmp_path / "returned1").exists()


@pytest.mark.slow
def test_after_an_interrupt_no_process_leaves_before_rank_0_has_saved(tmp_path):
    """Rank 0's save takes 2 s here; before the barrier, rank 1 returned at once."""
    result = torchrun_driver(tmp_path, "slow-save", "trainer.batch_size=32")
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = iter_records(tmp_path / "results")
    assert record["status"] == "interrupted" and record["interrupted_at"]["step"] == 2
    saved = float((tmp_path / "saved").read_text())
    assert float((tmp_path / "returned1").read_text()) >= saved
    # Resumed where rank 1 would read the run as completed and find no checkpoint: rank 0 decides
    # for both (before, rank 1 left the run and rank 0 waited for it in a collective).
    resumed = torchrun_driver(tmp_path, "stale-view", "trainer.batch_size=32")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    (record,) = iter_records(tmp_path / "results")
    assert record["status"] == "completed" and "resumed from" in resumed.stderr + resumed.stdout
    assert float((tmp_path / "returned1").read_text()) >= float((tmp_path / "returned0").read_text()) - 5


def test_a_process_joins_with_a_timeout_and_knows_how_many_processes_share_its_machine(monkeypatch):
    """Without a timeout a hung process held the others for torch's default (NCCL 10 min, gloo 30);
    the processes of a machine (LOCAL_WORLD_SIZE, set by torchrun and submitit) share its CPUs."""
    joined = []
    monkeypatch.setattr(distributed.torch_dist, "is_initialized", lambda: False)
    monkeypatch.setattr(distributed.torch_dist, "init_process_group", lambda *args, **kwargs: joined.append(kwargs))
    monkeypatch.setattr(distributed.torch_dist, "get_rank", lambda: 5)
    monkeypatch.setattr(distributed.atexit, "register", lambda *args: None)
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert init_distributed("cpu", timeout_s=42) == DistributedContext(5, 8, 1, 4)
    assert joined[0]["timeout"] == timedelta(seconds=42)
    assert compose_config([]).trainer.dist_timeout_s == 600  # what run_job passes unless set


def test_the_processes_of_a_machine_split_its_cpus_between_their_loaders(monkeypatch, tmp_path):
    """Each of 8 processes took half the machine's CPUs per loader: 8 times too many workers."""
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    cfg = compose_config(["data=cifar10", f"data.root={write_cifar(tmp_path)}", "trainer.batch_size=8"])
    for local_world_size, workers in ((1, 8), (2, 4), (8, 1)):
        loaders = build_loaders(cfg, DistributedContext(0, 8, 0, local_world_size), CPU)
        assert [loader.num_workers for loader in loaders.dataloaders] == [workers, workers]


def test_several_cuda_processes_train_with_syncbatchnorm_unless_sync_bn_is_false():
    """The layers the trainer wraps in DDP (converting works on CPU modules; only their forward
    pass needs CUDA): SyncBatchNorm for several processes on CUDA, holding the model's own
    parameters (the optimiser's, the checkpoint's); plain BatchNorm for one process or with
    trainer.sync_bn=false; refused on the CPU, where SyncBatchNorm does not run."""

    def layers(device_type, world_size, *overrides):
        cfg = compose_config([*TINY, *overrides])
        model = build_model(cfg)  # a new one each time: the conversion replaces its layers in place
        parameters = {id(parameter) for parameter in model.parameters()}
        trained = batch_norm_over_processes(model, cfg.trainer, device_type, world_size)
        assert {id(parameter) for parameter in trained.parameters()} == parameters
        return {type(module).__name__ for module in trained.modules() if "BatchNorm" in type(module).__name__}

    assert layers("cuda", 2) == {"SyncBatchNorm"}
    assert layers("cuda", 1) == layers("cuda", 2, "trainer.sync_bn=false") == {"BatchNorm2d"}
    with pytest.raises(ConfigError, match="trainer.sync_bn"):
        layers("cpu", 2, "trainer.sync_bn=true")
