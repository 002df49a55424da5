"""Checkpoints that survive a kill at any instant and say so when a file is damaged.

File format: the 8-byte magic `SENETCK1`, the 32-byte SHA-256 of the payload, then the payload,
which is what `torch.save` writes. The digest is checked before anything is unpickled. `torch.load`
is not enough on its own: its zip entries are stored uncompressed and their CRCs go unchecked, so
a flipped byte in tensor data loads as a silently different weight, and one in the pickle can
raise almost anything, or ask for gigabytes.

The digest is integrity against damage, not authentication: it has no key, so anyone who can
write to a shared results dir can plant a file with a valid one. So the payload is read with
torch's safe unpickler (`weights_only=True`), which builds tensors and plain containers only and
refuses anything that would import or call other code; a trainer's state needs nothing else.
A file it refuses, or whose state does not fit the run (the caller's `restore` raises: a missing
key, weights of another model), is damaged like any other.

Saving keeps the previous good checkpoint beside the newest (`previous_path`: `checkpoint.prev.pt`):
  1. the new checkpoint is written completely to a temporary file beside the newest;
  2. the newest, if its digest checks out, is renamed to the previous one (over the older one);
  3. the temporary file is renamed to the newest.
Renames are atomic, so a SIGKILL at any instant leaves one of: both old files, plus maybe a partial
temporary file (before 3); no newest, but the previous one, which step 2 verified (between 2 and 3);
the new newest (after 3). Loading tries the newest, then the previous one, so a good checkpoint
always loads if there was one before. The newest is verified in step 2 because renaming a damaged
one would replace the only good checkpoint left (the previous one, which the run resumed from).
A kill is the threat here. A power cut is not: nothing is fsynced.
"""

import hashlib
import io
import logging
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path

import torch

from senet_ablate.base.atomic import atomic_file
from senet_ablate.engine.out_of_memory import is_out_of_memory

log = logging.getLogger(__name__)
MAGIC = b"SENETCK1"
HEADER_BYTES = len(MAGIC) + hashlib.sha256().digest_size


class DamagedCheckpoint(Exception):
    """A checkpoint file that cannot be trusted; the message says why."""


def previous_path(path: Path) -> Path:
    """Where the checkpoint before the one at `path` is kept: `checkpoint.pt` -> `checkpoint.prev.pt`."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: Path, state: dict) -> None:
    """Write `state` to `path`, keeping the last good checkpoint at `previous_path(path)`.

    The order of the writes keeps a good checkpoint on disk at every instant (see the module docstring)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    with atomic_file(path) as tmp:
        tmp.write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)
        if _is_intact(path):
            os.replace(path, previous_path(path))


# What `restore` raises for a state that does not fit the run: a missing key, a value of the wrong
# type, and what `load_state_dict` raises for weights or optimiser groups of another model.
MISFITS = (KeyError, TypeError, ValueError, RuntimeError)


def load_checkpoint(
    path: Path, device: torch.device, restore: Callable[[dict], object] = lambda state: None
) -> dict | None:
    """The newest good checkpoint at `path`, else its previous one, else None (start from scratch).

    `restore(state)` loads a state into the run (model, optimiser, ...); one that raises a MISFITS
    error does not fit the run and counts as damaged, so `restore` must leave the run as it found
    it when it raises. Each damaged file gets one warning that names it, says why, and says what
    happens next. Nothing is raised, so a damaged file costs at most an epoch of training and never
    a crash, nor a run that fails at every restart."""
    _clear_stale_temporaries(path)
    candidates = [candidate for candidate in (path, previous_path(path)) if candidate.exists()]
    if candidates and candidates[0] != path:
        log.info("checkpoint %s is missing (a save was killed between renames); using %s", path, candidates[0])
    for index, candidate in enumerate(candidates):
        try:
            return _restored(_decode(candidate, device), restore)
        except DamagedCheckpoint as error:
            after = candidates[index + 1 :]
            fallback = f"falling back to {after[0]}" if after else "restarting from scratch"
            log.warning("checkpoint %s is damaged (%s); %s", candidate, error, fallback)
    return None


def _verified_payload(path: Path) -> bytes:
    """The `torch.save` bytes in `path`, once the header and digest show they are whole and unchanged."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DamagedCheckpoint(f"unreadable: {error}") from error
    if len(data) < HEADER_BYTES:
        raise DamagedCheckpoint(f"truncated: {len(data)} bytes, shorter than the {HEADER_BYTES}-byte header")
    if not data.startswith(MAGIC):
        raise DamagedCheckpoint(f"no {MAGIC.decode()} header: not a checkpoint, or a plain torch.save from before it")
    payload = data[HEADER_BYTES:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) : HEADER_BYTES]:
        raise DamagedCheckpoint(f"SHA-256 mismatch: truncated or corrupted, {len(data)} bytes")
    return payload


def _is_intact(path: Path) -> bool:
    try:
        _verified_payload(path)
    except DamagedCheckpoint:
        return False
    return True


def _decode(path: Path, device: torch.device) -> dict:
    payload = _verified_payload(path)
    try:
        return torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:  # torch's safe unpickler refused something in it
        asked = re.search(r"GLOBAL ([\w.]+)", str(error))
        what = f"it asks for {asked[1]}" if asked else _one_line(error)
        raise DamagedCheckpoint(
            f"refused by torch's safe unpickler (weights_only=True): {what}, "
            "and a checkpoint holds only tensors and plain containers"
        ) from error
    except Exception as error:  # whole and unchanged, yet unreadable: e.g. written by a newer torch
        raise DamagedCheckpoint(f"unreadable by torch.load: {type(error).__name__}: {_one_line(error)}") from error


def _restored(state: dict, restore: Callable[[dict], object]) -> dict:
    try:
        restore(state)
    except MISFITS as error:
        if is_out_of_memory(error):  # a RuntimeError, but the device's fault, not the file's
            raise
        raise DamagedCheckpoint(f"does not fit this run: {type(error).__name__}: {_one_line(error)}") from error
    return state


def _one_line(error: Exception, limit: int = 300) -> str:
    """`error`'s message on one line, cut to `limit` characters (load_state_dict's span many lines)."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clear_stale_temporaries(path: Path) -> None:
    """Remove the partial temporary files a save killed mid-write leaves (`atomic_file` names them)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
