"""Models of the paper's tables, each taking every SE axis; importing this registers them.

`build_model` (config -> model) lives in `senet_ablate.models.build`: it reads the config
checks, which read this registry, so it is not imported here.
"""

from senet_ablate.models import (  # noqa: F401  (each module registers its models)
    cifar,
    inception,
    mobilenet,
    mobilenetv2,
    resnet,
    shake,
    shufflenet,
    vgg,
)
from senet_ablate.models.pretrained import load_pretrained
from senet_ablate.models.registry import MODELS, ModelSpec, register_model

__all__ = ["MODELS", "ModelSpec", "load_pretrained", "register_model"]
