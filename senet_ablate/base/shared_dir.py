"""Folders and append-only files of ours in a results dir that a team shares.

On a cluster, everyone in a group writes one results dir (a setgid directory), with umasks
022 and 002 alike, and anyone there can plant a symbolic link where a file of ours will go.
So a folder we create takes its setgid parent's group permissions (else a teammate with another
umask cannot add a claim or a log beside ours), and a link found where a folder or file of ours
should be is never written through: a planted file is replaced (as `atomic_file`'s rename
replaces it), a planted folder refused. Links in the path the user typed are the user's own.
"""

import errno
import logging
import os
import pwd
import stat
from pathlib import Path
from typing import TextIO

from senet_ablate.base.errors import ConfigError

log = logging.getLogger(__name__)


def make_dirs(path: Path, below: Path | None = None) -> Path:
    """Create `path` and its missing parents (`mkdir -p`), each new one shared with the group of a
    setgid parent (`share_with_group`). With `below` (the results dir, as the user typed it), every
    folder under `below` must be a folder, not a link to one: a ConfigError says which is not.
    Without it, a file in the way is a NotADirectoryError, as `mkdir -p` fails."""
    path = Path(path)
    for folder in [*reversed(path.parents), path]:
        ours = below is not None and folder != Path(below) and folder.is_relative_to(below)
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            try:
                os.mkdir(folder)
                share_with_group(folder)
                continue
            except FileExistsError:  # a contender made it meanwhile
                mode = os.lstat(folder).st_mode
        if stat.S_ISLNK(mode) and ours:
            raise ConfigError(
                "results_dir",
                str(below),
                f"{folder} is a symbolic link (to {os.readlink(folder)}), where a folder of ours goes; "
                "a link in a shared results dir is not followed: remove it",
            )
        if not stat.S_ISLNK(mode) and not stat.S_ISDIR(mode):
            if below is None:  # as `mkdir -p` fails: the caller knows what the folder is for
                raise NotADirectoryError(errno.ENOTDIR, "a file is where a folder goes", str(folder))
            raise ConfigError("results_dir", str(below), f"{folder} is a file, where a folder goes: remove it")
    return path


def share_with_group(path: Path, fd: int | None = None) -> None:
    """Give `path`, which this process just created (open as `fd`, if given), the group permissions
    of its parent where the parent is setgid (a team's folder): a folder all of them (rwx), a file
    read and write. The umask (022 for many) would leave it writable by its creator only. Changed
    through a descriptor, never through a link put at the name meanwhile."""
    if not os.stat(path.parent).st_mode & stat.S_ISGID:
        return
    own = fd if fd is not None else os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        mode = os.fstat(own).st_mode
        shared = stat.S_IMODE(mode) | (os.stat(path.parent).st_mode & (0o070 if stat.S_ISDIR(mode) else 0o060))
        if shared != stat.S_IMODE(mode):
            os.fchmod(own, shared)
    finally:
        if fd is None:
            os.close(own)


def open_for_append(path: Path) -> TextIO:
    """`path` opened to append text (a log), created like `open()` creates files (0666 less the
    umask; shared with a setgid folder's group). Whatever else was planted at its name (a link, a
    hard link to another file, a FIFO that would block the write) is removed first and a new file
    made in its place; a folder there, or another plant in between, is a ConfigError."""
    remove_planted(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as error:  # ELOOP: a link; ENXIO: a FIFO nobody reads; EISDIR: a folder
        if error.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise _not_ours(path) from None
        raise
    found = os.fstat(fd)  # what was opened, whatever is at the name by now
    if not (stat.S_ISREG(found.st_mode) and found.st_nlink == 1):
        os.close(fd)
        raise _not_ours(path)
    os.set_blocking(fd, True)
    if found.st_uid == os.geteuid():
        share_with_group(path, fd)
    return os.fdopen(fd, "a", encoding="utf-8")


def remove_planted(path: Path) -> None:
    """Remove what is at `path` unless it is a plain file with no other name: a symbolic link, a
    hard link to another file or a FIFO is removed (its name only, never what it points to) and
    said in a warning, so that a file of ours can be made there. A folder is a ConfigError."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(found.st_mode) and found.st_nlink == 1:
        return
    if stat.S_ISDIR(found.st_mode):
        raise _not_ours(path)
    what = f"a symbolic link to {os.readlink(path)}" if stat.S_ISLNK(found.st_mode) else "not a plain file"
    os.unlink(path)
    log.warning("%s was %s: replaced by a new file (a link in a shared results dir is not followed)", path, what)


def _not_ours(path: Path) -> ConfigError:
    return ConfigError(
        "results_dir",
        str(path.parent),
        f"{path} is not a plain file of ours (a folder, a link or a pipe someone put there): remove it",
    )


def chmod_advice(path: Path) -> str:
    """What to do about `path` (a file, or the folder a file was to be made in) that this user may
    not write: whose it is, its mode, and the `chmod` its owner can run to share it with the group."""
    target = path if path.exists() else path.parent
    try:
        found = os.stat(target)
    except OSError:
        return "ask whoever owns it for write access"
    return (
        f"{target} belongs to {_user(found.st_uid)} with mode {stat.filemode(found.st_mode)}: "
        f"its owner can run `chmod g+w {target}` to share it with the group"
    )


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
