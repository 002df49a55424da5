"""ImageNet-style folders: `<root>/train/<class>/*` and `<root>/val/<class>/*`.

Train: RandomResizedCrop(image_size) + flip. Eval: resize the shorter side to
image_size * 256 / 224, centre crop image_size (the paper's 256 -> 224 protocol). A recipe may
change the training crop size, add RandAugment and change the evaluation crop (`Augmentation`).

The classes of a split are its folders, sorted, except hidden ones (a name starting with '.',
such as the `.ipynb_checkpoints` Jupyter leaves behind); its images are the files under them
with one of torchvision's image extensions (`list_splits`). A class folder with no image, a
split with images but no class folders (ImageNet's raw validation layout: the refusal names
`senet_ablate.data.sort_imagenet`, which sorts it), train/val class
folders that differ, a symbolic link to a folder inside a class folder and a file listed twice
in a split are refused as ConfigErrors naming the folders or files.

An unreadable image (truncated, empty, not an image, floating-point pixels) stops the run with
its path named, or, with `data.skip_corrupt=true`, is left out of its batch with a warning
naming it; the trainer counts the images a batch lacks. Greyscale images of 16-bit (or 32-bit)
integers are scaled to 8 bits (see `to_rgb`).
"""

import logging
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image
from torch.utils.data import Dataset, default_collate
from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension, make_dataset
from torchvision.transforms import v2

from senet_ablate.base.errors import ConfigError
from senet_ablate.data.cifar import PAD as CIFAR_PAD
from senet_ablate.data.facts import IMAGENET_MEAN_STD
from senet_ablate.data.sort_imagenet import COMMAND as SORT_COMMAND

log = logging.getLogger(__name__)
SPLITS = ("train", "val")


class CorruptImage(RuntimeError):
    """An image file PIL cannot decode. One string argument, so a DataLoader worker can re-raise it."""


