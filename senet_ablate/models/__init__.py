"""Models of the paper's tables, each taking every SE axis; importing this registers them.

`build_model` (config -> model) lives in `senet_ablate.models.build`: it reads the config
checks, which read this registry, so it is not imported here. `global_batch` is what the
trainer opens around each training step for the models that need it (see `registry.py`).
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
from senet_ablate.models.registry import (
    MODELS,
    Classifier,
    ModelSpec,
    full_precision_head,
    global_batch,
    register_global_batch_hook,
    register_model,
)

__all__ = [
    "MODELS",
    "Classifier",
    "ModelSpec",
    "full_precision_head",
    "global_batch",
    "load_pretrained",
    "register_global_batch_hook",
    "register_model",
]
