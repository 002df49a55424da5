"""Atomic file replacement: write beside the target, then rename over it.

A reader, or a run killed mid-write, sees either the old file or the new one, never half of
one; records, checkpoints and claims all go through here.

The temporary file is created with mode 0666 less the umask, as `open()` creates any file, so a
results dir that a team shares (umask 002, or a directory's default ACL) stays readable by the
team. (`tempfile.mkstemp` would make every record and checkpoint 0600: readable by its writer only.)
The rename replaces whatever is at the target's name, a planted symbolic link too, and never
writes through it.
"""

import errno
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from senet_ablate.base.errors import ConfigError
from senet_ablate.base.shared_dir import chmod_advice, make_dirs

# A disk full, a quota reached, a file system gone read-only: what stops a write, not a run's doing.
FULL_OR_READ_ONLY = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_writable_dir(key: str, path: str | Path) -> None:
    """Raise ConfigError for `key` unless a file can be created in the directory `path` (made if missing).

    It tries rather than asks `os.access`: root passes every permission check, and a read-only
    mount or a full quota shows only when a write is attempted."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(key, str(path), "a directory to write into, but it is a file")
    try:
        make_dirs(folder)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        why = f"cannot write there ({error.strerror or error}): choose a directory you can write to"
        if isinstance(error, PermissionError) and folder.exists() and folder.stat().st_uid != os.geteuid():
            why += f", or {chmod_advice(folder)}"  # another user's folder, in a results dir a team shares
        raise ConfigError(key, str(path), why) from None
