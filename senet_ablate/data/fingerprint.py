"""What a dataset is, as 16 hex digits that do not depend on where it is stored.

`data.root` is a runtime-only key, so a run's id includes this fingerprint of the data's content
instead: two different datasets under one config are two runs, while the same dataset copied,
moved or mounted elsewhere keeps its id.

What changes a fingerprint:
  imagenet, imagefolder  for train/ and val/ each, the class folder names, and the path (relative
                 to the split folder) and SHA-256 of the bytes of every image ImageFolder loads
                 (`list_splits`: torchvision's image extensions, so a stray .DS_Store or README
                 does not count). Adding, removing, renaming or changing any image, or a class,
                 changes it, whatever the sizes.
  cifar10, cifar100  the name and the SHA-256 of each batch file's bytes.
  places365      the SHA-256 of the categories file and of the train and val file lists (every
                 image's name and label), with the variant and image size, and the SHA-256 of
                 every image the lists name; a listed image that is missing is a ConfigError.
  synthetic      `GENERATOR_VERSION` of senet_ablate.data.synthetic; the sizes are config keys,
                 already in the id.

What the cache trusts: each file's SHA-256 is cached with its size and modification time (ns),
one cache file per folder whose files are hashed (a split folder, Places' train or val image
folder, CIFAR's batch folder; resolved, so a symbolic link shares its target's). Every start
stats every file (1.33M for ImageNet) and reads again only those whose size or time changed, so
an image rewritten in place is seen. The hole: a different file given the same size *and* the
same modification time (`cp -p`, `rsync -t`/`-a` of an equal-sized file, a file system whose
timestamp resolution hides a quick rewrite: 2 s on FAT) keeps its cached hash until the cache
file is deleted. Within one process an image folder's fingerprint is also kept while its split
and class folders keep their names and modification times (a sweep summary fingerprints every
row: one stat per folder then, not per image), and a Places fingerprint while its lists keep
theirs; a file rewritten in place during that process is not seen.

What it costs (`python scripts/fingerprint_cost.py --images 10000`: random 110 KB ".JPEG"
files on a 2-CPU development machine; the files were just written, so they sat in the page
cache and the disk was not measured): the first fingerprint hashed 930-1,270 MB/s (8,500-11,500
images/s), a later start with the hashes cached ran at ~80,000 images/s (a stat per image and
the cache file read). At those rates ImageNet (1,331,167 images, ~140 GB) takes 2-2.5 minutes
to hash once if its disk keeps up (at 200 MB/s the disk sets the pace: ~12 minutes), then ~17 s
a start, with a cache of ~170 MB; a cold directory cache or a network file system makes the
stats slower too. Places-365 challenge (8M images) costs about six times as much. Under
torchrun each process fingerprints before the ranks meet, so the first start hashes once per
process (they share the page cache).

The cache is $SENET_ABLATE_CACHE_DIR/fingerprints/ (by default under $XDG_CACHE_HOME/senet_ablate
or ~/.cache/senet_ablate), one JSON file per folder; one that cannot be read or written only
costs a rehash.
"""

import functools
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from omegaconf import DictConfig
from tqdm import tqdm

from senet_ablate.base.atomic import atomic_file
from senet_ablate.base.errors import ConfigError
from senet_ablate.data.cifar import batch_files
from senet_ablate.data.imagefolder import list_splits, split_classes, split_dirs
from senet_ablate.data.places365 import present_files, read_file_list
from senet_ablate.data.synthetic import GENERATOR_VERSION

