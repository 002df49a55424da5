"""What a dataset is, as 16 hex digits that do not depend on where it is stored.

`data.root` is a runtime-only key, so a run's id includes this fingerprint of the data's content
instead: two different datasets under one config are two runs, while the same dataset copied,
moved or mounted elsewhere keeps its id.

What changes a fingerprint:
  imagenet, imagefolder  for train/ and val/ each, the class folder names, and the path (relative
                 to the split folder) and size in bytes of every image ImageFolder loads
                 (`list_splits`: torchvision's image extensions, so a stray .DS_Store or README
                 does not count).
                 Adding, removing or renaming an image or a class, or an image changing size,
                 changes it; an image rewritten to the same size does not.
  cifar10, cifar100  the name and the SHA-256 of each batch file's bytes.
  places365      the SHA-256 of the categories file and of the train and val file lists (every
                 image's name and label), with the variant and image size; the images are
                 not stat-ed (8M of them): an image replaced under the same name keeps it.
  synthetic      `GENERATOR_VERSION` of senet_ablate.data.synthetic; the sizes are config keys,
                 already in the id.

What the cache trusts: an image folder's fingerprint takes a stat of every file (1.28M for
ImageNet), so it is kept per resolved root and reused while train/, val/ and every class folder
keep their names and modification times. Adding, removing or renaming a file changes its
folder's time; rewriting a file in place does not. So while cached, an image rewritten in place
(to any size), a change in a folder nested inside a class folder, or a change within the
timestamp resolution of the file system (1-2 s on FAT or HFS+) keeps the old fingerprint:
delete the cache file to rescan. A CIFAR fingerprint is kept while each batch file keeps its
size and modification time, which any rewrite changes.

The cache is $SENET_ABLATE_CACHE_DIR/fingerprints/ (by default under $XDG_CACHE_HOME/senet_ablate
or ~/.cache/senet_ablate), one JSON file per dataset; one that cannot be read or written only
costs a rescan.
"""

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig

from senet_ablate.atomic import atomic_file
from senet_ablate.data.cifar import batch_files
from senet_ablate.data.imagefolder import SplitListing, list_splits, split_classes, split_dirs
from senet_ablate.data.places365 import present_files
from senet_ablate.data.synthetic import GENERATOR_VERSION

log = logging.getLogger(__name__)
CACHE_VERSION = 2  # bump whenever a fingerprint's definition changes, or cached ones would outlive it


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """$SENET_ABLATE_CACHE_DIR, else senet_ablate/ in the user's cache directory (XDG)."""
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("SENET_ABLATE_CACHE_DIR") or Path(user_cache) / "senet_ablate")


def cached(root: Path, signature: list, compute: Callable[[], str]) -> str:
    """`compute()`, unless the cache entry of `root` was made under the same `signature`.

    The signature is taken by the caller before `compute` runs, so a change during the scan
    leaves a stale signature behind and the next call scans again."""
    key = {"version": CACHE_VERSION, "root": str(root), "signature": signature}
    path = cache_dir() / "fingerprints" / f"{hashlib.sha256(str(root).encode()).hexdigest()[:24]}.json"
    try:
        entry = json.loads(path.read_text())
        if {name: entry[name] for name in key} == key:
            return entry["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no entry yet, or a damaged one: compute again
    fingerprint = compute()
    try:
        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps({**key, "fingerprint": fingerprint}))
    except OSError as error:
        log.debug("cannot cache the fingerprint of %s in %s: %s", root, path, error)
    return fingerprint


def _split_listing(split: SplitListing) -> list:
    """The class names of `split` and, in ImageFolder's order, each image's relative path and size."""
    files = [[Path(path).relative_to(split.folder).as_posix(), os.stat(path).st_size] for path, _ in split.samples]
    return [split.classes, files]


def _folder_signature(root: str) -> list:
    """Names and modification times of the split folders and their class folders: one stat each."""
    signature = []
    for split in split_dirs(root):
        for folder in [split, *(split / name for name in split_classes(root, split))]:
            signature.append([folder.relative_to(split.parent).as_posix(), folder.stat().st_mtime_ns])
    return signature


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cifar_fingerprint(name: str, root: str, download: bool) -> str:
    files = batch_files(name, root, download)
    signature = [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files]
    return cached(
        files[0].parent.resolve(), signature, lambda: _digest([name, [[path.name, _sha256(path)] for path in files]])
    )


def _places_fingerprint(data: DictConfig) -> str:
    files = present_files(data.root, data.variant, data.small, data.download)
    lists = [files[key] for key in ("categories", "train_list", "val_list")]
    signature = [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in lists]
    return cached(
        Path(data.root).resolve() / f"{data.variant}-{'256' if data.small else 'large'}",
        signature,
        lambda: _digest(["places365", data.variant, data.small, [[p.name, _sha256(p)] for p in lists]]),
    )


def _folder_fingerprint(root: str) -> str:
    return cached(
        Path(root).resolve(),
        _folder_signature(root),
        lambda: _digest([[split.folder.name, _split_listing(split)] for split in list_splits(root)]),
    )


def dataset_fingerprint(data: DictConfig) -> str:
    """The fingerprint of the `cfg.data` node (see the module docstring).

    A missing dataset raises the ConfigError that loading it would (CIFAR with
    `data.download=true` is downloaded instead)."""
    if data.name == "synthetic":
        return _digest(["synthetic", GENERATOR_VERSION])
    if data.name in ("cifar10", "cifar100"):
        return _cifar_fingerprint(data.name, data.root, data.download)
    if data.name == "places365":
        return _places_fingerprint(data)
    return _folder_fingerprint(data.root)
