"""Datasets behind one small interface: `build_loaders(cfg, dist, device) -> Loaders`, batches on the
device; `mix_seed`, the per-item seed the trainer draws its batch mixing from; and `auto_loader`,
the loader `data.loader=auto` means on a device. The engine imports this interface only
(import-linter checks it). Importing the package registers every dataset (`datasets.py`).

The loaders are imported at their first use: they import torchvision (1.3 s), which checking a
command line or writing a report does not need.
"""

from senet_ablate.data import datasets  # noqa: F401  (registers the datasets and their data= options)
from senet_ablate.data.registry import DATASETS, DatasetSpec, auto_loader, build_datasets, dataset_fingerprint
from senet_ablate.data.seeds import mix_seed


def __getattr__(name: str):
    if name in ("Loaders", "build_loaders"):
        from senet_ablate.data import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
