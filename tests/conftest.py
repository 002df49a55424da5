import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Dataset fingerprints are cached per user; tests (and the CLIs they start) keep theirs apart."""
    monkeypatch.setenv("SENET_ABLATE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
