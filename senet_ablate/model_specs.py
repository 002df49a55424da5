"""What each model accepts, so configs can be checked before anything is built."""

from dataclasses import dataclass

ALL_POSITIONS = ("standard", "pre", "post", "identity", "3x3")


@dataclass(frozen=True)
class ModelSpec:
    """Static facts about a model name: its input family, SE stages and SE positions.

    Stages are numbered like the paper: stage 1 is the stem, stages 2.. are the residual stages
    (conv2_x .. conv5_x on ImageNet models, conv2_x .. conv4_x on the CIFAR ones).
    """

    family: str  # "imagenet" or "cifar"
    stages: tuple[int, ...]
    positions: tuple[str, ...]
    stride_in_1x1: bool | None  # default stride placement; None where the model has no choice


_IMAGENET_STAGES = (2, 3, 4, 5)
_CIFAR_STAGES = (2, 3, 4)
_NO_3X3 = tuple(p for p in ALL_POSITIONS if p != "3x3")

MODEL_SPECS: dict[str, ModelSpec] = {
    "resnet50": ModelSpec("imagenet", _IMAGENET_STAGES, ALL_POSITIONS, True),
    "resnet101": ModelSpec("imagenet", _IMAGENET_STAGES, ALL_POSITIONS, True),
    "resnet152": ModelSpec("imagenet", _IMAGENET_STAGES, ALL_POSITIONS, True),
    # The paper's ResNeXt models carry the stride in the grouped 3x3 conv (4.24 GFLOPs).
    "resnext50_32x4d": ModelSpec("imagenet", _IMAGENET_STAGES, ALL_POSITIONS, False),
    "resnet20": ModelSpec("cifar", _CIFAR_STAGES, _NO_3X3, None),
    "resnet110": ModelSpec("cifar", _CIFAR_STAGES, _NO_3X3, None),
    "resnet164": ModelSpec("cifar", _CIFAR_STAGES, ALL_POSITIONS, None),
    "wrn16_8": ModelSpec("cifar", _CIFAR_STAGES, _NO_3X3, None),
}
