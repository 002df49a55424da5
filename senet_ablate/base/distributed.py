"""Process-group set-up for `torchrun` or SLURM, and the rank test every writer goes through.

Only rank 0 writes records, checkpoints, logs to wandb or draws progress bars; a single
process is rank 0 of a world of 1. Lives outside data/ and engine/ because both use it.
"""

import atexit
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as torch_dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1  # the processes on this machine, which share its CPUs

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            torch_dist.all_reduce(tensor)
        return tensor

    def all_reduce_min(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.MIN)
        return tensor

    def broadcast_buffers(self, module: torch.nn.Module) -> None:
        """Set `module`'s buffers (BatchNorm's running statistics) to rank 0's on every process, as
        DDP does at a forward pass of the module it wraps: for a module it does not wrap (the
        weights' average, `trainer.ema_decay`), whose buffers each process averages from its own."""
        if self.world_size > 1:
            for buffer in module.buffers():
                torch_dist.broadcast(buffer, src=0)

    def barrier(self) -> None:
        if self.world_size > 1:
            torch_dist.barrier()

    def decided_by_main(self, decide: Callable[[], T]) -> T:
        """`decide()`, evaluated on rank 0 alone and sent to every process (pickled). For what is
        read from shared files (is the run final? which checkpoint?): processes reading them at
        different moments could answer differently and then wait for each other forever."""
        if self.world_size == 1:
            return decide()
        box = [decide() if self.is_main else None]
        torch_dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_strided(self, shard: torch.Tensor) -> torch.Tensor:
        """Every process's 1-D `shard` put back into the order of the whole: process r holds the
        items r, r + world_size, ... (the validation shard `slice(rank, None, world_size)`). Shards
        differ in length by at most one, but all_gather wants one size, so each is padded first."""
        if self.world_size == 1:
            return shard
        lengths = [torch.zeros(1, dtype=torch.long, device=shard.device) for _ in range(self.world_size)]
        torch_dist.all_gather(lengths, torch.tensor([len(shard)], device=shard.device))
        longest = int(max(lengths).item())
        padded = torch.cat([shard, shard.new_full((longest - len(shard),), -1)])
        gathered = [torch.empty_like(padded) for _ in range(self.world_size)]
        torch_dist.all_gather(gathered, padded)
        items = torch.stack(gathered, dim=1).flatten()  # item k of rank r lands at k * world_size + r
        return items[: int(sum(lengths).item())]


def export_submitit_environment() -> None:
    """In a submitit job of several tasks (`hydra/launcher=slurm`, one task per GPU), set the
    variables torchrun would have set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) from
    SLURM's, with submitit's own helper. Variables already set (by torchrun inside the job) win."""
    if "WORLD_SIZE" in os.environ or not os.environ.get("SUBMITIT_EXECUTOR"):
        return
    from submitit.helpers import TorchDistributedEnvironment

    environment = TorchDistributedEnvironment()
    if environment.world_size > 1:
        environment.export(set_cuda_visible_devices=False)  # each process picks its GPU by LOCAL_RANK


def init_distributed(device_type: str, timeout_s: float = 600) -> DistributedContext:
    """Join the process group that `torchrun` or a submitit job describes in the environment, if any.

    A collective fails after `timeout_s` (`trainer.dist_timeout_s`) without one of the processes,
    instead of torch's default (NCCL 10 min, gloo 30)."""
    export_submitit_environment()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    # Set by torchrun and by submitit's export; without it, a launcher of one machine is assumed.
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    if not torch_dist.is_initialized():
        device = None
        if device_type == "cuda":
            # Before the group: NCCL binds each process's communicator to its current device, and
            # `device_id` lets it set up at once on this process's GPU instead of guessing (GPU 0).
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        torch_dist.init_process_group(
            "nccl" if device_type == "cuda" else "gloo", device_id=device, timeout=timedelta(seconds=timeout_s)
        )
        # One group per process, kept across the runs of a sweep; torch warns (and NCCL may leak
        # its resources) when a process exits without destroying it.
        atexit.register(torch_dist.destroy_process_group)
    return DistributedContext(torch_dist.get_rank(), world_size, local_rank, local_world_size)