def to_rgb(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB, with integer pixels wider than 8 bits scaled (value / 257: 65535 -> 255).

    PIL's own convert('RGB') clips them instead: a 16-bit greyscale PNG (mode I;16) of true mean
    31 came out 98.8% white. Pillow opens a 16-bit RGB PNG as RGB already (its high bytes). Mode I
    (32-bit) is taken to hold 16-bit values, as Pillow's other 16-bit readers leave them; values
    beyond are clipped. Floating-point pixels (mode F) have no agreed range, so they are refused
    (ValueError) rather than guessed."""
    if image.mode == "F":
        raise ValueError("mode F (floating-point pixels) has no 8-bit scale: convert the file to 8 or 16 bits")
    if image.mode == "I" or image.mode.startswith("I;16"):
        scaled = np.rint(np.asarray(image, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(scaled)  # 2-D uint8: mode L
    return image.convert("RGB")


def load_image(path: str):
    """The RGB image at `path` (`to_rgb`); a decoding failure becomes CorruptImage naming the file.

    Converting decodes the pixels, so a file truncated after a valid header fails here too, not
    later in a transform (ImageFile.LOAD_TRUNCATED_IMAGES stays False). A damaged header can also
    claim an absurd size, which PIL refuses as a decompression bomb."""
    try:
        with Image.open(path) as image:
            return to_rgb(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:  # PIL's "cannot decode"
        raise CorruptImage(
            f"unreadable image {path} ({error}): set data.skip_corrupt=true to skip such images"
        ) from error


class CheckedImages(Dataset):
    """(image path, class index) samples, decoded with `load_image`; an unreadable one fails with
    its path, or with `skip_corrupt` comes out as None (see collate_skipping_none)."""

    def __init__(self, samples: list[tuple[str, int]], transform, skip_corrupt: bool):
        self.samples, self.transform, self.skip_corrupt = samples, transform, skip_corrupt

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        try:
            image = load_image(path)
        except CorruptImage as error:
            if not self.skip_corrupt:
                raise
            log.warning("skipping unreadable image %s (%s)", path, error.__cause__)
            return None
        return self.transform(image), label


def collate_skipping_none(batch: list, side: int):
    """default_collate over the samples that are not None (images skipped by CheckedImageFolder).

    A batch of nothing but skipped images becomes zero images of the split's shape (uint8, 3 x
    `side` x `side`, as the transforms make them) and no labels: under DDP its process must still
    run the model on it (a forward and a backward of nothing), or the others would wait for it in
    their gradient all-reduce forever."""
    kept = [sample for sample in batch if sample is not None]
    if not kept:
        return torch.empty(0, 3, side, side, dtype=torch.uint8), torch.empty(0, dtype=torch.long)
    return default_collate(kept)


def split_dirs(root: str) -> list[Path]:
    """`<root>/train` and `<root>/val`, or a ConfigError saying what is expected."""
    dirs = [Path(root) / split for split in SPLITS]
    for folder in dirs:
        if not folder.is_dir():
            raise ConfigError(
                "data.root", root, f"expected {folder} with one folder per class: pass data.root=... or data=synthetic"
            )
    return dirs


def listed(names: list[str], limit: int = 5) -> str:
    """The first `limit` names, comma-separated, then "and N more": a message stays one line."""
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def split_classes(root: str, split: Path) -> list[str]:
    """The class folder names of `split`, sorted (a class's index is its label, as in ImageFolder).

    Hidden folders are not classes: Jupyter makes `.ipynb_checkpoints` wherever a notebook is
    opened, and torchvision's ImageFolder would take it for a class with no images. A split without
    class folders is refused; one holding its images directly is ImageNet's raw validation layout
    (50,000 JPEGs in one folder, labels in the devkit), which has no labels ImageFolder can read:
    the refusal names the command that sorts it (`sort_imagenet`)."""
    with os.scandir(split) as entries:
        entries = list(entries)
    classes = sorted(entry.name for entry in entries if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        images = sum(entry.is_file() and has_file_allowed_extension(entry.name, IMG_EXTENSIONS) for entry in entries)
        layout = (
            f"{split} holds {images} images but no class folders, like ImageNet's raw validation layout: for "
            f"ImageNet's, run `{SORT_COMMAND} val={split} devkit=<ILSVRC2012_devkit_t12.tar.gz>`; sort others"
            if images
            else f"{split} has no class folders: sort the images"
        )
        raise ConfigError("data.root", root, f"{layout} into one folder per class, {split}/<class>/")
    return classes


def _class_mismatch(train: list[str], val: list[str]) -> str:
    """What differs between the train and val class names, written with ascii() so that names
    which look alike on screen (NFC and NFD spellings of 'Über') show where they differ."""
    only_train, only_val = sorted(set(train) - set(val)), sorted(set(val) - set(train))
    parts = [
        f"only in {split}: {listed([ascii(name) for name in names])}"
        for split, names in (("train", only_train), ("val", only_val))
        if names
    ]
    val_by_nfc = {unicodedata.normalize("NFC", name): name for name in only_val}
    twins = [
        (name, val_by_nfc[nfc]) for name in only_train if (nfc := unicodedata.normalize("NFC", name)) in val_by_nfc
    ]
    if twins:

        def form(name: str) -> str:
            return next((form for form in ("NFC", "NFD") if unicodedata.is_normalized(form, name)), "mixed")

        pairs = listed([f"{ascii(a)} and {ascii(b)} ({form(a)} vs {form(b)})" for a, b in twins])
        parts.append(f"{pairs} differ only in Unicode normalisation: rename one of each pair")
    return "; ".join(parts)


@dataclass(frozen=True)
class SplitListing:
    """One split of an image folder as ImageFolder would see it."""

    folder: Path
    classes: list[str]
    samples: list[tuple[str, int]]  # (image path, class index), in ImageFolder's order


def linked_files(root: str, class_folder: Path) -> set[str]:
    """The symbolic links to files under `class_folder`, at any depth, as make_dataset names them.

    A link to a folder there is a ConfigError naming it: make_dataset follows it, so `ln -s ..
    train/a/up` lists every other class's images as class a's too, and `ln -s . train/a/self`
    each image of a ~40 times (until the path is too long), and a link to / walks the disk. Links
    to image files (common where a dataset is assembled from another copy) are kept."""
    links, folders = set(), [str(class_folder)]
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_symlink() and entry.is_dir():
                    raise ConfigError(
                        "data.root",
                        root,
                        f"{entry.path} is a symbolic link to a folder ({os.readlink(entry.path)}) inside class folder "
                        f"{class_folder}, which would list its images under this class: link the image files, "
                        "or move the folder in",
                    )
                if entry.is_symlink():
                    links.add(entry.path)
                elif entry.is_dir():
                    folders.append(entry.path)
    return links


def check_each_image_once(root: str, listing: SplitListing, links: set[str]) -> None:
    """Refuse a split that lists one file twice, in one class or in two: a link to an image that
    is listed itself, two links to one file, or two class folders linked to one folder. Only links
    are resolved (one stat each), so a split without them costs no system call."""
    class_prefix = [os.path.join(listing.folder, name) for name in listing.classes]
    real_class = [os.path.realpath(folder) for folder in class_prefix]
    first_listed: dict[str, str] = {}
    for path, label in listing.samples:
        real = os.path.realpath(path) if path in links else real_class[label] + path[len(class_prefix[label]) :]
        first = first_listed.setdefault(real, path)
        if first != path:
            raise ConfigError(
                "data.root",
                root,
                f"{first} and {path} are one file ({real}): an image is listed once, in one class folder: "
                "remove the symbolic link that repeats it",
            )


def list_splits(root: str) -> list[SplitListing]:
    """train and val of `root`, listed once for the fingerprint, the DataLoader path and DALI alike.

    The classes come from `split_classes`; the images from torchvision's make_dataset (files with
    an image extension under each class folder, symbolic links to files followed; a link to a
    folder inside a class folder is refused: `linked_files`). Train and val must have the same
    class folders (labels are class indices: val's would silently mean other classes), each class
    folder an image, and no file may be listed twice in a split (`check_each_image_once`): else
    a ConfigError naming them, where torchvision raises FileNotFoundError or lists it twice."""
    folders = split_dirs(root)
    classes = [split_classes(root, folder) for folder in folders]
    if classes[0] != classes[1]:
        raise ConfigError(
            "data.root", root, f"{folders[1]} must have the class folders of {folders[0]}: {_class_mismatch(*classes)}"
        )
    listings = []
    for folder, names in zip(folders, classes, strict=True):
        links = set().union(*(linked_files(root, folder / name) for name in names))
        labels = {name: index for index, name in enumerate(names)}
        samples = make_dataset(str(folder), labels, IMG_EXTENSIONS, allow_empty=True)
        empty = sorted(set(names) - {names[label] for _, label in samples})
        if empty:
            raise ConfigError(
                "data.root",
                root,
                f"class folders with no images: {listed([str(folder / name) for name in empty])} "
                f"(images end in {' '.join(IMG_EXTENSIONS)}): add images or remove the folders",
            )
        listing = SplitListing(folder, names, samples)
        check_each_image_once(root, listing, links)
        listings.append(listing)
    return listings


@dataclass(frozen=True)
class Augmentation:
    """What a recipe asks of image-folder transforms (the `trainer.*` keys of the same names)."""

    image_size: int  # evaluation crop; also the training crop unless train_image_size is set
    train_image_size: int | None = None
    eval_crop_pct: float | None = None  # None: 224 / 256
    randaugment: str | None = None  # timm's RandAugment config string
    interpolation: str = "bilinear"  # or bicubic
    augment: str = "imagenet"  # data.augment: imagenet | cifar | none

    @classmethod
    def from_config(cls, cfg: DictConfig) -> "Augmentation":
        t = cfg.trainer
        return cls(
            cfg.data.image_size, t.train_image_size, t.eval_crop_pct, t.randaugment, t.interpolation, cfg.data.augment
        )


def train_eval_transforms(augmentation: Augmentation) -> tuple[v2.Compose, v2.Compose]:
    """Train and eval transforms from a PIL image to a uint8 tensor; the loader normalises on the
    device. By `data.augment`:
      imagenet  train: RandomResizedCrop, flip; eval: resize the shorter side to image_size /
                crop_pct, centre crop (the paper's protocol);
      cifar     train: the image at image_size (resized and centre-cropped if it is not), padded by
                4 px with zeros, a random image_size crop, flip; eval: the whole image at image_size;
      none      train: the eval transform of imagenet, nothing random.
    timm's RandAugment, when asked, follows the crop; it works on PIL images, as in timm's pipeline."""
    size = augmentation.image_size
    train_size = augmentation.train_image_size or size
    resample = v2.InterpolationMode(augmentation.interpolation)
    crop_pct = augmentation.eval_crop_pct or 224 / 256
    if augmentation.augment == "cifar":
        whole = [v2.Resize(size, interpolation=resample, antialias=True), v2.CenterCrop(size)]
        train, evaluation = [*whole, v2.RandomCrop(size, padding=CIFAR_PAD), v2.RandomHorizontalFlip()], whole
    else:
        resize = v2.Resize(round(size / crop_pct), interpolation=resample, antialias=True)
        evaluation = [resize, v2.CenterCrop(size)]
        train = (
            [v2.RandomResizedCrop(train_size, interpolation=resample, antialias=True), v2.RandomHorizontalFlip()]
            if augmentation.augment == "imagenet"
            else list(evaluation)
        )
    if augmentation.randaugment:
        from timm.data.auto_augment import rand_augment_transform

        mean = tuple(round(255 * channel) for channel in IMAGENET_MEAN_STD[0])
        hparams = {"translate_const": int(train_size * 0.45), "img_mean": mean}  # timm's create_transform's
        train.append(rand_augment_transform(augmentation.randaugment, hparams))
    return v2.Compose([*train, v2.PILToTensor()]), v2.Compose([*evaluation, v2.PILToTensor()])


def imagefolder_datasets(
    root: str, augmentation: Augmentation, num_classes: int, skip_corrupt: bool = False
) -> tuple[CheckedImages, CheckedImages]:
    """Train and val sets of `<root>/{train,val}/<class>/*` (`list_splits`) with
    `train_eval_transforms`, normalised by the loader with IMAGENET_MEAN_STD."""
    train, val = list_splits(root)
    if len(train.classes) != num_classes:
        raise ConfigError("data.num_classes", num_classes, f"{root}/train has {len(train.classes)} class folders")
    train_transform, eval_transform = train_eval_transforms(augmentation)
    return (
        CheckedImages(train.samples, train_transform, skip_corrupt),
        CheckedImages(val.samples, eval_transform, skip_corrupt),
    )
