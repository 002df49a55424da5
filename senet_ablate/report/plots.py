"""Training curves of one experiment: validation top-1 error and training loss per epoch, per row.

Drawn on matplotlib's Agg canvas without pyplot, so it works headless and inside the sweep's
process without changing the global backend.
"""

import math
import statistics
from collections import defaultdict
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from senet_ablate.base.atomic import atomic_file

CURVES = (("top1_err", "val top-1 err (%)"), ("train_loss", "train loss"))


def mean_curve(runs: list[dict], key: str) -> tuple[list[int], list[float]]:
    """Epochs and the mean of `key` over the runs that reached each epoch (runs stop at different ones)."""
    by_epoch = defaultdict(list)
    for run in runs:
        for epoch in run.get("epochs") or []:
            value = epoch.get(key)
            by_epoch[epoch["epoch"]].append(math.nan if value is None else value)
    epochs = sorted(by_epoch)
    return epochs, [statistics.fmean(by_epoch[epoch]) for epoch in epochs]


def write_curves(path: Path, panels: list[tuple[str, dict[str, list[dict]]]]) -> bool:
    """One row of plots per panel (title, {row label: runs}) that has epochs, saved as PNG at `path`.

    Returns False, and removes a stale `path`, when no run has an epoch.
    """
    drawn = [(title, rows) for title, rows in panels if any(run.get("epochs") for r in rows.values() for run in r)]
    if not drawn:
        path.unlink(missing_ok=True)
        return False
    figure = Figure(figsize=(11, 3.6 * len(drawn)), layout="constrained")
    FigureCanvasAgg(figure)
    for (title, rows), axes in zip(drawn, figure.subplots(len(drawn), len(CURVES), squeeze=False), strict=True):
        for (key, name), ax in zip(CURVES, axes, strict=True):
            for label, runs in rows.items():
                epochs, values = mean_curve(runs, key)
                if epochs:
                    ax.plot(epochs, values, marker=".", label=label)
            ax.set(title=f"{title}: {name}", xlabel="epoch", ylabel=name)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes[0].legend(fontsize="small")
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    return True
