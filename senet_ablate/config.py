"""Structured configs: the schema every YAML file under conf/ is merged into, and its checks.

Hydra validates types against these dataclasses; `check_config` then validates meaning (allowed
names, ranges, model-specific options) and raises `ConfigError` naming key, value and choices.
Each key is documented where it is defined, as in pycls.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from senet_ablate.errors import ConfigError
from senet_ablate.model_specs import ALL_POSITIONS, MODEL_SPECS

CONFIG_DIR = Path(__file__).resolve().parent.parent / "conf"

SQUEEZES = ("avg", "max", "none")
GATES = ("sigmoid", "tanh", "relu")
DATASETS = ("cifar10", "cifar100", "imagenet", "imagefolder", "synthetic")
SCHEDULES = ("step", "multistep", "cosine", "plateau")
DEVICES = ("auto", "cpu", "cuda")
LOGGERS = ("none", "wandb")


@dataclass
class SEConfig:
    enabled: bool = True  # false: the plain network (the paper's baselines)
    squeeze: str = "avg"  # avg | max | none (NoSqueeze: the FCs become 1x1 convs on the full map)
    reduction: int = 16  # r: hidden width is max(1, C // r)
    gate: str = "sigmoid"  # excitation non-linearity: sigmoid | tanh | relu
    position: str = "standard"  # standard | pre | post | identity | 3x3
    stages: Any = "all"  # "all" or a list of stage numbers (2 = conv2_x ...)
    bias: bool = True  # FC biases; the paper's printed params count them


@dataclass
class ModelConfig:
    name: str = "resnet50"  # a key of senet_ablate.model_specs.MODEL_SPECS
    stride_in_1x1: bool | None = None  # ImageNet bottlenecks; null = the model's default
    zero_init_residual: bool = False  # zero the last BN of each residual branch


@dataclass
class DataConfig:
    name: str = "imagenet"  # cifar10 | cifar100 | imagenet | imagefolder | synthetic
    root: str = "data"  # dataset directory, relative to where the command is started
    download: bool = False  # CIFAR only: fetch with torchvision if missing
    num_classes: int = 1000
    image_size: int = 224  # train crop; eval resizes to image_size * 256 / 224 then crops
    num_workers: int = 4
    train_size: int = 2048  # synthetic only: number of generated training images
    val_size: int = 512  # synthetic only: number of generated validation images


@dataclass
class TrainerConfig:
    epochs: int = 100
    batch_size: int = 256  # per step, summed over GPUs
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "step"  # step | multistep | cosine | plateau
    step_epochs: int = 30  # step: divide the lr by 10 every this many epochs
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # multistep: fractions of epochs
    plateau_patience: int = 10  # plateau: epochs without val-loss progress before lr /10
    warmup_epochs: int = 0  # linear warm-up from lr/10
    label_smoothing: float = 0.0
    accumulate_steps: int = 1  # gradient accumulation: effective batch = batch_size * this
    amp: bool = True  # mixed precision on CUDA (bf16 where supported, else fp16); off on CPU
    channels_last: bool = False
    compile: bool = False  # torch.compile the model
    device: str = "auto"  # auto | cpu | cuda
    max_steps_per_epoch: int | None = None  # cap for smoke runs; null = the whole epoch
    progress: bool = True  # tqdm progress bars
    base_batch_size: int | None = None  # if set, lr is for this batch and scales linearly to the effective one


@dataclass
class LoggerConfig:
    name: str = "none"  # none | wandb
    project: str = "senet-ablate"
    mode: str = "offline"  # wandb mode: offline unless you have set up an account


@dataclass
class RowConfig:
    label: str = ""  # the paper's row label, exactly as in paper.yaml
    set: list[str] = field(default_factory=list)  # "key=value" overrides of config keys


@dataclass
class ExpConfig:
    name: str | None = None  # experiment file name, e.g. reduction_sweep
    table: str | None = None  # the paper table this reproduces (a key of paper.yaml)
    row: str | None = None  # the row this job runs; set by the sweep
    rows: list[RowConfig] = field(default_factory=list)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    se: SEConfig = field(default_factory=SEConfig)
    exp: ExpConfig = field(default_factory=ExpConfig)
    seed: int = 0
    results_dir: str = "results"  # run records, checkpoints and tables go here


def _row_labels(rows) -> str:
    """Hydra sweep value listing every row of an experiment file, quoted for the override grammar."""
    return ",".join("'" + str(row["label"]).replace("'", "\\'") + "'" for row in rows)


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore and the `row_labels` resolver used by exp files."""
    ConfigStore.instance().store(name="schema", node=Config)
    if not OmegaConf.has_resolver("row_labels"):
        OmegaConf.register_new_resolver("row_labels", _row_labels)


