"""Every validation image's top-1 prediction of a run's final evaluation, kept beside its checkpoint.

A record keeps one top-1 error per run; these files keep what it was computed from, so that a
reviewer can re-analyse a table image by image: the validation set's own noise floor (a per-image
bootstrap, `report/stats.py`), or two rows compared on the same images. Compact: `predictions.npz`
holds `predicted` and `label`, one small integer each per image (100 KB for ImageNet's 50,000),
in the validation set's order when no image was skipped as unreadable.
"""

from pathlib import Path

import numpy as np
import torch

from senet_ablate.base.atomic import atomic_file

PREDICTIONS_FILE = "predictions.npz"


def _compact(values: torch.Tensor) -> np.ndarray:
    """The smallest integer dtype that holds every class index (int16 up to 32,767 classes)."""
    array = values.numpy()
    return array.astype(np.int16 if array.size == 0 or array.max() < 2**15 else np.int32)


def save_predictions(path: Path, predicted: torch.Tensor, label: torch.Tensor) -> None:
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as file:  # a file object: np.savez would append `.npz` to a bare path
            np.savez_compressed(file, predicted=_compact(predicted), label=_compact(label))


def load_correct(path: Path) -> np.ndarray | None:
    """Whether each validation image was classified right (top-1), or None if the run kept no
    predictions (runs from before they were kept) or the file cannot be read."""
    try:
        with np.load(path) as saved:
            return saved["predicted"] == saved["label"]
    except (OSError, KeyError, ValueError):
        return None
