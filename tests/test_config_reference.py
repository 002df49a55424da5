"""docs/reference.md is what scripts/config_reference.py generates from the schema and the registries:
a key, option or comment changed in the code without regenerating the page fails here."""

from pathlib import Path

import pytest
from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    return load_script("config_reference")


@pytest.fixture(scope="module")
def page() -> str:
    """Rendered once: composing every experiment file takes seconds."""
    return _generator().render()


def test_the_checked_in_reference_is_what_the_code_generates(page):
    assert (ROOT / "docs" / "reference.md").read_text() == page, (
        "docs/reference.md is out of date: run python scripts/config_reference.py"
    )


def test_the_reference_lists_every_key_and_option(page):
    """Every leaf key of the composed default config, and every registered model, dataset and
    attention block, has its row (a key the walk over the schema missed would be undocumented)."""
    from omegaconf import OmegaConf

    from senet_ablate.attention import ATTENTION
    from senet_ablate.config import compose_config
    from senet_ablate.data import DATASETS
    from senet_ablate.models import MODELS

    config = OmegaConf.to_container(compose_config([]), resolve=False)
    leaves = [
        f"{group}.{key}" if isinstance(value, dict) else group
        for group, value in config.items()
        for key in (value if isinstance(value, dict) else [None])
    ]
    assert leaves and all(f"| `{leaf}` |" in page for leaf in leaves), [x for x in leaves if f"| `{x}` |" not in page]
    for names in (MODELS, DATASETS, ATTENTION):
        assert all(f"| `{name}` |" in page for name in names)
