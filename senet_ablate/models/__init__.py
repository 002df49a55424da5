"""Models of the paper's tables, each taking every SE axis."""

from senet_ablate.model_specs import MODEL_SPECS
from senet_ablate.models.build import build_model
from senet_ablate.models.pretrained import load_pretrained

__all__ = ["MODEL_SPECS", "build_model", "load_pretrained"]
