"""Datasets behind one small interface: `build_loaders(cfg, dist, device) -> Loaders`, batches on the
device; `mix_seed`, the per-item seed the trainer draws its batch mixing from; and `auto_loader`,
the loader `data.loader=auto` means on a device. The engine imports this interface only
(import-linter checks it). Importing the package registers every dataset (`datasets.py`)."""

from senet_ablate.data import datasets  # noqa: F401  (registers the datasets and their data= options)
from senet_ablate.data.build import Loaders, build_loaders
from senet_ablate.data.registry import DATASETS, DatasetSpec, auto_loader, build_datasets, dataset_fingerprint
from senet_ablate.data.seeds import mix_seed

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "Loaders",
    "auto_loader",
    "build_datasets",
    "build_loaders",
    "dataset_fingerprint",
    "mix_seed",
]
