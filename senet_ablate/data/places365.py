"""Places-365 (the SE paper's Table 6) in torchvision's on-disk layout, read by us.

torchvision's Places365 checks the md5 of its category and file-list files, so a copy written
by tests (or a subset) cannot pass through it; the layout is plain text, cheap to read:
  <root>/categories_places365.txt           "/a/airfield 0" per line
  <root>/places365_train_<variant>.txt      "/a/airfield/00000001.jpg 0" per line
  <root>/places365_val.txt                  "Places365_val_00000001.jpg 165" per line
  <root>/data_<size>_<variant>/...          training images (size: large | 256)
  <root>/val_<size>/...                     validation images
torchvision still does the download when `data.download=true`. The paper trains on the
challenge variant (8M images); `data.variant=standard` is the 1.8M-image one.
"""

from pathlib import Path

from senet_ablate.base.errors import ConfigError
from senet_ablate.data.facts import PLACES_CLASSES
from senet_ablate.data.imagefolder import Augmentation, CheckedImages, train_eval_transforms


def places_files(root: Path, variant: str, small: bool) -> dict[str, Path]:
    size = "256" if small else "large"
    return {
        "categories": root / "categories_places365.txt",
        "train_list": root / f"places365_train_{variant}.txt",
        "val_list": root / "places365_val.txt",
        "train_images": root / f"data_{size}_{variant}",
        "val_images": root / f"val_{size}",
    }


def download(root: Path, variant: str, small: bool) -> None:
    """torchvision fetches the devkit and both splits' images into `root`."""
    from torchvision.datasets import Places365

    for split in (f"train-{variant}", "val"):
        Places365(str(root), split=split, small=small, download=True)


def read_file_list(list_path: Path, images_dir: Path) -> list[tuple[str, int]]:
    """(image path, class index) per line of a Places file list."""
    samples = []
    for line in list_path.read_text().splitlines():
        name, label = line.split()
        samples.append((str(images_dir / name.lstrip("/")), int(label)))
    return samples


def present_files(root: str, variant: str, small: bool, download_missing: bool) -> dict[str, Path]:
    """The dataset's files (see `places_files`), downloaded by torchvision first if asked and missing."""
    files = places_files(Path(root), variant, small)
    if not all(path.exists() for path in files.values()):
        if not download_missing:
            missing = next(path for path in files.values() if not path.exists())
            raise ConfigError(
                "data.root", root, f"no Places-365 at {missing}: pass data.root=..., or data.download=true"
            )
        download(Path(root), variant, small)
    return files


def places365_datasets(
    root: str, variant: str, small: bool, augmentation: Augmentation, download_missing: bool, skip_corrupt: bool
) -> tuple[CheckedImages, CheckedImages]:
    """Train (RandomResizedCrop, flip, ...) and val (resize, centre crop) sets of uint8 images."""
    files = present_files(root, variant, small, download_missing)
    classes = len(files["categories"].read_text().splitlines())
    if classes != PLACES_CLASSES:
        raise ConfigError("data.root", root, f"{files['categories']} lists {classes} categories, not {PLACES_CLASSES}")
    train_transform, eval_transform = train_eval_transforms(augmentation)
    return (
        CheckedImages(read_file_list(files["train_list"], files["train_images"]), train_transform, skip_corrupt),
        CheckedImages(read_file_list(files["val_list"], files["val_images"]), eval_transform, skip_corrupt),
    )
