"""Where a sweep's jobs train, seen from the machine a command runs on.

The planner times a probe on "this machine" where nothing has been measured. That figure is the
sweep's cost only where the jobs train here, on the device kind they train on: under
`hydra/launcher=slurm` they train on SLURM's compute nodes (unless the command itself runs inside
a SLURM job, `srun`/`salloc`, on one), and a login node's CPU says nothing about their GPUs; nor
does a machine without CUDA say anything about `trainer.device=cuda`. `Target` says which kind
of device the jobs train on, where, and why this machine cannot measure it, with the `srun` that
reruns a command on one GPU of a compute node instead.
"""

import os
import socket
from dataclasses import dataclass

import torch
from omegaconf import DictConfig

from senet_ablate.engine.trainer import resolve_device

SLURM_LAUNCHER = "SlurmLauncher"  # the class name of hydra-submitit-launcher's SLURM launcher


@dataclass(frozen=True)
class Target:
    device: str  # cpu | cuda: the device kind the jobs train on
    where: str  # "this machine (<host>)" or "SLURM's compute nodes"
    unmeasurable: str | None = None  # why a probe on this machine would not measure it; None: it would
    devices: int | None = None  # the devices of one run, where the launcher fixes them (nodes x tasks)
    probe_command: list[str] | None = None  # the command to run on one device where the jobs train


def srun_command(launcher: DictConfig, device: str, command: list[str]) -> list[str]:
    """`command` under `srun` on one task of one node of the launcher's partition (and account,
    qos, constraint), with one GPU if the jobs train on `cuda`: the machines the jobs will get."""
    flags = [f"--{key}={launcher[key]}" for key in ("partition", "account", "qos", "constraint") if launcher.get(key)]
    flags += ["--nodes=1", "--ntasks=1"] + (["--gpus-per-node=1"] if device == "cuda" else [])
    return ["srun", *flags, *command]


def job_target(trainer_device: str, launcher: DictConfig, command: list[str]) -> Target:
    """Where the jobs of `launcher` (`config.launcher_config`) train with `trainer.device`; `command`
    is the one to rerun on a compute node."""
    host = f"this machine ({socket.gethostname()})"
    on_slurm = str(launcher.get("_target_", "")).endswith(SLURM_LAUNCHER)
    devices = launcher.nodes * launcher.tasks_per_node if on_slurm and launcher.get("tasks_per_node") else None
    if on_slurm and "SLURM_JOB_ID" not in os.environ:
        gpus = launcher.get("gpus_per_node") or launcher.get("gpus_per_task") or "gpu" in str(launcher.get("gres"))
        device = trainer_device if trainer_device != "auto" else ("cuda" if gpus else "cpu")
        why = f"{host} is not one of them (no SLURM job here)"
        return Target(device, "SLURM's compute nodes", why, devices, srun_command(launcher, device, command))
    if on_slurm:
        host = f"this machine ({socket.gethostname()}, SLURM job {os.environ['SLURM_JOB_ID']})"
    if trainer_device == "cuda" and not torch.cuda.is_available():
        return Target("cuda", host, f"{host} has no CUDA device", devices)
    return Target(resolve_device(trainer_device).type, host, None, devices)
