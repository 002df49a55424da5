"""Every registered model, also in timm's model registry as `senet_ablate_<name>` (registered by
`timm_hook.py` once timm is imported).

So our models drop into timm's own tools (`train.py`, `validate.py`, `benchmark.py`):

    import senet_ablate, timm
    model = timm.create_model("senet_ablate_resnet50", se_position="pre", se_reduction=8, num_classes=100)

Keyword arguments name config keys with `_` for the first `.` (`se_reduction` is `se.reduction`,
`model_stride_in_1x1` is `model.stride_in_1x1`, a plugin block's `my_gate_groups` is
`my_gate.groups`) and become the same overrides the command line
takes, so the model is exactly `senet_ablate.create_model([...])`. `pretrained=True` is refused:
load weights with `senet_ablate.load_pretrained` instead. Our registry
(`senet_ablate.models.MODELS`) stays the single source; this module only mirrors it.
"""

from collections.abc import Callable

from timm.models import register_model
from timm.models._registry import is_model
from torch import nn

from senet_ablate.attention import attention_groups
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data import DATASETS
from senet_ablate.models import MODELS
from senet_ablate.models.build import build_model

PREFIX = "senet_ablate_"
CONFIG_GROUPS = ("model", "data", "trainer")  # and the attention blocks' groups (`attention_groups`)
TOP_LEVEL_KEYS = ("attention",)
TIMM_ONLY_KEYS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")  # passed by timm.create_model
# What timm's train.py passes every model, and the only values our models can honour.
TIMM_COMMON = {"in_chans": (3,), "drop_rate": (0, 0.0), "drop_path_rate": (0, 0.0), "drop_block_rate": (0, 0.0)}


def override(key: str, value) -> str:
    """`se_reduction=8` -> `se.reduction=8` (and `attention="eca"` -> `attention=eca`), in the command
    line's grammar."""
    groups = [group for group in (*attention_groups(), *CONFIG_GROUPS) if key.startswith(f"{group}_")]
    group = max(groups, key=len, default="")  # a plugin's group may hold a `_` (my_gate_groups)
    name = key[len(group) + 1 :]
    if key in TOP_LEVEL_KEYS:
        group, name = "", key
    elif not group or not name:
        raise ConfigError(key, value, "name a config key as <group>_<key>, e.g. se_reduction or model_stride_in_1x1")
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, list | tuple):
        text = "[" + ",".join(str(item) for item in value) + "]"
    else:
        text = str(value)
    return f"{group}.{name}={text}" if group else f"{name}={text}"


def _entrypoint(name: str, family: str) -> Callable[..., nn.Module]:
    def create(pretrained: bool = False, num_classes: int | None = None, **kwargs) -> nn.Module:
        if pretrained:
            raise ConfigError("pretrained", True, "load weights with senet_ablate.load_pretrained(model, state_dict)")
        for key in TIMM_ONLY_KEYS:
            kwargs.pop(key, None)
        for key, allowed in TIMM_COMMON.items():
            value = kwargs.pop(key, allowed[0])
            if value not in allowed:
                raise ConfigError(key, value, f"senet_ablate models take {key}={allowed[0]} only")
        placement = {key: kwargs.pop(key) for key in ("device", "dtype") if key in kwargs}
        classes = [f"data.num_classes={num_classes}"] if num_classes is not None else []
        overrides = [f"model={name}", *classes, *(override(key, value) for key, value in kwargs.items())]
        model = build_model(compose_config(overrides))
        data = DATASETS["imagenet" if family == "imagenet" else "cifar10"]  # the data the family is designed for
        size, mean_std = data.image_size, data.mean_std
        # what timm's data tools read to build the eval transform
        model.pretrained_cfg = {
            "architecture": PREFIX + name,
            "input_size": (3, size, size),
            "mean": mean_std[0],
            "std": mean_std[1],
            "crop_pct": 224 / 256 if family == "imagenet" else 1.0,
            "interpolation": "bilinear",
            "num_classes": [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features,
        }
        return model.to(**placement) if placement else model

    create.__name__ = create.__qualname__ = PREFIX + name
    create.__module__ = __name__
    create.__doc__ = f"senet_ablate's {name} (timm entry point; kwargs: config keys as <group>_<key>)."
    return create


def register_with_timm() -> list[str]:
    """Mirror every model of our registry not yet in timm's; returns the timm names added."""
    added = []
    for name, spec in MODELS.items():
        if not is_model(PREFIX + name):
            register_model(_entrypoint(name, spec.family))
            added.append(PREFIX + name)
    return added
