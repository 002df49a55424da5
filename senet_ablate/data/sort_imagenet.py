"""`python -m senet_ablate.data.sort_imagenet val=<folder> devkit=<devkit .tar.gz> [tar=<val .tar>]`:
ImageNet's validation images sorted into one folder per class, `<val>/<wnid>/ILSVRC2012_val_*.JPEG`,
the layout `data=imagenet` reads.

ImageNet ships its 50,000 validation images in one flat folder (or tar); their classes are in the
devkit. The labels are read with torchvision's own devkit parser (`parse_devkit_archive`, which
also checks the archive's MD5, then `load_meta_file`): line i of the devkit's ground truth is the
class of `ILSVRC2012_val_<i, 8 digits>.JPEG`. Without `tar=`, the images in `<val>` are moved into
their class folders; with it, they are written there straight from the tar, member by member.

A dataset folder is often shared, so the sorting never writes through a link and never replaces a
file: a class folder must be a real folder (one is made with `mkdir`, which does not follow a link
planted at its name; it is then opened with O_NOFOLLOW and written through that descriptor); an image
is published under its final name by `link()`, which fails where anything is there, and only then is
its flat copy (or the temporary file written from the tar) removed. A link or anything but a plain
file where an image is read or goes is refused, naming it. Killed half-way, the same command goes on:
an image already in its class folder is kept, its flat twin (the same file) removed. (A tar's
image cut off mid-write stays a hidden `.ILSVRC2012_val_*.JPEG.<hex>.tmp`, which no loader reads.)
"""

import errno
import os
import re
import secrets
import stat
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from senet_ablate.base.cli import pop_option, run_cli
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.shared_dir import share_with_group

COMMAND = "python -m senet_ablate.data.sort_imagenet"
IMAGE_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")


def val_classes(devkit: Path) -> list[str]:
    """The WordNet id of each validation image, in the order of their numbers, from the devkit
    archive, parsed by torchvision (its MD5 checked) in a temporary folder: nothing is written
    beside the archive."""
    from torchvision.datasets.imagenet import ARCHIVE_META, load_meta_file, parse_devkit_archive

    name, md5 = ARCHIVE_META["devkit"]
    if not devkit.is_file():
        raise ConfigError("devkit", str(devkit), f"the path of ImageNet's {name}")
    with tempfile.TemporaryDirectory() as meta_dir:
        try:
            parse_devkit_archive(meta_dir, str(devkit.absolute()))
        except RuntimeError:  # torchvision's "not present in the root directory or is corrupted"
            raise ConfigError("devkit", str(devkit), f"its MD5 is not {md5}, that of ImageNet's {name}") from None
        return load_meta_file(meta_dir)[1]


