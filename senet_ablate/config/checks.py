"""The config's meaning, checked before anything runs: allowed names, ranges, and keys that would be
silently ignored. Each refusal is a ConfigError naming the key, the value and what is allowed.
The checks that depend on the model (its stages, SE positions, attention) are `models/checks.py`.
"""

from omegaconf import DictConfig, OmegaConf

from senet_ablate.base.errors import ConfigError
from senet_ablate.config.schema import (
    AMP_DTYPES,
    AUGMENTS,
    CIFAR_CLASSES,
    COUNT_RELATIONS,
    COUNTED,
    DATASETS,
    DEVICES,
    IMAGE_FOLDERS,
    INTERPOLATIONS,
    LOADERS,
    LOGGERS,
    LOSSES,
    PAIRS,
    PLACES_VARIANTS,
    RELATIONS,
    SCHEDULES,
    WANDB_MODES,
)


def choice(key: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(key, value, "choose one of " + ", ".join(map(str, allowed)))


def within(key: str, value, low=None, high=None, low_open=False, high_open=True) -> None:
    """`value` must lie in the interval; the message states it the way a reader would write it."""
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if value is None or too_low or too_high:
        left = "" if low is None else f"{low} {'<' if low_open else '<='} "
        right = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ConfigError(key, value, f"must be {left}{key.rsplit('.', 1)[-1]}{right}")


def positive(key: str, value) -> None:
    if value is None or value <= 0:
        raise ConfigError(key, value, "must be > 0")


def _check_data(data: DictConfig) -> None:
    choice("data.name", data.name, DATASETS)
    if OmegaConf.is_missing(data, "num_classes"):
        raise ConfigError("data.num_classes", "???", f"set the number of classes of {data.name}")
    positive("data.num_classes", data.num_classes)
    positive("data.image_size", data.image_size)
    if data.name in CIFAR_CLASSES:
        choice("data.num_classes", data.num_classes, [CIFAR_CLASSES[data.name]])
        choice("data.image_size", data.image_size, [32])
    elif data.download and data.name != "places365":
        raise ConfigError(
            "data.download", True, f"only CIFAR and Places-365 can be downloaded; put {data.name} in data.root"
        )
    if data.name == "places365":
        choice("data.num_classes", data.num_classes, [365])
        choice("data.variant", data.variant, PLACES_VARIANTS)
    elif data.variant is not None or data.small:
        key, value = ("data.variant", data.variant) if data.variant is not None else ("data.small", True)
        raise ConfigError(key, value, "only data=places365 has variants and small images")
    if data.num_workers is not None:
        within("data.num_workers", data.num_workers, low=0)
    for key in ("train_size", "val_size"):
        if data.name == "synthetic":
            positive(f"data.{key}", data[key])
        elif data[key] is not None:
            raise ConfigError(f"data.{key}", data[key], "only data=synthetic has a size to set; use null")
    choice("data.augment", data.augment, AUGMENTS)
    fixed = {**dict.fromkeys(CIFAR_CLASSES, "cifar"), "synthetic": "none"}  # datasets with one augmentation
    if data.name in fixed and data.augment != fixed[data.name]:
        allowed = f"data={data.name} is augmented as {fixed[data.name]} (image folders choose): use {fixed[data.name]}"
        raise ConfigError("data.augment", data.augment, allowed)
    choice("data.loader", data.loader, LOADERS)
    if data.loader == "gpu" and data.name not in CIFAR_CLASSES:
        raise ConfigError("data.loader", "gpu", f"only {', '.join(CIFAR_CLASSES)} fit on the device: use dataloader")
    if data.loader == "dali":
        if data.name not in IMAGE_FOLDERS:
            raise ConfigError("data.loader", "dali", f"only image folders ({', '.join(IMAGE_FOLDERS)}): use auto")
        if data.skip_corrupt:
            raise ConfigError("data.skip_corrupt", True, "data.loader=dali cannot skip images: use dataloader")
        if data.augment != "imagenet":
            raise ConfigError(
                "data.augment", data.augment, "data.loader=dali augments as imagenet only: use dataloader"
            )
    if data.cutout and data.name not in CIFAR_CLASSES:
        raise ConfigError("data.cutout", data.cutout, f"only {', '.join(CIFAR_CLASSES)} have Cutout: use 0")
    within("data.cutout", data.cutout, low=0, high=data.image_size, high_open=False)
    if data.skip_corrupt and data.name not in IMAGE_FOLDERS:
        raise ConfigError("data.skip_corrupt", True, f"only image folders ({', '.join(IMAGE_FOLDERS)}) can skip images")


def _check_trainer(trainer: DictConfig) -> None:
    for key in ("epochs", "batch_size", "accumulate_steps"):
        positive(f"trainer.{key}", trainer[key])
    positive("trainer.lr", trainer.lr)
    within("trainer.momentum", trainer.momentum, low=0, high=1)
    if trainer.nesterov and trainer.momentum == 0:
        raise ConfigError("trainer.nesterov", True, "needs trainer.momentum > 0")
    within("trainer.weight_decay", trainer.weight_decay, low=0)
    choice("trainer.schedule", trainer.schedule, SCHEDULES)
    positive("trainer.step_epochs", trainer.step_epochs)
    milestones = list(trainer.milestones)
    if not milestones or milestones != sorted(set(milestones)):
        raise ConfigError("trainer.milestones", milestones, "a non-empty increasing list of fractions of the epochs")
    for fraction in milestones:
        within("trainer.milestones", fraction, low=0, high=1, low_open=True, high_open=False)
    within("trainer.plateau_patience", trainer.plateau_patience, low=0)
    if trainer.plateau_drops is not None:
        within("trainer.plateau_drops", trainer.plateau_drops, low=0)
    within("trainer.warmup_epochs", trainer.warmup_epochs, low=0, high=trainer.epochs)
    within("trainer.label_smoothing", trainer.label_smoothing, low=0, high=1)
    _check_recipe_parts(trainer)
    choice("trainer.device", trainer.device, DEVICES)
    choice("trainer.amp_dtype", trainer.amp_dtype, AMP_DTYPES)
    if trainer.max_steps_per_epoch is not None:
        positive("trainer.max_steps_per_epoch", trainer.max_steps_per_epoch)


def _check_recipe_parts(trainer: DictConfig) -> None:
    """The optimiser, loss and augmentations that timm provides (trainer=timm_a3 uses them)."""
    if trainer.optimizer != "sgd":
        from timm.optim import list_optimizers

        choice("trainer.optimizer", trainer.optimizer, ["sgd", *list_optimizers()])
    choice("trainer.loss", trainer.loss, LOSSES)
    if trainer.bce_target_threshold is not None:
        if trainer.loss != "bce":
            raise ConfigError("trainer.bce_target_threshold", trainer.bce_target_threshold, "needs trainer.loss=bce")
        within("trainer.bce_target_threshold", trainer.bce_target_threshold, low=0, high=1)
    for key in ("mixup_alpha", "cutmix_alpha"):
        within(f"trainer.{key}", trainer[key], low=0)
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
    choice("trainer.interpolation", trainer.interpolation, INTERPOLATIONS)
    if trainer.train_image_size is not None:
        positive("trainer.train_image_size", trainer.train_image_size)
    if trainer.eval_crop_pct is not None:
        within("trainer.eval_crop_pct", trainer.eval_crop_pct, low=0, high=1, low_open=True, high_open=False)


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
        choice("trainer.train_image_size", trainer.train_image_size, [None, 32])
    if data.name in IMAGE_FOLDERS and data.augment == "cifar":  # CIFAR's protocol: one size, the whole image
        for key in ("train_image_size", "eval_crop_pct"):
            if trainer[key] is not None:
                why = "data.augment=cifar trains and evaluates whole images at data.image_size: use null"
                raise ConfigError(f"trainer.{key}", trainer[key], why)


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value that Hydra's type check lets through but cannot make a
    meaningful run: unknown names, out-of-range numbers, and keys that would be silently ignored.
    The model's own keys are `models.checks.check_model`'s (build_model calls both)."""
    _check_data(cfg.data)
    _check_trainer(cfg.trainer)
    _check_recipe_fits_data(cfg)
    choice("logger.name", cfg.logger.name, LOGGERS)
    choice("logger.mode", cfg.logger.mode, WANDB_MODES)
    within("seed", cfg.seed, low=0)
    if not cfg.results_dir:
        raise ConfigError("results_dir", cfg.results_dir, "must not be empty")
    if cfg.exp.row is not None:
        choice("exp.row", cfg.exp.row, [row.label for row in cfg.exp.rows])
    if cfg.exp.rows:
        choice("exp.reference", cfg.exp.reference, [PAIRS, *(row.label for row in cfg.exp.rows)])
        within("exp.margin", cfg.exp.margin, low=0, low_open=True)
        labels = [row.label for row in cfg.exp.rows]
        for index, claim in enumerate(cfg.exp.claims):
            choice(f"exp.claims[{index}].metric", claim.metric, ["top1_err", *COUNTED])
            relations = RELATIONS if claim.metric == "top1_err" else COUNT_RELATIONS
            choice(f"exp.claims[{index}].relation", claim.relation, relations)
            for label in [*claim.rows, *claim.than]:
                choice(f"exp.claims[{index}].rows", label, labels)
            if not claim.rows or (not claim.than and claim.relation != "equivalent"):
                raise ConfigError(f"exp.claims[{index}]", claim.says, "rows, and `than` unless the rows are equivalent")
