"""Structured configs: the schema every YAML file under conf/ is merged into, and its checks.

Hydra validates types against these dataclasses; `check_config` then validates meaning (allowed
names, ranges, model-specific options) and raises `ConfigError` naming key, value and choices.
Each key is documented where it is defined, as in pycls.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from senet_ablate import conf as _shipped_configs
from senet_ablate.attention import ATTENTION
from senet_ablate.errors import ConfigError
from senet_ablate.models import MODELS
from senet_ablate.models.registry import supported_positions
from senet_ablate.models.shake_mix import BACKWARD_MODES, FORWARD_MODES, LEVELS

# The repository's conf/, which pyproject.toml installs as the package senet_ablate.conf: the same
# directory in a checkout (editable install) as in site-packages (wheel, `pip install .`).
CONFIG_DIR = Path(_shipped_configs.__file__).resolve().parent

PAIRS = "pairs"  # exp.reference of the paired tables: each row SE-X against its own X
SQUEEZES = ("avg", "max", "none")
GATES = ("sigmoid", "tanh", "relu")
DATASETS = ("cifar10", "cifar100", "imagenet", "imagefolder", "places365", "synthetic")
CIFAR_CLASSES = {"cifar10": 10, "cifar100": 100}
IMAGE_FOLDERS = ("imagenet", "imagefolder", "places365")  # datasets of image files
SCHEDULES = ("step", "multistep", "cosine", "plateau")
DEVICES = ("auto", "cpu", "cuda")
LOADERS = ("auto", "gpu", "dataloader", "dali")
LOSSES = ("cross_entropy", "bce")
INTERPOLATIONS = ("bilinear", "bicubic")
PLACES_VARIANTS = ("challenge", "standard")
LOGGERS = ("none", "wandb")
WANDB_MODES = ("online", "offline", "disabled")


@dataclass
class SEConfig:
    enabled: bool = True  # false: the plain network (the paper's baselines)
    squeeze: str = "avg"  # avg | max | none (NoSqueeze: the FCs become 1x1 convs on the full map)
    reduction: int = 16  # r: hidden width is max(1, C // r)
    gate: str = "sigmoid"  # excitation non-linearity: sigmoid | tanh | relu
    # Where the block sits; each model declares those it takes (`@register_model` in its module):
    # standard | pre | post | identity | 3x3 in residual units, after_depthwise in MBConv blocks.
    position: str = "standard"
    stages: Any = "all"  # "all" or a list of stage numbers (2 = conv2_x ...)
    bias: bool = True  # FC biases; the paper's printed params count them


@dataclass
class EcaConfig:
    kernel_size: int | None = None  # attention=eca: taps of the 1-D conv; null = the paper's adaptive rule


@dataclass
class CbamConfig:
    channel: bool = True  # attention=cbam: its channel attention (MLP on average- and max-pooled maps)
    spatial: bool = True  # attention=cbam: its spatial attention (k x k conv on channel-wise mean and max)
    kernel_size: int = 7  # attention=cbam: the spatial conv's size


@dataclass
class ModelConfig:
    name: str = "resnet50"  # a registered model: senet_ablate.models.MODELS (`model=<name>` selects it)
    stride_in_1x1: bool | None = None  # ImageNet bottlenecks; null = the model's default
    zero_init_residual: bool = False  # zero each residual branch's last layer (BN, or conv in pre-activation blocks)
    # Shake-Shake models only (Gastaldi 2017); null = the model's own default, the mode of its paper row.
    shake_forward: str | None = None  # shake (alpha ~ U(0,1) per pass) | even (alpha = 0.5)
    shake_backward: str | None = None  # shake (a new beta ~ U(0,1)) | even (beta = 0.5) | keep (beta = alpha)
    shake_level: str | None = None  # image (a coefficient per image) | batch (one per mini-batch)


@dataclass
class DataConfig:
    name: str = "imagenet"  # cifar10 | cifar100 | imagenet | imagefolder | synthetic
    root: str = "data"  # dataset directory, relative to where the command is started
    download: bool = False  # CIFAR only: fetch with torchvision if missing
    num_classes: int = MISSING  # set by each data/*.yaml; image folders: the number of class folders
    image_size: int = 224  # train crop; eval resizes to image_size * 256 / 224 then crops
    # DataLoader workers per loader (data.loader=dali: DALI's and the file-reading threads); null =
    # the CPUs this process may use (its affinity), split between the train and validation loaders.
    # Never changes a result: augmentations are seeded per image, not per worker.
    num_workers: int | None = None
    # How batches reach the device: gpu (CIFAR only: the dataset held on the device, augmented
    # there) | dataloader (torchvision datasets, DataLoader workers) | dali (image folders: NVIDIA
    # DALI decodes and resizes on the GPU; the `dali` extra) | auto (gpu for CIFAR on CUDA, else
    # dataloader). Part of a run's id: they draw augmentations differently or resample differently.
    loader: str = "auto"
    # CIFAR only: side in pixels of the square Cutout sets to the dataset's mean (0 once normalised) in
    # each training image (DeVries & Taylor 2017; their sizes: 16 for CIFAR-10, 8 for CIFAR-100); 0 = off
    cutout: int = 0
    variant: str | None = None  # places365 only: challenge (8M images, the paper's) | standard (1.8M)
    small: bool = False  # places365 only: the 256x256 copies of the images instead of the originals
    skip_corrupt: bool = False  # image folders: skip (and count) unreadable images instead of failing
    train_size: int | None = None  # synthetic only (refused otherwise): number of generated training images
    val_size: int | None = None  # synthetic only (refused otherwise): number of generated validation images


@dataclass
class TrainerConfig:
    epochs: int = 100
    batch_size: int = 256  # per step, summed over GPUs (the global batch: independent of world size)
    # Peak lr, used exactly as given. Presets write it as `${linear_lr:base_lr,base_batch,...}` so
    # that changing batch_size (or accumulate_steps) alone rescales it; a typed value replaces that.
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "step"  # step | multistep | cosine | plateau
    step_epochs: int = 30  # step: divide the lr by 10 every this many epochs
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # multistep: fractions of epochs
    plateau_patience: int = 10  # plateau: epochs without val-loss progress before lr /10
    plateau_drops: int | None = None  # plateau: at most this many /10 drops (null: no limit)
    warmup_epochs: int = 0  # linear warm-up from lr/10 over this many epochs, before any schedule
    label_smoothing: float = 0.0
    # sgd (torch's, with momentum / nesterov) | any name in timm.optim.list_optimizers(), built by
    # timm.optim.create_optimizer_v2 (no weight decay on biases and norms, as timm's train.py): lamb, adamw...
    optimizer: str = "sgd"
    loss: str = "cross_entropy"  # cross_entropy | bce (timm's BinaryCrossEntropy: one-vs-all, as ResNet strikes back)
    bce_target_threshold: float | None = None  # bce: mixed targets above it count as 1 (ResNet strikes back: 0.2)
    mixup_alpha: float = 0.0  # Mixup (timm.data.Mixup) of each batch with Beta(alpha, alpha) weights; 0: off
    cutmix_alpha: float = 0.0  # CutMix; with Mixup also on, timm picks one of the two per batch (even odds)
    # Recipe augmentations of image folders (ImageNet, Places-365): timm's RandAugment config string
    # (e.g. rand-m6-mstd0.5-inc1), the training crop size (null: data.image_size, which stays the
    # evaluation size) and the evaluation crop fraction (resize to image_size / eval_crop_pct, then
    # centre crop; null: 224 / 256, the paper's protocol).
    randaugment: str | None = None
    train_image_size: int | None = None
    eval_crop_pct: float | None = None
    interpolation: str = "bilinear"  # image folders: how crops and the evaluation resize are resampled (| bicubic)
    accumulate_steps: int = 1  # gradient accumulation: effective batch = batch_size * this
    amp: bool = True  # mixed precision on CUDA (bf16 where native, else fp16: autocast_dtype); off on CPU
    # NHWC activations, which the tensor cores' convolutions want; null: on where AMP runs (CUDA),
    # off in full precision (the CPU), decided by for_device before the run id is computed.
    channels_last: bool | None = None
    sync_bn: bool = False  # several processes: BatchNorm statistics over the global batch (CUDA only)
    compile: bool = False  # torch.compile the model
    device: str = "auto"  # auto | cpu | cuda
    max_steps_per_epoch: int | None = None  # cap for smoke runs; null = the whole epoch
    progress: bool = True  # a bar on a terminal, a line per ~10% of an epoch otherwise; false: neither


@dataclass
class LoggerConfig:
    name: str = "none"  # none | wandb
    project: str = "senet-ablate"
    mode: str = "offline"  # wandb mode (online | offline | disabled): offline unless you have an account


# Config groups a row may select as a whole (`trainer=timm_a3`): the row's config is composed again
# with that choice in place of the command line's, so the keys typed on the command line still win.
PRESET_GROUPS = ("model", "data", "trainer", "logger")


@dataclass
class RowConfig:
    label: str = ""  # the paper's row label, exactly as in paper.yaml
    set: list[str] = field(default_factory=list)  # "key=value" overrides of config keys, or "group=preset"


# How a claim's rows relate to the rows it compares them with, in top-1 error (see report/conclusions.py).
RELATIONS = ("better", "worse", "equivalent", "not_worse", "not_better")


@dataclass
class PaperClaim:
    says: str = ""  # the paper's conclusion in words, as the report prints it
    relation: str = "better"  # of each row of `rows` to each row of `than`: one of RELATIONS
    rows: list[str] = field(default_factory=list)
    than: list[str] = field(default_factory=list)  # empty for `equivalent`: the rows, each with each other


@dataclass
class ExpConfig:
    name: str | None = None  # experiment file name, e.g. reduction_sweep
    # The paper table this reproduces (a key of paper.yaml); any other name (`mbconv`) for an
    # experiment beyond the paper, whose report has no paper columns.
    table: str | None = None
    row: str | None = None  # the row this job runs; set by the sweep
    rows: list[RowConfig] = field(default_factory=list)
    # The row every other row is compared with (Dunnett's many-to-one, `report/stats.py`): the SE-off
    # row where the file has one, else the paper's standard SE row; `pairs` in the paired tables,
    # where each row SE-X is compared with its own X.
    reference: str | None = None
    # The smallest difference of interest, in top-1 error points: rows within it of the reference
    # are called equivalent (two one-sided tests), and unresolved rows are told how many seeds would
    # detect it. 0.2 by default: above ImageNet ResNet-50's seed noise (0.07-0.10, DESIGN.md), below
    # most of the paper's ablation differences.
    margin: float = 0.2
    # The paper's conclusions from this table (its section 6), as comparisons between rows: data the
    # report checks on the runs and calls holds / contradicted / unresolved.
    claims: list[PaperClaim] = field(default_factory=list)
    # The overrides the config was composed from (set by compose_config and by the CLI): a row
    # that selects a preset is composed again from them.
    overrides: list[str] = field(default_factory=list)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    se: SEConfig = field(default_factory=SEConfig)
    # The block placed by se.* (enabled, position, stages, reduction): se (the paper's) | eca | cbam.
    attention: str = "se"
    eca: EcaConfig = field(default_factory=EcaConfig)
    cbam: CbamConfig = field(default_factory=CbamConfig)
    exp: ExpConfig = field(default_factory=ExpConfig)
    seed: int = 0
    results_dir: str = "results"  # run records, checkpoints and tables go here


def resolve_loader(data: DictConfig, device_type: str) -> str:
    """`data.loader`, with `auto` resolved: the GPU-resident loader for CIFAR on CUDA."""
    if data.loader != "auto":
        return data.loader
    return "gpu" if data.name in CIFAR_CLASSES and device_type == "cuda" else "dataloader"


def resolve_channels_last(recipe: DictConfig, device_type: str) -> bool:
    """`trainer.channels_last`, with null resolved: on for AMP on CUDA, whose reduced-precision
    convolutions run NHWC on tensor cores (NCHW input costs a transpose per conv), off otherwise."""
    if recipe.channels_last is not None:
        return recipe.channels_last
    return recipe.amp and device_type == "cuda"


def for_device(cfg: DictConfig, device_type: str) -> DictConfig:
    """`cfg` with what `auto` (or null) leaves to the machine decided for `device_type` (cpu |
    cuda): the device, the loader and the memory format. A run's id is computed from this, so
    `auto` is never an identity (and a CPU run's id is what it was with channels_last=false)."""
    trainer = {"device": device_type, "channels_last": resolve_channels_last(cfg.trainer, device_type)}
    return OmegaConf.merge(cfg, {"trainer": trainer, "data": {"loader": resolve_loader(cfg.data, device_type)}})


def _row_labels(rows) -> str:
    """Hydra sweep value listing every row of an experiment file, quoted for the override grammar."""
    return ",".join("'" + str(row["label"]).replace("'", "\\'") + "'" for row in rows)


def linear_lr(base_lr: float, base_batch: int, batch_size: int, accumulate_steps: int) -> float:
    """The linear scaling rule (Goyal et al.): `base_lr` for `base_batch` images per optimiser step.

    Trainer presets write `lr: ${linear_lr:0.6,1024,${.batch_size},${.accumulate_steps}}`, so
    `--cfg job` shows the rule and a typed `trainer.lr=` replaces it (and is used as typed).
    """
    return base_lr * batch_size * accumulate_steps / base_batch


def register_configs() -> None:
    """Put the schema and the `model=<name>` group (one option per registered model) in Hydra's
    ConfigStore, and register the resolvers the YAML files use."""
    store = ConfigStore.instance()
    store.store(name="schema", node=Config)
    for name in MODELS:
        store.store(group="model", name=name, node={"name": name})
    for name, resolver in (("row_labels", _row_labels), ("linear_lr", linear_lr)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)


def _choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(key, value, "choose one of " + ", ".join(map(str, allowed)))


def _range(key: str, value, low=None, high=None, low_open=False, high_open=True) -> None:
    """`value` must lie in the interval; the message states it the way a reader would write it."""
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if value is None or too_low or too_high:
        left = "" if low is None else f"{low} {'<' if low_open else '<='} "
        right = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ConfigError(key, value, f"must be {left}{key.rsplit('.', 1)[-1]}{right}")


def _positive(key: str, value) -> None:
    if value is None or value <= 0:
        raise ConfigError(key, value, "must be > 0")


def se_stages(cfg: DictConfig) -> tuple[int, ...]:
    """The stages that get SE blocks, after resolving "all" against the model."""
    spec = MODELS[cfg.model.name]
    stages = cfg.se.stages
    if isinstance(stages, str):
        _choice("se.stages", stages, ["all", "a list such as [2, 3]"])
        return spec.stages
    if isinstance(stages, int) and not isinstance(stages, bool):
        stages = [stages]
    allowed = f"{cfg.model.name} has stages {list(spec.stages)} or 'all' (se.enabled=false for none)"
    if not isinstance(stages, Sequence) or not stages:
        raise ConfigError("se.stages", stages, allowed)
    for stage in stages:
        if isinstance(stage, bool) or stage not in spec.stages:
            raise ConfigError("se.stages", list(stages), allowed)
    return tuple(sorted(set(stages)))


def _check_model(cfg: DictConfig) -> None:
    _choice("model.name", cfg.model.name, sorted(MODELS))
    spec = MODELS[cfg.model.name]
    if cfg.model.zero_init_residual and not spec.residual:
        allowed = f"{cfg.model.name} has no ResidualUnit to zero-initialise: use false"
        raise ConfigError("model.zero_init_residual", True, allowed)
    if cfg.data.image_size < spec.min_image_size:
        allowed = f"{cfg.model.name} takes at least {spec.min_image_size}"
        raise ConfigError("data.image_size", cfg.data.image_size, allowed)
    if cfg.model.stride_in_1x1 is not None and spec.stride_in_1x1 is None:
        raise ConfigError(
            "model.stride_in_1x1", cfg.model.stride_in_1x1, f"{cfg.model.name} has no such choice; use null"
        )
    _check_shake(cfg.model, spec.shake is not None)
    _choice("se.squeeze", cfg.se.squeeze, SQUEEZES)
    _choice("se.gate", cfg.se.gate, GATES)
    _choice("se.position", cfg.se.position, supported_positions())
    if cfg.se.position not in spec.positions:
        raise ConfigError("se.position", cfg.se.position, f"{cfg.model.name} supports {', '.join(spec.positions)}")
    _positive("se.reduction", cfg.se.reduction)
    _check_attention(cfg)
    se_stages(cfg)


def _check_shake(model: DictConfig, has_branch_pairs: bool) -> None:
    for key, allowed in (("shake_forward", FORWARD_MODES), ("shake_backward", BACKWARD_MODES), ("shake_level", LEVELS)):
        value = model[key]
        if value is None:
            continue
        if not has_branch_pairs:
            raise ConfigError(f"model.{key}", value, f"{model.name} has no shaken branches; use null")
        _choice(f"model.{key}", value, allowed)


def _check_attention(cfg: DictConfig) -> None:
    _choice("attention", cfg.attention, sorted(ATTENTION))
    if cfg.attention != "se":  # squeeze and gate are axes of SE only
        for key, paper_value in (("squeeze", "avg"), ("gate", "sigmoid")):
            if cfg.se[key] != paper_value:
                allowed = f"attention={cfg.attention} has no such choice: use {paper_value}"
                raise ConfigError(f"se.{key}", cfg.se[key], allowed)
    if cfg.eca.kernel_size is not None and (cfg.eca.kernel_size < 1 or cfg.eca.kernel_size % 2 == 0):
        raise ConfigError("eca.kernel_size", cfg.eca.kernel_size, "an odd number >= 1, or null for the adaptive rule")
    if cfg.cbam.kernel_size < 1 or cfg.cbam.kernel_size % 2 == 0:
        raise ConfigError("cbam.kernel_size", cfg.cbam.kernel_size, "an odd number >= 1")
    if not (cfg.cbam.channel or cfg.cbam.spatial):
        raise ConfigError("cbam.spatial", False, "true while cbam.channel is false (no attention: se.enabled=false)")


def _check_data(data: DictConfig) -> None:
    _choice("data.name", data.name, DATASETS)
    if OmegaConf.is_missing(data, "num_classes"):
        raise ConfigError("data.num_classes", "???", f"set the number of classes of {data.name}")
    _positive("data.num_classes", data.num_classes)
    _positive("data.image_size", data.image_size)
    if data.name in CIFAR_CLASSES:
        _choice("data.num_classes", data.num_classes, [CIFAR_CLASSES[data.name]])
        _choice("data.image_size", data.image_size, [32])
    elif data.download and data.name != "places365":
        raise ConfigError(
            "data.download", True, f"only CIFAR and Places-365 can be downloaded; put {data.name} in data.root"
        )
    if data.name == "places365":
        _choice("data.num_classes", data.num_classes, [365])
        _choice("data.variant", data.variant, PLACES_VARIANTS)
    elif data.variant is not None or data.small:
        key, value = ("data.variant", data.variant) if data.variant is not None else ("data.small", True)
        raise ConfigError(key, value, "only data=places365 has variants and small images")
    if data.num_workers is not None:
        _range("data.num_workers", data.num_workers, low=0)
    for key in ("train_size", "val_size"):
        if data.name == "synthetic":
            _positive(f"data.{key}", data[key])
        elif data[key] is not None:
            raise ConfigError(f"data.{key}", data[key], "only data=synthetic has a size to set; use null")
    _choice("data.loader", data.loader, LOADERS)
    if data.loader == "gpu" and data.name not in CIFAR_CLASSES:
        raise ConfigError("data.loader", "gpu", f"only {', '.join(CIFAR_CLASSES)} fit on the device: use dataloader")
    if data.loader == "dali":
        if data.name not in IMAGE_FOLDERS:
            raise ConfigError("data.loader", "dali", f"only image folders ({', '.join(IMAGE_FOLDERS)}): use auto")
        if data.skip_corrupt:
            raise ConfigError("data.skip_corrupt", True, "data.loader=dali cannot skip images: use dataloader")
    if data.cutout and data.name not in CIFAR_CLASSES:
        raise ConfigError("data.cutout", data.cutout, f"only {', '.join(CIFAR_CLASSES)} have Cutout: use 0")
    _range("data.cutout", data.cutout, low=0, high=data.image_size, high_open=False)
    if data.skip_corrupt and data.name not in IMAGE_FOLDERS:
        raise ConfigError("data.skip_corrupt", True, f"only image folders ({', '.join(IMAGE_FOLDERS)}) can skip images")


def _check_trainer(trainer: DictConfig) -> None:
    for key in ("epochs", "batch_size", "accumulate_steps"):
        _positive(f"trainer.{key}", trainer[key])
    _positive("trainer.lr", trainer.lr)
    _range("trainer.momentum", trainer.momentum, low=0, high=1)
    if trainer.nesterov and trainer.momentum == 0:
        raise ConfigError("trainer.nesterov", True, "needs trainer.momentum > 0")
    _range("trainer.weight_decay", trainer.weight_decay, low=0)
    _choice("trainer.schedule", trainer.schedule, SCHEDULES)
    _positive("trainer.step_epochs", trainer.step_epochs)
    milestones = list(trainer.milestones)
    if not milestones or milestones != sorted(set(milestones)):
        raise ConfigError("trainer.milestones", milestones, "a non-empty increasing list of fractions of the epochs")
    for fraction in milestones:
        _range("trainer.milestones", fraction, low=0, high=1, low_open=True, high_open=False)
    _range("trainer.plateau_patience", trainer.plateau_patience, low=0)
    if trainer.plateau_drops is not None:
        _range("trainer.plateau_drops", trainer.plateau_drops, low=0)
    _range("trainer.warmup_epochs", trainer.warmup_epochs, low=0, high=trainer.epochs)
    _range("trainer.label_smoothing", trainer.label_smoothing, low=0, high=1)
    _check_recipe_parts(trainer)
    _choice("trainer.device", trainer.device, DEVICES)
    if trainer.max_steps_per_epoch is not None:
        _positive("trainer.max_steps_per_epoch", trainer.max_steps_per_epoch)


def _check_recipe_parts(trainer: DictConfig) -> None:
    """The optimiser, loss and augmentations that timm provides (trainer=timm_a3 uses them)."""
    if trainer.optimizer != "sgd":
        from timm.optim import list_optimizers

        _choice("trainer.optimizer", trainer.optimizer, ["sgd", *list_optimizers()])
    _choice("trainer.loss", trainer.loss, LOSSES)
    if trainer.bce_target_threshold is not None:
        if trainer.loss != "bce":
            raise ConfigError("trainer.bce_target_threshold", trainer.bce_target_threshold, "needs trainer.loss=bce")
        _range("trainer.bce_target_threshold", trainer.bce_target_threshold, low=0, high=1)
    for key in ("mixup_alpha", "cutmix_alpha"):
        _range(f"trainer.{key}", trainer[key], low=0)
    if trainer.randaugment is not None:
        from timm.data.auto_augment import rand_augment_transform

        try:
            rand_augment_transform(trainer.randaugment, {})
        except (AssertionError, ValueError, KeyError, IndexError) as error:
            raise ConfigError(
                "trainer.randaugment",
                trainer.randaugment,
                f"a timm RandAugment string such as rand-m6-mstd0.5-inc1 ({error or 'not understood'})",
            ) from None
    _choice("trainer.interpolation", trainer.interpolation, INTERPOLATIONS)
    if trainer.train_image_size is not None:
        _positive("trainer.train_image_size", trainer.train_image_size)
    if trainer.eval_crop_pct is not None:
        _range("trainer.eval_crop_pct", trainer.eval_crop_pct, low=0, high=1, low_open=True, high_open=False)


def _check_recipe_fits_data(cfg: DictConfig) -> None:
    """Image-folder augmentations need image files; CIFAR's size is fixed."""
    trainer, data = cfg.trainer, cfg.data
    for key, default in (("randaugment", None), ("eval_crop_pct", None), ("interpolation", "bilinear")):
        if trainer[key] != default and data.name not in IMAGE_FOLDERS:
            allowed = f"only image folders ({', '.join(IMAGE_FOLDERS)}) have it: use {default} with data={data.name}"
            raise ConfigError(f"trainer.{key}", trainer[key], allowed)
    if trainer.randaugment is not None and data.loader == "dali":  # timm's RandAugment works on PIL images
        raise ConfigError("trainer.randaugment", trainer.randaugment, "data.loader=dali has none: use null")
    if trainer.train_image_size is not None and data.name in CIFAR_CLASSES:
        _choice("trainer.train_image_size", trainer.train_image_size, [None, 32])


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value that Hydra's type check lets through but cannot make a
    meaningful run: unknown names, out-of-range numbers, and keys that would be silently ignored."""
    _check_model(cfg)
    _check_data(cfg.data)
    _check_trainer(cfg.trainer)
    _check_recipe_fits_data(cfg)
    _choice("logger.name", cfg.logger.name, LOGGERS)
    _choice("logger.mode", cfg.logger.mode, WANDB_MODES)
    _range("seed", cfg.seed, low=0)
    if not cfg.results_dir:
        raise ConfigError("results_dir", cfg.results_dir, "must not be empty")
    if cfg.exp.row is not None:
        _choice("exp.row", cfg.exp.row, [row.label for row in cfg.exp.rows])
    if cfg.exp.rows:
        _choice("exp.reference", cfg.exp.reference, [PAIRS, *(row.label for row in cfg.exp.rows)])
        _range("exp.margin", cfg.exp.margin, low=0, low_open=True)
        labels = [row.label for row in cfg.exp.rows]
        for index, claim in enumerate(cfg.exp.claims):
            _choice(f"exp.claims[{index}].relation", claim.relation, RELATIONS)
            for label in [*claim.rows, *claim.than]:
                _choice(f"exp.claims[{index}].rows", label, labels)
            if not claim.rows or (not claim.than and claim.relation != "equivalent"):
                raise ConfigError(f"exp.claims[{index}]", claim.says, "rows, and `than` unless the rows are equivalent")


def _override_key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def apply_row(cfg: DictConfig, label: str) -> DictConfig:
    """The config of one experiment row: `cfg` with the row's overrides merged on top.

    Rows mostly set plain config keys, so a row also works on top of any model or dataset chosen
    on the command line, and a row's own keys win over the command line's. A row may also select a
    preset of a config group (`trainer=timm_a3`, a recipe): the config is then composed again from
    `exp.overrides` with the row's choice in place of the command line's, so that the preset
    replaces the group while the keys typed on the command line (`trainer.epochs=1`) still apply.
    """
    _choice("exp.row", label, [row.label for row in cfg.exp.rows])
    row = next(row for row in cfg.exp.rows if row.label == label)
    items = [item.split("=", 1) for item in row.set]
    presets = {key: value for key, value in items if key in PRESET_GROUPS}
    if presets:
        kept = [override for override in cfg.exp.overrides if _override_key(override) not in presets]
        cfg = compose_config([*kept, *(f"{group}={preset}" for group, preset in presets.items())])
    merged = OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{k}={v}" for k, v in items if k not in presets]))
    merged.exp.row = label
    return merged


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The config that `python -m senet_ablate <overrides>` would run, without running it.

    Experiment files compose too; their sweep settings live under `hydra` and are not returned.
    Models registered since import (`senet_ablate.models.register_model`) are options too.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    if GlobalHydra.instance().is_initialized():  # inside a running Hydra app
        cfg = compose("config", overrides=list(overrides))
    else:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
    cfg.exp.overrides = list(overrides)
    return expand_user_paths(cfg)


def expand_user_paths(cfg: DictConfig) -> DictConfig:
    """`cfg` with a leading `~` in `data.root` and `results_dir` made the home directory, as a shell
    would: Hydra cannot read an unquoted `~` in a value, and a quoted one reaches us unexpanded."""
    for key in ("data.root", "results_dir"):
        value = OmegaConf.select(cfg, key)
        if isinstance(value, str) and value.startswith("~"):
            OmegaConf.update(cfg, key, os.path.expanduser(value))
    return cfg


def config_dirs(overrides: Sequence[str] = ()) -> list[Path]:
    """conf/, then the directories a `hydra.searchpath=[file:///...]` override adds (a user's own
    experiment files and presets), in Hydra's order of precedence for groups: ours first."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    dirs = [CONFIG_DIR]
    for override in OverridesParser.create().parse_overrides(
        [o for o in overrides if o.startswith("hydra.searchpath=")]
    ):
        dirs += [Path(entry.removeprefix("file://")) for entry in override.value() if entry.startswith("file://")]
    return dirs


def row_configs(cfg: DictConfig) -> list[DictConfig]:
    """One config per experiment row (in the file's order), or `[cfg]` when no experiment is set."""
    if not cfg.exp.rows:
        return [cfg]
    return [apply_row(cfg, row.label) for row in cfg.exp.rows]


register_configs()
