"""What `auto` (or null) leaves to the machine that runs: the device, the loader, the memory format.

`config.RESOLVED_BY_THE_MACHINE` names these keys, so that the report does not list them as typed.
"""

from omegaconf import DictConfig, OmegaConf

from senet_ablate.data import auto_loader


def resolve_channels_last(recipe: DictConfig, device_type: str) -> bool:
    """`trainer.channels_last`, with null resolved: on for AMP on CUDA, whose reduced-precision
    convolutions run NHWC on tensor cores (NCHW input costs a transpose per conv), off otherwise."""
    if recipe.channels_last is not None:
        return recipe.channels_last
    return recipe.amp and device_type == "cuda"


def resolve_sync_bn(recipe: DictConfig, device_type: str) -> bool:
    """`trainer.sync_bn`, with null resolved: on on CUDA, so that BatchNorm normalises over the
    global batch whatever the number of GPUs (one GPU: plain BatchNorm, the same statistics), off
    on the CPU, where torch's SyncBatchNorm does not run (several CPU processes: the gloo tests)."""
    if recipe.sync_bn is not None:
        return recipe.sync_bn
    return device_type == "cuda"


def for_device(cfg: DictConfig, device_type: str) -> DictConfig:
    """`cfg` with what `auto` (or null) leaves to the machine decided for `device_type` (cpu |
    cuda): the device, the loader, the memory format and SyncBatchNorm. A run's id is computed
    from this, so `auto` is never an identity (and a CPU run's id is what it was with
    channels_last=false and sync_bn=false)."""
    trainer = {
        "device": device_type,
        "channels_last": resolve_channels_last(cfg.trainer, device_type),
        "sync_bn": resolve_sync_bn(cfg.trainer, device_type),
    }
    return OmegaConf.merge(cfg, {"trainer": trainer, "data": {"loader": auto_loader(cfg.data, device_type)}})
