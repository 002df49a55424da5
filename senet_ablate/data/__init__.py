"""Datasets behind one small interface: `build_loaders(cfg, dist, device) -> Loaders`, batches on the device."""

from senet_ablate.data.build import Loaders, build_loaders

__all__ = ["Loaders", "build_loaders"]
