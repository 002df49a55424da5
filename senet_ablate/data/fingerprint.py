"""What a dataset is, as 16 hex digits that do not depend on where it is mounted.

A run's id includes this fingerprint instead of `data.root`, so two different datasets never
share an id while the same one, moved or mounted elsewhere, keeps it.
  image folders  class names and every file's path (relative to the root) and size, of train/
                 and val/. Cached per root: the cache holds while the split and class folders
                 keep their modification times, which any added, removed or renamed file
                 changes; a file rewritten in place to the same size is not noticed.
  CIFAR          the SHA-256 of each batch file's bytes (cached while size and mtime hold).
  synthetic      the generator's version; its sizes are config keys, already in the id.
The cache lives in $SENET_ABLATE_CACHE_DIR (default: $XDG_CACHE_HOME/senet_ablate or
~/.cache/senet_ablate); one that cannot be read or written only costs a rescan.
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
from senet_ablate.data.imagefolder import split_dirs
from senet_ablate.data.synthetic import GENERATOR_VERSION

log = logging.getLogger(__name__)


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()[:16]


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "senet_ablate"
    return Path(os.environ.get("SENET_ABLATE_CACHE_DIR", default))


def cached(root: Path, signature: list, compute: Callable[[], str]) -> str:
    """`compute()`, unless the cache entry of `root` was made under the same `signature`."""
    path = cache_dir() / "fingerprints" / f"{hashlib.sha256(str(root).encode()).hexdigest()[:24]}.json"
    try:
        entry = json.loads(path.read_text())
        if entry["root"] == str(root) and entry["signature"] == signature:
            return entry["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no entry yet, or a damaged one: compute again
    fingerprint = compute()
    try:
        with atomic_file(path) as tmp:
            tmp.write_text(json.dumps({"root": str(root), "signature": signature, "fingerprint": fingerprint}))
    except OSError as error:
        log.debug("cannot cache the fingerprint of %s: %s", root, error)
    return fingerprint


def _folder_listing(root: Path, folders: list[Path]) -> list:
    """(path relative to root, size) of every file under `folders`, sorted: a scan of every file."""
    listing = []
    for folder in folders:
        for directory, subdirs, files in os.walk(folder):
            subdirs.sort()
            for name in sorted(files):
                path = Path(directory) / name
                listing.append([path.relative_to(root).as_posix(), path.stat().st_size])
    return listing


def _folder_signature(root: Path, folders: list[Path]) -> list:
    """Modification times of the split folders and of each class folder: one stat per folder."""
    signature = []
    for folder in folders:
        for directory in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
            signature.append([directory.relative_to(root).as_posix(), directory.stat().st_mtime_ns])
    return signature


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_fingerprint(data: DictConfig) -> str:
    """The fingerprint of `data` (see the module docstring); a missing dataset is a ConfigError."""
    if data.name == "synthetic":
        return _digest(["synthetic", GENERATOR_VERSION])
    if data.name in ("cifar10", "cifar100"):
        files = batch_files(data.name, data.root, data.download)
        root = files[0].parent.resolve()
        signature = [[path.name, path.stat().st_size, path.stat().st_mtime_ns] for path in files]
        return cached(root, signature, lambda: _digest([data.name, [[p.name, _sha256(p)] for p in files]]))
    folders = split_dirs(data.root)
    root = Path(data.root).resolve()
    folders = [folder.resolve() for folder in folders]
    return cached(root, _folder_signature(root, folders), lambda: _digest(_folder_listing(root, folders)))
