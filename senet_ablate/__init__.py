"""senet-ablate: re-run the ablations of Squeeze-and-Excitation Networks from configs."""

from collections.abc import Sequence
from importlib.metadata import version

from torch import nn

from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data import DATASETS  # noqa: F401  (importing the data registers the data= options)
from senet_ablate.integrations.timm_hook import register_with_timm_when_imported
from senet_ablate.models import load_pretrained
from senet_ablate.models.build import build_model

__version__ = version("senet-ablate")  # declared once, in pyproject.toml


def create_model(overrides: Sequence[str] = ()) -> nn.Module:
    """Build the model that `python -m senet_ablate <overrides>` would train.

    >>> create_model(["model=resnet50", "se.reduction=8"])  # doctest: +SKIP
    """
    return build_model(compose_config(list(overrides)))


register_with_timm_when_imported()  # then timm.create_model("senet_ablate_resnet50", se_reduction=8) works

__all__ = ["ConfigError", "__version__", "compose_config", "create_model", "load_pretrained"]