log = logging.getLogger(__name__)
CACHE_VERSION = 3  # bump whenever a fingerprint's definition changes, or cached ones would outlive it
HASH_THREADS = 8  # hashlib and file reads release the GIL; more reads in flight help network file systems


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """$SENET_ABLATE_CACHE_DIR, else senet_ablate/ in the user's cache directory (XDG)."""
    user_cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(os.environ.get("SENET_ABLATE_CACHE_DIR") or Path(user_cache) / "senet_ablate")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_cache(path: Path, folder: Path) -> dict[str, list]:
    """{name: [size, mtime_ns, sha256]} cached for `folder`; nothing if absent, damaged or older."""
    try:
        entry = json.loads(path.read_text())
        if entry["version"] == CACHE_VERSION and entry["folder"] == str(folder):
            return dict(entry["files"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no entry yet, or a damaged one: hash again
    return {}


def file_hashes(folder: Path, names: list[str]) -> list[str]:
    """The SHA-256 of each file `folder / name`, read only where the cache of `folder` has no hash
    for the file's current size and modification time (see the module docstring)."""
    folder = folder.resolve()
    path = cache_dir() / "fingerprints" / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:24]}.json"
    cached = _read_cache(path, folder)
    files = {}
    for name in names:
        stat = os.stat(folder / name)  # taken before reading: a change while hashing is seen next time
        known, now = cached.get(name), [stat.st_size, stat.st_mtime_ns]
        files[name] = known if known and known[:2] == now else [*now, None]
    stale = [name for name, (_, _, sha) in files.items() if sha is None]
    if stale:
        size = sum(files[name][0] for name in stale)
        why = (
            f"{len(stale)} new or changed since cached"
            if cached
            else "first fingerprint of this folder; later starts read only new or changed files"
        )
        log.info(
            "hashing %d files (%.2f GB) of %s for the dataset's fingerprint: %s", len(stale), size / 1e9, folder, why
        )
        bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"hashing {folder.name}", disable=None)  # on a terminal
        with ThreadPoolExecutor(HASH_THREADS) as pool, bar:
            for name, sha in zip(stale, pool.map(_sha256, (folder / name for name in stale)), strict=True):
                files[name][2] = sha
                bar.update(files[name][0])
    if stale or files.keys() != cached.keys():
        try:
            with atomic_file(path) as tmp:
                tmp.write_text(json.dumps({"version": CACHE_VERSION, "folder": str(folder), "files": files}))
        except OSError as error:
            log.debug("cannot cache the file hashes of %s in %s: %s", folder, path, error)
    return [files[name][2] for name in names]


@functools.cache
def _places_listed(root: str, variant: str, small: bool, signature: tuple) -> str:
    """The Places fingerprint, memoised per process; `signature` (`places_fingerprint`) is only its key."""
    files = present_files(root, variant, small, download_missing=False)
    lists = [files[key] for key in ("categories", "train_list", "val_list")]
    images = []
    for list_path, folder in ((files["train_list"], files["train_images"]), (files["val_list"], files["val_images"])):
        names = [Path(path).relative_to(folder).as_posix() for path, _ in read_file_list(list_path, folder)]
        try:
            images.append(file_hashes(folder, names))
        except FileNotFoundError as error:
            raise ConfigError("data.root", root, f"{error.filename}, named in {list_path}, is missing") from None
    return _digest(["places365", variant, small, [[p.name, _sha256(p)] for p in lists], images])


def places_fingerprint(data: DictConfig) -> str:
    """The lists, the categories and every listed image (a missing one is a ConfigError)."""
    files = present_files(data.root, data.variant, data.small, data.download)
    stats = [files[key].stat() for key in ("categories", "train_list", "val_list")]
    signature = (str(Path(data.root).resolve()), *((stat.st_size, stat.st_mtime_ns) for stat in stats))
    return _places_listed(data.root, data.variant, data.small, signature)


@functools.cache
def _folder_listed(root: str, signature: tuple) -> str:
    """The image folder's fingerprint, memoised per process; `signature` (`_folder_signature`) is only its key."""
    splits = []
    for split in list_splits(root):
        names = [Path(path).relative_to(split.folder).as_posix() for path, _ in split.samples]
        splits.append(
            [split.folder.name, [split.classes, list(zip(names, file_hashes(split.folder, names), strict=True))]]
        )
    return _digest(splits)


def _folder_signature(root: str) -> tuple:
    """The resolved root, then the names and modification times of the split folders and their
    class folders: one stat each."""
    signature = [str(Path(root).resolve())]
    for split in split_dirs(root):
        for folder in [split, *(split / name for name in split_classes(root, split))]:
            signature.append((folder.relative_to(split.parent).as_posix(), folder.stat().st_mtime_ns))
    return tuple(signature)


def synthetic_fingerprint(data: DictConfig) -> str:
    """The generator's version: the sizes are config keys, already in the id."""
    return _digest(["synthetic", GENERATOR_VERSION])


def cifar_fingerprint(data: DictConfig) -> str:
    """The batch files' bytes; missing ones are a ConfigError (downloaded with `data.download=true`)."""
    files = batch_files(data.name, data.root, data.download)
    hashes = file_hashes(files[0].parent, [path.name for path in files])
    return _digest([data.name, [[path.name, sha] for path, sha in zip(files, hashes, strict=True)]])


def folder_fingerprint(data: DictConfig) -> str:
    """Every image of the split folders (a missing folder is a ConfigError)."""
    return _folder_listed(data.root, _folder_signature(data.root))
