"""The one place that says what a dataset is: a `DatasetSpec` per name, registered in `datasets.py`
(ours) or in a module of the user's that `plugins=` names (docs/extending.md).

A dataset's classes, image size, the augmentations and loaders it takes, its normalisation, how
it is built and how it is fingerprinted are declared once, as the model registry does for models;
registering also adds the `data=<name>` option to Hydra's config store (its defaults: name, root,
classes, image size, augmentation), and the data checks, `build_loaders`, `dataset_fingerprint`
and the `auto` loader read `DATASETS`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig
from torch.utils.data import Dataset

# Training augmentation (`data.augment`): ImageNet's RandomResizedCrop and flip; CIFAR's 4 px
# pad, random crop and flip (for small images); none.
AUGMENTS = ("imagenet", "cifar", "none")
# How batches reach the device (`data.loader`); `auto` is `auto_loader`'s choice.
LOADERS = ("auto", "gpu", "dataloader", "dali")
# The `data.*` keys that only some datasets take (`DatasetSpec.own_keys`), at the value that means
# "not used", which every other dataset must leave them at.
OWN_KEYS = {"variant": None, "small": False, "train_size": None, "val_size": None}
MeanStd = tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset name, known before any file is read."""

    name: str
    num_classes: int | None  # None: a folder of the user's, whose classes `data.num_classes` states
    image_size: int  # `data.image_size`'s default
    augments: tuple[str, ...]  # the `data.augment` values it takes; the first is its default
    loaders: tuple[str, ...]  # the `data.loader` values it takes besides auto; gpu: held on the device
    build: Callable[[DictConfig], tuple[Dataset, Dataset]]  # the run config -> train and val sets
    fingerprint: Callable[[DictConfig], str]  # `cfg.data` -> what the data is (`fingerprint.py`)
    mean_std: MeanStd | None  # the normalisation of its uint8 images; None: generated floats
    root: str = "data"  # `data.root`'s default
    image_files: bool = False  # read from image files: can skip unreadable ones, takes the crop options
    fixed_classes: bool = False  # its files define `num_classes`, and no other is taken
    fixed_size: bool = False  # its images have one size, `image_size`, and no other is taken
    downloadable: bool = False  # `data.download=true` fetches it
    own_keys: tuple[str, ...] = ()  # `data.*` keys only it takes (OWN_KEYS)
    options: dict = field(default_factory=dict)  # further defaults of its `data=` option


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> None:
    """Add `spec` to DATASETS and `data=<name>` to Hydra's options."""
    if spec.name in DATASETS:
        raise ValueError(f"dataset {spec.name!r} is registered twice")
    DATASETS[spec.name] = spec
    node = {
        "name": spec.name,
        "root": spec.root,
        "num_classes": "???" if spec.num_classes is None else spec.num_classes,
        "image_size": spec.image_size,
        "augment": spec.augments[0],
        **spec.options,
    }
    ConfigStore.instance().store(group="data", name=spec.name, node=node)


def auto_loader(data: DictConfig, device_type: str) -> str:
    """`data.loader`, with `auto` resolved: the device-held loader where the dataset has one and
    the device is CUDA, else DataLoader workers."""
    if data.loader != "auto":
        return data.loader
    return "gpu" if "gpu" in DATASETS[data.name].loaders and device_type == "cuda" else "dataloader"


def dataset_fingerprint(data: DictConfig) -> str:
    """The fingerprint of the `cfg.data` node (see `fingerprint.py`)."""
    return DATASETS[data.name].fingerprint(data)


def build_datasets(cfg: DictConfig) -> tuple[Dataset, Dataset]:
    """Train and val datasets; all but generated data give uint8 images (normalised by the loader)."""
    return DATASETS[cfg.data.name].build(cfg)
