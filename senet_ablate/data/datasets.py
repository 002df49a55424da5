"""Every dataset the runs can train on, one `DatasetSpec` each (see `registry.py` for the fields).

Importing this module registers them, with their `data=<name>` options. The builders below
adapt the run config to each dataset module's loader.
"""

from omegaconf import DictConfig

from senet_ablate.data.cifar import MEAN_STD as CIFAR_MEAN_STD
from senet_ablate.data.cifar import cifar_datasets
from senet_ablate.data.fingerprint import (
    cifar_fingerprint,
    folder_fingerprint,
    places_fingerprint,
    synthetic_fingerprint,
)
from senet_ablate.data.imagefolder import IMAGENET_MEAN_STD, Augmentation, imagefolder_datasets
from senet_ablate.data.places365 import NUM_CLASSES as PLACES_CLASSES
from senet_ablate.data.places365 import places365_datasets
from senet_ablate.data.registry import DatasetSpec, register_dataset
from senet_ablate.data.synthetic import make_synthetic


def _synthetic(cfg: DictConfig):
    """Generated at the recipe's training size, evaluated at data.image_size."""
    data = cfg.data
    train_size = cfg.trainer.train_image_size or data.image_size
    return (
        make_synthetic("train", data.train_size, data.num_classes, train_size),
        make_synthetic("val", data.val_size, data.num_classes, data.image_size),
    )


def _cifar(cfg: DictConfig):
    return cifar_datasets(cfg.data.name, cfg.data.root, cfg.data.download)


def _folder(cfg: DictConfig):
    data = cfg.data
    return imagefolder_datasets(data.root, Augmentation.from_config(cfg), data.num_classes, data.skip_corrupt)


def _places(cfg: DictConfig):
    data, augmentation = cfg.data, Augmentation.from_config(cfg)
    return places365_datasets(data.root, data.variant, data.small, augmentation, data.download, data.skip_corrupt)


IMAGE_FOLDER = dict(
    augments=("imagenet", "cifar", "none"), loaders=("dataloader", "dali"), mean_std=IMAGENET_MEAN_STD, image_files=True
)
CIFAR = dict(
    image_size=32,
    augments=("cifar",),
    loaders=("dataloader", "gpu"),
    build=_cifar,
    fingerprint=cifar_fingerprint,
    fixed_classes=True,
    fixed_size=True,
    downloadable=True,
)

for spec in (
    # Generated, seeded, learnable images (class-dependent patterns); no files needed. The images are
    # generated into memory, so loader workers would only copy them.
    DatasetSpec(
        "synthetic",
        num_classes=10,
        image_size=32,
        augments=("none",),
        loaders=("dataloader",),
        build=_synthetic,
        fingerprint=synthetic_fingerprint,
        mean_std=None,
        root="",
        own_keys=("train_size", "val_size"),
        options={"num_workers": 0, "train_size": 2048, "val_size": 512},
    ),
    # CIFAR-10/100 in torchvision's layout (<root>/cifar-10-batches-py, <root>/cifar-100-python).
    DatasetSpec("cifar10", 10, **CIFAR, mean_std=CIFAR_MEAN_STD["cifar10"]),
    DatasetSpec("cifar100", 100, **CIFAR, mean_std=CIFAR_MEAN_STD["cifar100"]),
    # ImageNet-1k as two folders of class folders: <root>/train and <root>/val.
    DatasetSpec(
        "imagenet", 1000, 224, **IMAGE_FOLDER, build=_folder, fingerprint=folder_fingerprint, root="data/imagenet"
    ),
    # Any dataset laid out as <root>/{train,val}/<class>/<image>; set data.root and data.num_classes.
    DatasetSpec("imagefolder", None, 224, **IMAGE_FOLDER, build=_folder, fingerprint=folder_fingerprint),
    # Places-365 in torchvision's layout (see places365.py); the paper's Table 6 trains on the
    # challenge variant.
    DatasetSpec(
        "places365",
        PLACES_CLASSES,
        224,
        **IMAGE_FOLDER,
        build=_places,
        fingerprint=places_fingerprint,
        root="data/places365",
        fixed_classes=True,
        downloadable=True,
        own_keys=("variant", "small"),
        options={"variant": "challenge"},
    ),
):
    register_dataset(spec)
