"""The dataset registry is the one declaration of a dataset: its `data=` option, its checks, its
loader choice, its fingerprint and its loading all read the `DatasetSpec`."""

import re
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import TensorDataset

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import CONFIG_DIR, compose_config
from senet_ablate.data import DATASETS, DatasetSpec, auto_loader, build_datasets, build_loaders, dataset_fingerprint
from senet_ablate.runs.checks import check_run
from tests.helpers import SMALL, TINY, write_cifar, write_folder

CPU = torch.device("cpu")


def test_each_registered_dataset_is_a_data_option_holding_its_facts():
    assert not (CONFIG_DIR / "data").exists()  # no YAML file repeats them
    for name, spec in DATASETS.items():
        classes = [] if spec.num_classes else ["data.num_classes=3"]
        data = compose_config([f"data={name}", *classes]).data
        assert (data.name, data.root, data.image_size, data.augment) == (
            name,
            spec.root,
            spec.image_size,
            spec.augments[0],
        )
        assert data.num_classes == (spec.num_classes or 3)
        assert {key: data[key] for key in spec.options} == spec.options


@pytest.mark.parametrize("name", ["cifar10", "imagefolder", "synthetic"])
def test_a_datasets_declared_size_and_classes_are_those_of_the_images_it_loads(tmp_path, name):
    """The spec's image size and classes, against what its builder gives (the CIFAR files written
    here hold labels 0-9; the folder has 2 classes and 40x36 images, resized to 32 by its eval crop)."""
    spec = DATASETS[name]
    if name == "cifar10":
        overrides = ["data=cifar10", f"data.root={write_cifar(tmp_path)}"]
    elif name == "imagefolder":
        overrides = [
            "data=imagefolder",
            f"data.root={write_folder(tmp_path)}",
            "data.num_classes=2",
            "data.image_size=32",
        ]
    else:
        overrides = [*TINY, *SMALL]
    cfg = compose_config(overrides)
    _, val = build_datasets(cfg)
    image, _ = val[0]
    labels = [int(val[index][1]) for index in range(len(val))]
    assert image.shape[-2:] == (cfg.data.image_size, cfg.data.image_size)
    assert max(labels) < cfg.data.num_classes == (spec.num_classes or 2)
    assert image.dtype == (torch.float32 if spec.mean_std is None else torch.uint8)  # the loader normalises uint8


def test_auto_picks_the_device_held_loader_where_the_dataset_declares_one():
    for name, spec in DATASETS.items():
        data = OmegaConf.create({"name": name, "loader": "auto"})
        assert auto_loader(data, "cuda") == ("gpu" if "gpu" in spec.loaders else "dataloader")
        assert auto_loader(data, "cpu") == "dataloader"


def test_a_dataset_added_by_one_registration_is_checked_fingerprinted_and_loaded_from_it(monkeypatch):
    def build(cfg):
        images = torch.rand(12, 3, 8, 8)
        return TensorDataset(images, torch.arange(12) % 3), TensorDataset(images[:6], torch.arange(6) % 3)

    tiny = DatasetSpec(
        "tiny", 3, 8, ("none",), ("dataloader",), build, lambda data: "tiny-v1", mean_std=None, fixed_size=True
    )
    monkeypatch.setitem(DATASETS, "tiny", tiny)
    cfg = compose_config([*TINY, "trainer.batch_size=4"])
    cfg.data.merge_with({"name": "tiny", "num_classes": 3, "image_size": 8, "train_size": None, "val_size": None})
    check_run(cfg)
    assert dataset_fingerprint(cfg.data) == "tiny-v1"
    loaders = build_loaders(cfg, DistributedContext(), CPU)
    loaders.set_epoch(0)
    images, labels = next(iter(loaders.train))
    assert images.shape == (4, 3, 8, 8) and (loaders.train_size, loaders.val_size) == (12, 6)
    for key, value, allowed in [
        ("data.image_size", 16, "choose one of 8"),
        ("data.loader", "gpu", "only cifar10, cifar100 fit on the device"),
        ("data.augment", "cifar", "data=tiny is augmented as none"),
        ("data.cutout", 4, "only cifar10, cifar100 have Cutout"),
        ("data.download", True, "only cifar10, cifar100, places365 can be downloaded"),
        ("data.skip_corrupt", True, "only image folders (imagenet, imagefolder, places365) can skip images"),
        ("data.train_size", 10, "only data=synthetic has it; use null"),
    ]:
        bad = OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{key}={value}"]))
        with pytest.raises(ConfigError, match=re.escape(f"{key}={value!r} is not allowed: {allowed}")):
            check_run(bad)


@pytest.mark.slow
def test_checking_a_command_line_or_writing_a_report_imports_no_torchvision():
    """The registry holds facts only: the loading modules, which import torchvision (1.3 s), are
    imported when data is loaded or fingerprinted."""
    code = (
        "import sys, senet_ablate.__main__, senet_ablate.report.__main__\n"
        "from senet_ablate import compose_config\n"
        "from senet_ablate.runs.checks import check_run\n"
        "for name in ('imagenet', 'cifar10', 'places365'):\n"
        "    check_run(compose_config([f'data={name}']))\n"
        "print('torchvision' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
