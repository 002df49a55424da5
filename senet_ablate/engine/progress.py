"""Progress of a training epoch: a tqdm bar on a terminal, plain log lines anywhere else.

On a cluster stdout and stderr are files, where a bar's carriage returns become one line per
refresh; there, one log line about every 10% of the epoch says the same in a tenth of the space.
"""

import logging
import sys
from datetime import timedelta

from tqdm import tqdm

log = logging.getLogger(__name__)
LINES_PER_EPOCH = 10


def on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


class EpochProgress:
    """Told the running totals at each sync point; draws or logs them when it is worth it."""

    def __init__(self, total_steps: int, title: str, enabled: bool, interactive: bool | None = None):
        self.total, self.title, self.enabled = total_steps, title, enabled
        interactive = on_terminal() if interactive is None else interactive
        self.bar = tqdm(total=total_steps, desc=title, leave=False) if enabled and interactive else None
        self.next_line = 0  # the fraction of the epoch (in tenths) whose line is due next

    def update(self, step: int, loss: float, err: float, images_per_s: float, elapsed_s: float) -> None:
        """`step` steps are done; `err` is the running training top-1 error in %."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{loss:.3f}", err=f"{err:.1f}%", img_s=f"{images_per_s:.0f}")
            return
        if step * LINES_PER_EPOCH < self.next_line * self.total and step < self.total:
            return
        self.next_line = step * LINES_PER_EPOCH // self.total + 1
        eta = timedelta(seconds=round(elapsed_s / step * (self.total - step)))
        log.info(
            "%s  step %d/%d (%d%%)  loss %.4f  err %.1f%%  %.0f img/s  ETA %s",
            self.title,
            step,
            self.total,
            100 * step // self.total,
            loss,
            err,
            images_per_s,
            eta,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