def plain_file(folder: Path, name: str, dir_fd: int) -> os.stat_result | None:
    """The stat of `name` in `folder` (open as `dir_fd`) if it is a plain file, None if nothing is
    there; anything else (a link, a folder, a pipe) is a ConfigError naming it: never followed or replaced."""
    try:
        found = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(found.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(found.st_mode) else "not a plain file"
        raise ConfigError("val", str(folder / name), f"{what} where an image is read or goes: remove it")
    return found


@contextmanager
def opened_folder(folder: Path, create: bool) -> Iterator[int]:
    """A descriptor of `folder` (made first if `create`), refused if it is a link (O_NOFOLLOW):
    files are then made in it through the descriptor, never through a link put at its name."""
    if create:
        try:
            os.mkdir(folder)  # does not follow a link at its name: that is EEXIST, refused below
            share_with_group(folder)
        except FileExistsError:
            pass
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ConfigError(
                "val", str(folder), "a symbolic link or a file where a class folder goes: remove it"
            ) from None
        raise
    try:
        yield fd
    finally:
        os.close(fd)


def publish(folder: Path, name: str, src_fd: int, src: str, dst_fd: int, same: bool) -> bool:
    """Give the file `src` (in `src_fd`) its final name `name` in `folder` (open as `dst_fd`), then
    remove `src`. `link()` never replaces what is at a name: a plain file already there (an earlier,
    interrupted sort's) is kept, and `src` removed only if it is that very file or, unless `same`
    is asked, another copy (a tar's). True if this call placed the file."""
    try:
        os.link(src, name, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
        placed = True
    except FileExistsError:
        there = plain_file(folder, name, dst_fd)
        if same and not os.path.samestat(there, os.stat(src, dir_fd=src_fd, follow_symlinks=False)):
            raise ConfigError(
                "val", str(folder / name), f"is not the image {src} beside its class folder: keep one"
            ) from None
        placed = False
    os.unlink(src, dir_fd=src_fd)
    return placed


def sort_flat(val: Path, wnids: list[str]) -> int:
    """Move `<val>/ILSVRC2012_val_*.JPEG` into `<val>/<wnid>/`; the number of images moved. An
    image already sorted is left; its flat twin is removed only if it is the same file."""
    moved = 0
    with opened_folder(val, create=False) as val_fd:
        for number, wnid in enumerate(wnids, start=1):
            name = f"ILSVRC2012_val_{number:08d}.JPEG"
            if plain_file(val, name, val_fd) is None:
                continue  # sorted already, or missing: check_complete tells
            with opened_folder(val / wnid, create=True) as class_fd:
                moved += publish(val / wnid, name, val_fd, name, class_fd, same=True)
    return moved


def sort_from_tar(val: Path, tar: Path, wnids: list[str]) -> int:
    """Write each image of ImageNet's validation tar into `<val>/<wnid>/`; the number written.
    A member that is not a plain `ILSVRC2012_val_<n>.JPEG` of the devkit's (a link, a folder, a
    path elsewhere) is refused."""
    written = 0
    val.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar) as archive:
        for member in archive:
            name = member.name.removeprefix("./")
            match = IMAGE_NAME.fullmatch(name)
            if not (member.isreg() and match and 1 <= int(match[1]) <= len(wnids)):
                raise ConfigError("tar", str(tar), f"{member.name!r} is not one of its {len(wnids)} validation images")
            folder = val / wnids[int(match[1]) - 1]
            with opened_folder(folder, create=True) as class_fd:
                if plain_file(folder, name, class_fd) is not None:
                    continue
                tmp = f".{name}.{secrets.token_hex(8)}.tmp"
                flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                with os.fdopen(os.open(tmp, flags, 0o666, dir_fd=class_fd), "wb") as out:
                    out.write(archive.extractfile(member).read())
                written += publish(folder, name, class_fd, tmp, class_fd, same=False)
    return written


def check_complete(val: Path, wnids: list[str]) -> None:
    """Refuse a sort that left an image out: each of the devkit's images must be in its class folder."""
    missing = [
        f"{wnid}/ILSVRC2012_val_{number:08d}.JPEG"
        for number, wnid in enumerate(wnids, start=1)
        if not (val / wnid / f"ILSVRC2012_val_{number:08d}.JPEG").is_file()
    ]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ConfigError("val", str(val), f"{len(missing)} of the devkit's {len(wnids)} images are missing: {shown}")


def main(argv: list[str]) -> None:
    argv, val = pop_option(argv, "val", None, default="")
    argv, devkit = pop_option(argv, "devkit", None, default="")
    argv, tar = pop_option(argv, "tar", None, default="-")
    if argv:
        raise ConfigError(argv[0].split("=")[0], argv[0], "the options are val=, devkit= and tar=")
    wnids = val_classes(Path(devkit))
    if tar != "-":
        count = sort_from_tar(Path(val), Path(tar), wnids)
    elif Path(val).is_dir():
        count = sort_flat(Path(val), wnids)
    else:
        raise ConfigError("val", val, "a folder of ImageNet's validation images, or give the tar with tar=")
    check_complete(Path(val), wnids)
    print(f"{val}: {len(wnids)} images in {len(set(wnids))} class folders ({count} placed now)")


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