def _choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(key, value, "choose one of " + ", ".join(map(str, allowed)))


def _positive(key: str, value) -> None:
    if value is None or value <= 0:
        raise ConfigError(key, value, "must be > 0")


def se_stages(cfg: DictConfig) -> tuple[int, ...]:
    """The stages that get SE blocks, after resolving "all" against the model."""
    spec = MODEL_SPECS[cfg.model.name]
    stages = cfg.se.stages
    if isinstance(stages, str):
        _choice("se.stages", stages, ["all", "a list such as [2, 3]"])
        return spec.stages
    if isinstance(stages, int):
        stages = [stages]
    for stage in stages:
        if stage not in spec.stages:
            raise ConfigError("se.stages", list(stages), f"{cfg.model.name} has stages {list(spec.stages)} or 'all'")
    return tuple(sorted(set(stages)))


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value that Hydra's type check lets through but we cannot run."""
    _choice("model.name", cfg.model.name, sorted(MODEL_SPECS))
    spec = MODEL_SPECS[cfg.model.name]
    if cfg.model.stride_in_1x1 is not None and spec.stride_in_1x1 is None:
        raise ConfigError(
            "model.stride_in_1x1", cfg.model.stride_in_1x1, f"{cfg.model.name} has no such choice; use null"
        )
    _choice("se.squeeze", cfg.se.squeeze, SQUEEZES)
    _choice("se.gate", cfg.se.gate, GATES)
    _choice("se.position", cfg.se.position, ALL_POSITIONS)
    if cfg.se.position not in spec.positions:
        raise ConfigError("se.position", cfg.se.position, f"{cfg.model.name} supports {', '.join(spec.positions)}")
    _positive("se.reduction", cfg.se.reduction)
    se_stages(cfg)
    _choice("data.name", cfg.data.name, DATASETS)
    if OmegaConf.is_missing(cfg.data, "num_classes"):
        raise ConfigError("data.num_classes", "???", f"set the number of classes of {cfg.data.name}")
    _positive("data.num_classes", cfg.data.num_classes)
    _positive("data.image_size", cfg.data.image_size)
    for key in ("epochs", "batch_size", "lr", "accumulate_steps"):
        _positive(f"trainer.{key}", cfg.trainer[key])
    _choice("trainer.schedule", cfg.trainer.schedule, SCHEDULES)
    _choice("trainer.device", cfg.trainer.device, DEVICES)
    _choice("logger.name", cfg.logger.name, LOGGERS)
    if cfg.exp.row is not None:
        _choice("exp.row", cfg.exp.row, [row.label for row in cfg.exp.rows])


def apply_row(cfg: DictConfig, label: str) -> DictConfig:
    """The config of one experiment row: `cfg` with the row's overrides merged on top.

    Rows set plain config keys (not config groups), so a row also works on top of any model or
    dataset chosen on the command line; a row's own keys win over the command line's.
    """
    _choice("exp.row", label, [row.label for row in cfg.exp.rows])
    row = next(row for row in cfg.exp.rows if row.label == label)
    merged = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(row.set)))
    merged.exp.row = label
    return merged


def compose_config(overrides: list[str] | tuple[str, ...] = ()) -> DictConfig:
    """The config that `python -m senet_ablate <overrides>` would run, without running it.

    Experiment files compose too; their sweep settings live under `hydra` and are not returned.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # inside a running Hydra app
        return compose("config", overrides=list(overrides))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def row_configs(cfg: DictConfig) -> list[DictConfig]:
    """One config per experiment row (in the file's order), or `[cfg]` when no experiment is set."""
    if not cfg.exp.rows:
        return [cfg]
    return [apply_row(cfg, row.label) for row in cfg.exp.rows]


register_configs()
