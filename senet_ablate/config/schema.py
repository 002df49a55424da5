"""The schema every YAML file under conf/ is merged into: one dataclass per config group, each key
documented where it is defined (as in pycls), and the names a key may take.

Hydra checks types against these dataclasses; `checks.py` then checks meaning. The model,
dataset and attention names are not listed here: the model and dataset registries add the
`model=<name>` and `data=<name>` options themselves (`models/registry.py`, `data/registry.py`),
and `models/checks.py` and `data/checks.py` check the keys that depend on them. An attention
block a plugin registers brings its own group (`PLUGIN_GROUPS`, added by `plugins.py`).
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf, open_dict

PAIRS = "pairs"  # exp.reference of the paired tables: each row SE-X against its own X
SQUEEZES = ("avg", "max", "none")
GATES = ("sigmoid", "tanh", "relu")
SCHEDULES = ("step", "multistep", "cosine", "plateau", "onecycle")
FLIPS = ("random", "alternate")
DEVICES = ("auto", "cpu", "cuda")
AMP_DTYPES = ("auto", "bfloat16", "float16")
LOSSES = ("cross_entropy", "bce")
INTERPOLATIONS = ("bilinear", "bicubic")
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
    name: str = "imagenet"  # a registered dataset: senet_ablate.data.DATASETS (`data=<name>` selects it)
    root: str = "data"  # dataset directory, relative to where the command is started
    download: bool = False  # CIFAR and Places-365 only: fetch with torchvision if missing
    num_classes: int = MISSING  # set by each `data=` option; image folders: the number of class folders
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
    # The training images' horizontal flips: random (each image, each epoch, with probability 1/2) |
    # alternate (data.loader=gpu only: each image flipped at random in the first epoch, then on
    # every other epoch, as airbench: every image is seen both ways in any two consecutive epochs).
    flip: str = "random"
    variant: str | None = None  # places365 only: challenge (8M images, the paper's) | standard (1.8M)
    small: bool = False  # places365 only: the 256x256 copies of the images instead of the originals
    skip_corrupt: bool = False  # image folders: skip (and count) unreadable images instead of failing
    # Training augmentation: imagenet (RandomResizedCrop and flip) | cifar (4 px pad, random crop and
    # flip: for small images) | none. Image folders choose; cifar10/100 are `cifar`, synthetic `none`.
    augment: str = "imagenet"
    train_size: int | None = None  # synthetic only (refused otherwise): number of generated training images
    val_size: int | None = None  # synthetic only (refused otherwise): number of generated validation images


@dataclass
class TrainerConfig:
    epochs: int = 100  # training epochs
    batch_size: int = 256  # per step, summed over GPUs (the global batch: independent of world size)
    # Peak lr, used exactly as given. Presets write it as `${linear_lr:base_lr,base_batch,...}` so
    # that changing batch_size (or accumulate_steps) alone rescales it; a typed value replaces that.
    lr: float = 0.1
    momentum: float = 0.9  # SGD momentum, 0 to 1
    nesterov: bool = False  # Nesterov momentum (needs momentum > 0)
    weight_decay: float = 1e-4  # L2 weight decay, >= 0
    # step | multistep | cosine | plateau | onecycle (torch's OneCycleLR, stepped at every optimiser
    # step: linear from lr/10 up to lr over warmup_epochs, then linear down to lr/1e5 at the end)
    schedule: str = "step"
    step_epochs: int = 30  # step: divide the lr by 10 every this many epochs
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # multistep: fractions of epochs
    plateau_patience: int = 10  # plateau: epochs without val-loss progress before lr /10
    plateau_drops: int | None = None  # plateau: at most this many /10 drops (null: no limit)
    warmup_epochs: int = 0  # linear warm-up from lr/10 over this many epochs, before any schedule
    label_smoothing: float = 0.0  # of the cross-entropy's targets, 0 = off
    # Evaluate, checkpoint and report an exponential moving average of the weights and BatchNorm
    # statistics (torch's AveragedModel with get_ema_multi_avg_fn), updated after every optimiser
    # step with this decay; 0: off, the trained weights are evaluated.
    ema_decay: float = 0.0
    # Also evaluate each validation image averaged with its mirror image (flip test-time
    # augmentation): a separate figure, tta_top1_err, never the run's top-1.
    tta_flip: bool = False
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
    train_image_size: int | None = None  # image folders: the training crop size (null: data.image_size)
    eval_crop_pct: float | None = None  # image folders: the evaluation crop fraction (null: 224 / 256)
    interpolation: str = "bilinear"  # image folders: how crops and the evaluation resize are resampled (| bicubic)
    accumulate_steps: int = 1  # gradient accumulation: effective batch = batch_size * this
    amp: bool = True  # mixed precision on CUDA (bf16 where native, else fp16: autocast_dtype); off on CPU
    amp_dtype: str = "auto"  # auto (as above) | bfloat16 | float16 (with a GradScaler, on any GPU)
    # NHWC activations, which the tensor cores' convolutions want; null: on where AMP runs (CUDA),
    # off in full precision (the CPU), decided by for_device before the run id is computed.
    channels_last: bool | None = None
    # Several processes: BatchNorm statistics over the global batch (SyncBatchNorm, CUDA only), so
    # that a run trains and evaluates as on one GPU; off, each GPU normalises over its own slice and
    # evaluation uses rank 0's running statistics, so results depend on the number of GPUs, which is
    # not in the run id (a table whose runs mix numbers says so). null: on on CUDA, off on the CPU
    # (gloo runs: tests), decided by for_device before the run id is computed.
    sync_bn: bool | None = None
    compile: bool = False  # torch.compile the model
    device: str = "auto"  # auto | cpu | cuda
    max_steps_per_epoch: int | None = None  # cap for smoke runs; null = the whole epoch
    # Several processes: how long a collective waits for a missing process before the job fails (a
    # process that hangs would otherwise hold the others for torch's default: 10 min NCCL, 30 min gloo).
    dist_timeout_s: int = 600
    progress: bool = True  # a bar on a terminal, a line per ~10% of an epoch otherwise; false: neither


@dataclass
class LoggerConfig:
    name: str = "none"  # none | wandb
    project: str = "senet-ablate"  # the wandb project
    mode: str = "offline"  # wandb mode (online | offline | disabled): offline unless you have an account


# Config groups a row may select as a whole (`trainer=timm_a3`): the row's config is composed again
# with that choice in place of the command line's, so the keys typed on the command line still win.
PRESET_GROUPS = ("model", "data", "trainer", "logger")


@dataclass
class RowConfig:
    label: str = ""  # the paper's row label, exactly as in paper.yaml
    set: list[str] = field(default_factory=list)  # "key=value" overrides of config keys, or "group=preset"


# How a claim's rows relate to the rows it compares them with (see report/conclusions.py): in top-1
# error, measured over seeds and judged with intervals; or in a counted quantity of the model (its
# params or FLOPs, the same for every seed), which is a fact to check exactly.
RELATIONS = ("better", "worse", "equivalent", "not_worse", "not_better")
COUNTED = ("params_m", "gflops")
COUNT_RELATIONS = ("fewer", "more")


@dataclass
class PaperClaim:
    says: str = ""  # the paper's conclusion in words, as the report prints it
    relation: str = "better"  # of each row of `rows` to each row of `than`: RELATIONS, or COUNT_RELATIONS
    rows: list[str] = field(default_factory=list)
    than: list[str] = field(default_factory=list)  # empty for `equivalent`: the rows, each with each other
    metric: str = "top1_err"  # or one of COUNTED, with a relation of COUNT_RELATIONS


@dataclass
class ExpConfig:
    name: str | None = None  # the experiment file's name (reduction_sweep), set from `+exp=<name>`
    # The paper table this reproduces (a key of paper.yaml); any other name (`mbconv`) for an
    # experiment beyond the paper, whose report has no paper columns.
    table: str | None = None
    row: str | None = None  # the row this job runs; set by the sweep
    rows: list[RowConfig] = field(default_factory=list)
    # The row every other row is compared with (`report/stats.py`; with the claims' pairs, the
    # table's family of comparisons, fixed here before any run): the SE-off row where the file has
    # one, else the paper's standard SE row; `pairs` in the paired tables, where each row SE-X is
    # compared with its own X.
    reference: str | None = None
    # The smallest difference of interest, in top-1 error points: rows within it of the reference
    # are called equivalent (two one-sided tests), and a significant difference within it
    # negligible. 0.2 by default: above ImageNet ResNet-50's seed noise (0.07-0.10 points over 8
    # seeds, NVIDIA's DeepLearningExamples), below most of the paper's ablation differences.
    margin: float = 0.2
    # The paper's conclusions from this table (its section 6), as comparisons between rows: data the
    # report checks on the runs and calls holds / contradicted / unresolved.
    claims: list[PaperClaim] = field(default_factory=list)
    # The overrides the config was composed from (set by compose_config and by the CLI): a row
    # that selects a preset is composed again from them.
    overrides: list[str] = field(default_factory=list)


@dataclass
class SettleConfig:
    # `settle.max_seeds=N` with `+exp=<name>`: a settle sweep (runs/settle.py), seeds in rounds
    # spent only on rows with a comparison still open, read off group-sequential intervals
    # (report/sequential.py); at most N seeds per row. 0: a plain sweep of the typed `seed`.
    max_seeds: int = 0
    # The rounds (looks) declared in advance, equally spaced up to max_seeds; null: as many as keep
    # 2 seeds per look, at most 8.
    looks: int | None = None
    budget_gpu_hours: float | None = None  # stop before a round that would spend more device-hours in all
    # The error spending: Kim-DeMets α·t^rho (3 close to O'Brien-Fleming, 1 to Pocock: more spent
    # early); null: Lan-DeMets' O'Brien-Fleming type.
    rho: float | None = 3.0


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    se: SEConfig = field(default_factory=SEConfig)
    # The block placed by se.* (enabled, position, stages): se (the paper's) | eca | cbam | a plugin's.
    attention: str = "se"
    eca: EcaConfig = field(default_factory=EcaConfig)
    cbam: CbamConfig = field(default_factory=CbamConfig)
    exp: ExpConfig = field(default_factory=ExpConfig)
    settle: SettleConfig = field(default_factory=SettleConfig)
    seed: int = 0  # seeds the data order, augmentations and weights; 0 to 2**32-1
    results_dir: str = "results"  # run records, checkpoints and tables go here
    # The user's own modules, imported before the config is composed, checked or built: each
    # registers blocks, models or datasets with our decorators (config/plugins.py, docs/extending.md).
    plugins: list[str] = field(default_factory=list)


# The config groups of the attention blocks that plugins register (`register_attention(...,
# config=<dataclass>)`, through config/plugins.py): each becomes a top-level group of the schema.
PLUGIN_GROUPS: dict[str, type] = {}


def schema_node() -> Any:
    """The schema as Hydra's `schema` node: `Config`, and each plugin's group beside its own fields."""
    if not PLUGIN_GROUPS:
        return Config
    node = OmegaConf.structured(Config)
    with open_dict(node):
        for group, dataclass in PLUGIN_GROUPS.items():
            node[group] = OmegaConf.structured(dataclass)
    return node


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
    """Put the schema in Hydra's ConfigStore and register the resolvers the YAML files use."""
    ConfigStore.instance().store(name="schema", node=schema_node())
    for name, resolver in (("row_labels", _row_labels), ("linear_lr", linear_lr)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
