"""Checkpoints written atomically, so a run killed mid-save resumes from the previous one."""

from pathlib import Path

import torch

from senet_ablate.atomic import atomic_file


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_file(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, device: torch.device) -> dict | None:
    if not path.exists():
        return None
    return torch.load(path, map_location=device, weights_only=False)
