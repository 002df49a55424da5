"""Checkpoints that survive a kill at any instant and say so when a file is damaged.

File format: an 8-byte magic, the SHA-256 of the payload, then the payload (`torch.save` bytes).
torch's zip reader does not notice every damaged byte, the digest does, before anything is
unpickled.

Saving keeps the previous checkpoint beside the newest (`checkpoint.prev.pt`):
  1. the new checkpoint is written completely to a temporary file;
  2. the newest checkpoint, if any, is renamed to the previous one;
  3. the temporary file is renamed to the newest.
Renames are atomic, so a kill at any instant leaves either the newest file, or (between 2 and 3)
the previous one, both complete; loading tries the newest, then the previous, then nothing.
"""

import hashlib
import io
import logging
import os
from pathlib import Path

import torch

from senet_ablate.atomic import atomic_file

log = logging.getLogger(__name__)
MAGIC = b"SENETCK1"
_HEADER = len(MAGIC) + hashlib.sha256().digest_size


class DamagedCheckpoint(Exception):
    """A checkpoint file that cannot be trusted; the message says why."""


def previous_path(path: Path) -> Path:
    """Where the checkpoint before `path`'s current one is kept."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: Path, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    with atomic_file(path) as tmp:
        tmp.write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)
        if path.exists():
            os.replace(path, previous_path(path))


def _read(path: Path, device: torch.device) -> dict:
    data = path.read_bytes()
    if len(data) < _HEADER:
        raise DamagedCheckpoint(f"{len(data)} bytes, shorter than its header: truncated")
    if not data.startswith(MAGIC):
        raise DamagedCheckpoint("no senet-ablate checkpoint header")
    payload = data[_HEADER:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) : _HEADER]:
        raise DamagedCheckpoint("checksum mismatch: truncated or corrupted")
    try:
        return torch.load(io.BytesIO(payload), map_location=device, weights_only=False)
    except Exception as error:  # a payload with a good digest but written by an incompatible version
        raise DamagedCheckpoint(f"unreadable: {type(error).__name__}: {error}") from error


def load_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The newest good checkpoint of `path` (or its previous one), else None: start from scratch.

    Every damaged file is named in the log with the reason; none raises."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a save that was killed
        stale.unlink(missing_ok=True)
    candidates = [candidate for candidate in (path, previous_path(path)) if candidate.exists()]
    for index, candidate in enumerate(candidates):
        try:
            return _read(candidate, device)
        except (OSError, DamagedCheckpoint) as error:
            fallback = (
                f"falling back to {candidates[index + 1]}" if index + 1 < len(candidates) else "restarting from scratch"
            )
            log.warning("checkpoint %s is damaged (%s); %s", candidate, error, fallback)
    return None
