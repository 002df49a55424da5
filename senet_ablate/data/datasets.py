"""Every dataset the runs can train on, one `DatasetSpec` each (see `registry.py` for the fields).

Importing this module registers them, with their `data=<name>` options. It imports none of the
loading modules: they import torchvision (1.3 s), which checking a command line or writing a
report does not need, so the builders and fingerprints below import theirs when called.
"""

from dataclasses import replace

from omegaconf import DictConfig

from senet_ablate.data.facts import CIFAR_MEAN_STD, IMAGENET_MEAN_STD, PLACES_CLASSES, PLACES_VARIANTS
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
    from senet_ablate.data.cifar import cifar_datasets

    return cifar_datasets(cfg.data.name, cfg.data.root, cfg.data.download)


def _folder(cfg: DictConfig):
    from senet_ablate.data.imagefolder import Augmentation, imagefolder_datasets

    data = cfg.data
    return imagefolder_datasets(data.root, Augmentation.from_config(cfg), data.num_classes, data.skip_corrupt)


def _places(cfg: DictConfig):
    from senet_ablate.data.imagefolder import Augmentation
    from senet_ablate.data.places365 import places365_datasets

    data, augmentation = cfg.data, Augmentation.from_config(cfg)
    return places365_datasets(data.root, data.variant, data.small, augmentation, data.download, data.skip_corrupt)


def _fingerprint(name: str):
    """`fingerprint.<name>`, imported at the first fingerprint (it reads the loading modules)."""

    def fingerprint(data: DictConfig) -> str:
        from senet_ablate.data import fingerprint

        return getattr(fingerprint, name)(data)

    return fingerprint


CIFAR10 = DatasetSpec(
    "cifar10",  # CIFAR-10/100 in torchvision's layout (<root>/cifar-10-batches-py, <root>/cifar-100-python)
    num_classes=10,
    image_size=32,
    augments=("cifar",),
    loaders=("dataloader", "gpu"),
    build=_cifar,
    fingerprint=_fingerprint("cifar_fingerprint"),
    mean_std=CIFAR_MEAN_STD["cifar10"],
    fixed_classes=True,
    fixed_size=True,
    downloadable=True,
)
IMAGENET = DatasetSpec(
    "imagenet",  # ImageNet-1k as two folders of class folders: <root>/train and <root>/val
    num_classes=1000,
    image_size=224,
    augments=("imagenet", "cifar", "none"),
    loaders=("dataloader", "dali"),
    build=_folder,
    fingerprint=_fingerprint("folder_fingerprint"),
    mean_std=IMAGENET_MEAN_STD,
    root="data/imagenet",
    image_files=True,
)

for spec in (
    DatasetSpec(
        "synthetic",  # generated, seeded, learnable images (class-dependent patterns); no files
        num_classes=10,
        image_size=32,
        augments=("none",),
        loaders=("dataloader",),
        build=_synthetic,
        fingerprint=_fingerprint("synthetic_fingerprint"),
        mean_std=None,
        root="",
        own_keys=("train_size", "val_size"),
        options={"num_workers": 0, "train_size": 2048, "val_size": 512},  # in memory: workers would only copy
    ),
    CIFAR10,
    replace(CIFAR10, name="cifar100", num_classes=100, mean_std=CIFAR_MEAN_STD["cifar100"]),
    IMAGENET,
    # any dataset laid out as <root>/{train,val}/<class>/<image>; data.root and data.num_classes say which
    replace(IMAGENET, name="imagefolder", num_classes=None, root="data"),
    replace(  # Places-365 in torchvision's layout (places365.py); the paper's Table 6 trains on `challenge`
        IMAGENET,
        name="places365",
        num_classes=PLACES_CLASSES,
        build=_places,
        fingerprint=_fingerprint("places_fingerprint"),
        root="data/places365",
        fixed_classes=True,
        downloadable=True,
        own_keys=("variant", "small"),
        options={"variant": PLACES_VARIANTS[0]},
    ),
):
    register_dataset(spec)
