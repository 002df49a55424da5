"""What several test files share as plain values and functions: the tiny run's overrides and
the writers of small datasets on disk. `from helpers import TINY, write_cifar`.

Fixtures (per-test state and the slow rule) are in conftest.py, which pytest loads itself;
conftest is not imported by tests: pytest imports it as a plugin, and importing it again as a
module would give a second copy of its fixtures and of its module-level setup. Values used at
module level (parametrize lists, a file's `_cfg` helper) are constants here, not fixtures.
Importable because pytest's default (prepend) import mode puts tests/ on sys.path.
"""

import importlib
import pickle
import sys
from pathlib import Path

import numpy as np
from PIL import Image

# A run the CPU trains in seconds: ResNet-20 under the smoke preset, on generated images, no
# progress bar. A test that needs more (its own sizes, epochs, dataset or preset) adds overrides:
# a later value for a key, or a later choice for a group (`data=imagefolder`), wins.
TINY = ["model=resnet20", "data=synthetic", "trainer=smoke", "trainer.device=cpu", "trainer.progress=false"]
# 64 training images in 2 steps of 32, and one validation batch of 32.
SMALL = ["data.train_size=64", "data.val_size=32", "trainer.batch_size=32"]

CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def write_cifar(root: Path, seed: int = 0, images: int = 20) -> Path:
    """CIFAR-10's python batches under `root`: 5 training files and the test file of `images`
    random images each, labels 0..9. Returns `root`, for `data.root`."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in CIFAR_FILES:
        batch = {
            b"data": rng.integers(0, 256, (images, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, images)),
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
    return root


def write_folder(root: Path, seed: int = 0, per_class: int = 4, classes=("cat", "dog"), suffix: str = "png") -> Path:
    """An image folder (root/{train,val}/<class>/<i>.<suffix>) of random 40x36 images; as BMPs,
    every file has the same size whatever its pixels. Returns `root`."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for label in classes:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(folder / f"{index}.{suffix}")
    return root


# A two-row experiment file (r = 4 against r = 16) for the settle tests, written under
# <tmp>/conf/exp/two_rows.yaml and found through hydra.searchpath.
TWO_ROWS = """# @package _global_
defaults:
  - /sweep: rows
  - override /model: resnet20
  - override /data: synthetic
  - override /trainer: smoke
exp:
  table: two_rows
  reference: "16"
  rows:
    - {label: "4", set: [se.reduction=4]}
    - {label: "16", set: [se.reduction=16]}
"""


SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    """scripts/<name>.py as a module (scripts/ is not a package), loaded with scripts/ first on
    sys.path, as when it runs, so that it can import its siblings."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(SCRIPTS))
