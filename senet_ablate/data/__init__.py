"""Datasets behind one small interface: `build_loaders(cfg, dist, device) -> Loaders`, batches on the
device, and `mix_seed`, the per-item seed the trainer draws its batch mixing from. The engine
imports this interface only (import-linter checks it)."""

from senet_ablate.data.build import Loaders, build_loaders
from senet_ablate.data.seeds import mix_seed

__all__ = ["Loaders", "build_loaders", "mix_seed"]
