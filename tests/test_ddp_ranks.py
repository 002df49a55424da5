"""Two gloo processes, started by the test itself (not torchrun: seconds, not tens of them), for
what only several ranks can show: that no rank leaves the others waiting in a collective."""

import dataclasses
import socket
import time
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from helpers import TINY

# Collectives give up after this long, so a hang fails the test instead of stalling the suite.
HANG_S = 20


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _join(rank: int, port: int, body, out: Path) -> None:
    torch.set_num_threads(1)
    torch_dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2, timeout=timedelta(seconds=HANG_S)
    )
    try:
        torch.save(body(rank), out / f"rank{rank}.pt")
    finally:
        torch_dist.destroy_process_group()


def in_two_gloo_ranks(body, tmp_path: Path) -> list:
    """`body(rank)` in each of 2 spawned processes of one gloo group; their results, by rank.
    `body` must be a module-level function (it is pickled)."""
    context = mp.start_processes(_join, args=(_free_port(), body, tmp_path), nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + 3 * HANG_S
    while not context.join(timeout=1):  # raises ProcessRaisedException with the rank's traceback
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the ranks were still running after {3 * HANG_S} s")
    return [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]


class EmptyOnRank1:
    """A split's batches, with rank 1's first one replaced by a batch of no images (every image
    skipped as unreadable: data.skip_corrupt=true), shaped as collate_skipping_none makes it."""

    def __init__(self, batches, rank: int):
        self.batches, self.rank = batches, rank

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for index, (images, labels) in enumerate(self.batches):
            if index == 0 and self.rank == 1:
                images, labels = images[:0], labels[:0]
            yield images, labels


def _train_with_an_empty_batch_on_rank_1(rank: int) -> dict:
    from senet_ablate.base.distributed import DistributedContext
    from senet_ablate.config import compose_config
    from senet_ablate.data.build import build_loaders
    from senet_ablate.engine.trainer import Trainer
    from senet_ablate.models.build import build_model

    overrides = ["data.train_size=32", "data.val_size=16", "trainer.batch_size=16", "data.num_workers=0"]
    cfg = compose_config([*TINY, *overrides])
    dist, cpu = DistributedContext(rank, 2, rank), torch.device("cpu")
    loaders = build_loaders(cfg, dist, cpu)
    loaders = dataclasses.replace(loaders, train=EmptyOnRank1(loaders.train, rank), val=EmptyOnRank1(loaders.val, rank))
    torch.manual_seed(cfg.seed)
    trainer = Trainer(cfg, build_model(cfg), loaders, cpu, dist, Path("unused.pt"))
    trained = trainer.train_one_epoch(0)
    evaluated = trainer.evaluate()
    weights = torch.cat([parameter.detach().flatten() for parameter in trainer.model.parameters()])
    return {"train": trained, "val": evaluated, "weights": weights}


@pytest.mark.slow  # two processes
def test_a_rank_whose_whole_batch_was_skipped_still_takes_part_in_the_step(tmp_path):
    """Rank 1 skipped its backward pass while rank 0 waited for its gradients (a hang, or gloo's
    timeout), and skipped its first validation batch, where DDP broadcasts rank 0's buffers."""
    ranks = in_two_gloo_ranks(_train_with_an_empty_batch_on_rank_1, tmp_path)
    assert torch.equal(ranks[0]["weights"], ranks[1]["weights"])  # one model, stepped alike
    for rank in ranks:
        assert rank["train"]["skipped"] == 8  # rank 1's 8 images of the first step, counted once
        assert rank["val"]["val_images"] == 16 - 8  # rank 1's one validation batch of 8 was skipped
        assert torch.isfinite(torch.tensor(rank["train"]["train_loss"]))


def _running_statistics(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([buffer.flatten().float() for name, buffer in module.named_buffers() if "running_" in name])


def _bn_statistics_after_a_step_and_an_evaluation(rank: int) -> dict:
    """One training step on this rank's half of the batch with trainer.sync_bn=false (what the CPU
    resolves null to), then an evaluation: the running statistics of the model and of its
    average (trainer.ema_decay) before and after it."""
    from senet_ablate.base.distributed import DistributedContext
    from senet_ablate.config import compose_config
    from senet_ablate.data.build import build_loaders
    from senet_ablate.engine.trainer import Trainer
    from senet_ablate.models.build import build_model

    found = {}
    dist, cpu = DistributedContext(rank, 2, rank), torch.device("cpu")
    for ema_decay in (0.0, 0.9):
        overrides = ["data.train_size=16", "data.val_size=8", "trainer.batch_size=16", "data.num_workers=0"]
        overrides += ["trainer.sync_bn=false", f"trainer.ema_decay={ema_decay}"]
        cfg = compose_config([*TINY, *overrides])
        torch.manual_seed(cfg.seed)
        trainer = Trainer(cfg, build_model(cfg), build_loaders(cfg, dist, cpu), cpu, dist, Path("unused.pt"))
        trainer.train_one_epoch(0)
        evaluated = trainer.model if trainer.ema is None else trainer.ema.module
        trained = _running_statistics(evaluated)
        trainer.evaluate()
        found[ema_decay] = {"trained": trained, "evaluated": _running_statistics(evaluated)}
    return found


@pytest.mark.slow  # two processes
def test_without_sync_bn_each_rank_normalises_its_own_slice_and_evaluates_with_rank_0s_statistics(tmp_path):
    """What docs/running.md says of trainer.sync_bn=false, as it runs: BatchNorm's statistics are
    each rank's own after a step on different halves of the batch, and every rank evaluates with
    rank 0's, whether the model is evaluated (DDP broadcasts its buffers at the first forward
    pass) or the weights' average (which DDP does not wrap: the trainer broadcasts them)."""
    ranks = in_two_gloo_ranks(_bn_statistics_after_a_step_and_an_evaluation, tmp_path)
    for ema_decay in (0.0, 0.9):
        rank0, rank1 = ranks[0][ema_decay], ranks[1][ema_decay]
        assert not torch.equal(rank0["trained"], rank1["trained"])  # per-rank BatchNorm: what W changes
        assert torch.equal(rank0["evaluated"], rank0["trained"])
        assert torch.equal(rank1["evaluated"], rank0["trained"])
