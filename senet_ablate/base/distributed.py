"""Process-group set-up for `torchrun` or SLURM, and the rank test every writer goes through.

Only rank 0 writes records, checkpoints, logs to wandb or draws progress bars; a single
process is rank 0 of a world of 1. Lives outside data/ and engine/ because both use it.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

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


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group that `torchrun` or a submitit job describes in the environment, if any."""
    export_submitit_environment()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    return DistributedContext(torch_dist.get_rank(), world_size, local_rank)
