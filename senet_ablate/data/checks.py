"""The config keys whose meaning depends on the dataset: its classes, image size, augmentations,
loaders and own keys, and the recipe options that need image files. They read the dataset
registry, which the config must not import (config is the package's leaf), so they live here; the
commands run them with `check_config` and the model's checks before anything runs.
"""

from omegaconf import DictConfig, OmegaConf

from senet_ablate.base.errors import ConfigError
from senet_ablate.config.checks import choice, positive, within
from senet_ablate.config.schema import FLIPS
from senet_ablate.data.facts import PLACES_VARIANTS
from senet_ablate.data.registry import AUGMENTS, DATASETS, LOADERS, OWN_KEYS, DatasetSpec


def _names(has) -> str:
    """The registered datasets that `has` (spec -> bool) holds for, listed for a message."""
    return ", ".join(name for name, spec in DATASETS.items() if has(spec))


def check_data(cfg: DictConfig) -> None:
    """Raise ConfigError for the first `data.*` value the chosen dataset cannot take, or a recipe
    option it would silently ignore."""
    data = cfg.data
    choice("data.name", data.name, sorted(DATASETS))
    spec = DATASETS[data.name]
    if OmegaConf.is_missing(data, "num_classes"):
        raise ConfigError("data.num_classes", "???", f"set the number of classes of {data.name}")
    positive("data.num_classes", data.num_classes)
    positive("data.image_size", data.image_size)
    if spec.fixed_classes:
        choice("data.num_classes", data.num_classes, [spec.num_classes])
    if spec.fixed_size:
        choice("data.image_size", data.image_size, [spec.image_size])
    if data.download and not spec.downloadable:
        allowed = f"only {_names(lambda s: s.downloadable)} can be downloaded; put {data.name} in data.root"
        raise ConfigError("data.download", True, allowed)
    for key, unused in OWN_KEYS.items():
        if key not in spec.own_keys and data[key] != unused:
            owner = _names(lambda s, key=key: key in s.own_keys)
            off = "null" if unused is None else str(unused).lower()
            raise ConfigError(f"data.{key}", data[key], f"only data={owner} has it; use {off}")
    if "variant" in spec.own_keys:
        choice("data.variant", data.variant, PLACES_VARIANTS)
    for key in ("train_size", "val_size"):
        if key in spec.own_keys:
            positive(f"data.{key}", data[key])
    if data.num_workers is not None:
        within("data.num_workers", data.num_workers, low=0)
    _check_augment_and_loader(data, spec)
    _check_recipe_fits_data(cfg.trainer, data, spec)


def _check_augment_and_loader(data: DictConfig, spec: DatasetSpec) -> None:
    choice("data.augment", data.augment, AUGMENTS)
    if data.augment not in spec.augments:
        allowed = f"data={data.name} is augmented as {spec.augments[0]} (image folders choose): use {spec.augments[0]}"
        raise ConfigError("data.augment", data.augment, allowed)
    choice("data.loader", data.loader, LOADERS)
    if data.loader != "auto" and data.loader not in spec.loaders:
        allowed = {
            "gpu": f"only {_names(lambda s: 'gpu' in s.loaders)} fit on the device: use dataloader",
            "dali": f"only image folders ({_names(lambda s: 'dali' in s.loaders)}): use auto",
        }.get(data.loader, f"data={data.name} loads through {', '.join(spec.loaders)}: use auto")
        raise ConfigError("data.loader", data.loader, allowed)
    if data.loader == "dali":
        if data.skip_corrupt:
            raise ConfigError("data.skip_corrupt", True, "data.loader=dali cannot skip images: use dataloader")
        if data.augment != "imagenet":
            raise ConfigError(
                "data.augment", data.augment, "data.loader=dali augments as imagenet only: use dataloader"
            )
    if data.cutout and spec.augments != ("cifar",):
        allowed = f"only {_names(lambda s: s.augments == ('cifar',))} have Cutout: use 0"
        raise ConfigError("data.cutout", data.cutout, allowed)
    within("data.cutout", data.cutout, low=0, high=data.image_size, high_open=False)
    choice("data.flip", data.flip, FLIPS)
    if data.flip == "alternate" and data.loader != "gpu":
        raise ConfigError(
            "data.flip", data.flip, "alternate flips are drawn by data.loader=gpu only: set it, or random"
        )
    if data.skip_corrupt and not spec.image_files:
        raise ConfigError("data.skip_corrupt", True, f"only image folders ({_image_folders()}) can skip images")


def _image_folders() -> str:
    return _names(lambda s: s.image_files)


def _check_recipe_fits_data(trainer: DictConfig, data: DictConfig, spec: DatasetSpec) -> None:
    """Image-folder augmentations need image files; a fixed image size stays fixed."""
    for key, default in (("randaugment", None), ("eval_crop_pct", None), ("interpolation", "bilinear")):
        if trainer[key] != default and not spec.image_files:
            allowed = f"only image folders ({_image_folders()}) have it: use {default} with data={data.name}"
            raise ConfigError(f"trainer.{key}", trainer[key], allowed)
    if trainer.randaugment is not None and data.loader == "dali":  # timm's RandAugment works on PIL images
        raise ConfigError("trainer.randaugment", trainer.randaugment, "data.loader=dali has none: use null")
    if trainer.train_image_size is not None and spec.fixed_size:
        choice("trainer.train_image_size", trainer.train_image_size, [None, spec.image_size])
    if spec.image_files and data.augment == "cifar":  # CIFAR's protocol: one size, the whole image
        for key in ("train_image_size", "eval_crop_pct"):
            if trainer[key] is not None:
                why = "data.augment=cifar trains and evaluates whole images at data.image_size: use null"
                raise ConfigError(f"trainer.{key}", trainer[key], why)
