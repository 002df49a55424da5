"""Shake-Shake regularisation (Gastaldi 2017, arXiv:1705.07485, section 2.1): the two residual
branches of a block are summed with random weights, alpha and 1 - alpha, in the forward pass, and
their gradients scaled by an independent beta and 1 - beta in the backward pass.

The paper's modes (its Table 1): forward `shake` (alpha ~ U(0, 1), new at each pass) or `even`
(alpha = 0.5); backward `shake` (a fresh beta ~ U(0, 1)), `even` (beta = 0.5) or `keep`
(beta = alpha); level `image` (one coefficient per image) or `batch` (one per mini-batch). At
evaluation the branches are averaged (alpha = 0.5), the expected value of alpha.

The coefficients come from torch's global RNG on the activations' device, which the trainer seeds
and its checkpoints save and restore, so a shaken run is as deterministic and as exactly resumable
as any other. Both are drawn in the forward pass, so the order of the backward pass cannot change
them.

Several processes: every one seeds its RNG alike, so per-image coefficients drawn for each
process's slice would give image i of every slice the same draw. Inside `global_batch(offset,
size)`, which the trainer opens around each training step (as `senet_ablate.models.global_batch`:
`shake.py` registers it as a global-batch hook, see `registry.py`), they are drawn for the whole global
batch and this process keeps its slice: the coefficients of a step are those one process draws,
whatever the number of processes (as the GPU loader's crops and Cutout's squares are).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
from torch import Tensor

FORWARD_MODES = ("shake", "even")
BACKWARD_MODES = ("shake", "even", "keep")
LEVELS = ("image", "batch")
_slice_of_global_batch: tuple[int, int] | None = None  # (offset, global size) inside global_batch()


@contextmanager
def global_batch(offset: int, size: int) -> Iterator[None]:
    """While this process trains images [offset, offset + its batch) of a global batch of `size`:
    per-image coefficients are drawn for all `size` images and sliced (see the module's docstring)."""
    global _slice_of_global_batch
    outer, _slice_of_global_batch = _slice_of_global_batch, (offset, size)
    try:
        yield
    finally:
        _slice_of_global_batch = outer


@dataclass(frozen=True)
class ShakeMode:
    """How a shaken block combines its branches while training (the `model.shake_*` keys)."""

    forward: str  # shake | even: alpha for the forward pass
    backward: str  # shake | even | keep: beta for the backward pass
    level: str  # image | batch: one coefficient per image, or one for the whole mini-batch

    def overridden(self, forward: str | None, backward: str | None, level: str | None) -> "ShakeMode":
        """This mode with the config's non-null keys in place of the model's defaults."""
        given = {"forward": forward, "backward": backward, "level": level}
        return replace(self, **{key: value for key, value in given.items() if value is not None})

    def coefficients(self, branch: Tensor) -> tuple[Tensor, Tensor]:
        """(alpha, beta) for one training pass over `branch`'s mini-batch, broadcastable to it."""
        count = branch.shape[0] if self.level == "image" else 1
        shape = (count,) + (1,) * (branch.dim() - 1)
        offset, drawn = 0, count
        if self.level == "image" and _slice_of_global_batch is not None:
            offset, drawn = _slice_of_global_batch

        def uniform() -> Tensor:  # drawn in float32, so that bf16/fp16 training draws the same values
            values = torch.rand((drawn,) + shape[1:], device=branch.device)[offset : offset + count]
            return values.to(branch.dtype)

        half = torch.full(shape, 0.5, device=branch.device, dtype=branch.dtype)
        alpha = uniform() if self.forward == "shake" else half
        beta = {"shake": uniform, "even": lambda: half, "keep": lambda: alpha}[self.backward]()
        return alpha, beta


class _ShakeCombination(torch.autograd.Function):
    """alpha * first + (1 - alpha) * second forward; beta and 1 - beta scale the gradients backward."""

    @staticmethod
    def forward(ctx, first: Tensor, second: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
        ctx.save_for_backward(beta)
        return torch.lerp(second, first, alpha)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None, None]:
        (beta,) = ctx.saved_tensors
        return grad * beta, grad * (1 - beta), None, None


def shake_combine(first: Tensor, second: Tensor, mode: ShakeMode, training: bool) -> Tensor:
    """The two branches' combination: shaken by `mode` while training, their mean otherwise."""
    if not training:
        return torch.lerp(second, first, 0.5)
    alpha, beta = mode.coefficients(first)
    return _ShakeCombination.apply(first, second, alpha, beta)
