"""An exponential moving average of a model's weights (`trainer.ema_decay`), torch's own.

Fast recipes end with a large lr still moving the weights; the average over the last few hundred
steps evaluates better than the last step's weights, and costs one copy of the model. BatchNorm's
running statistics are averaged with the weights (`use_buffers`), so the average is evaluated with
statistics of the weights it holds rather than of the last step's.
"""

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def build_ema(model: nn.Module, decay: float) -> AveragedModel | None:
    """The average of `model`, updated by `update_parameters(model)` after each optimiser step;
    None when `decay` is 0."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
