"""Every validation image's top-1 prediction of a run's final evaluation, kept beside its checkpoint.

A record keeps one top-1 error per run; these files keep what it was computed from, so that a
reviewer can re-analyse a table image by image: the validation set's own noise floor (a per-image
bootstrap, `report/stats.py`), or two rows compared on the same images. Compact: `predictions.npz`
holds `predicted` and `label`, one small integer each per image (100 KB for ImageNet's 50,000),
in the validation set's order when no image was skipped as unreadable.
"""

import zipfile
import zlib
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
    predictions (runs from before they were kept). A file that cannot be used (unreadable,
    truncated, not one integer prediction per label) is a ValueError saying why: in a shared
    results dir it may be anything, and a shorter array would broadcast against the longer one."""
    try:
        saved = np.load(path)  # never unpickles: allow_pickle is off
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot be read ({type(error).__name__}: {error})") from error
    if not isinstance(saved, np.lib.npyio.NpzFile):
        raise ValueError("is not an .npz archive")
    with saved:
        try:
            predicted, label = saved["predicted"], saved["label"]
        except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise ValueError(f"cannot be read ({type(error).__name__}: {error})") from error
    for name, array in (("predicted", predicted), ("label", label)):
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"its {name} is {array.dtype} of shape {array.shape}, not one class index per image")
    if len(predicted) != len(label):
        raise ValueError(f"holds {len(predicted)} predictions for {len(label)} labels")
    return predicted == label
