"""The plots of one experiment: its training curves (validation top-1 error and training loss per
epoch, per row) and its forest plot (each comparison's Δ top-1 with its intervals and verdict).

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
from senet_ablate.report.generated import PNG_METADATA

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
        figure.savefig(tmp, format="png", dpi=100, metadata=PNG_METADATA)
    return True


VERDICT_COLORS = {
    "better": "tab:green",
    "worse": "tab:red",
    "equivalent": "tab:blue",
    "better but negligible": "tab:olive",
    "worse but negligible": "tab:brown",
    "unresolved": "tab:gray",
}


def _drawn_comparisons(comparisons: list[dict]) -> list[dict]:
    return [comparison for comparison in comparisons if comparison.get("delta") is not None]


def _forest_limits(comparisons: list[dict], margin: float) -> tuple[float, float]:
    """An x range holding 0, the margin's band, every dot and every interval end within reach, with
    some room. Reach: five margins or twice the largest Δ; an interval beyond it (a row with a
    diverged seed spans chance) runs off the plot rather than squeezing every other line to a dot."""
    values = [0.0, -margin, margin] + [comparison["delta"] for comparison in comparisons]
    reach = max(5 * margin, 2 * max(abs(value) for value in values))
    for comparison in comparisons:
        values += [
            comparison[key]
            for key in ("low", "high", "equivalence_low", "equivalence_high")
            if comparison.get(key) is not None and abs(comparison[key]) <= reach
        ]
    low, high = min(values), max(values)
    pad = 0.08 * (high - low) or 0.1
    return low - pad, high + pad


def forest_figure(panels: list[tuple[str, list[dict]]], margin: float) -> Figure | None:
    """A forest plot of each panel (title, comparisons) that has a comparison with a Δ; None if none has.

    A comparison is a dict with `row`, `other`, `delta` (mean(row) − mean(other), top-1 points),
    `low`/`high` (95% simultaneous interval), `equivalence_low`/`equivalence_high` (90%) and
    `verdict`. Each is one line, labelled "row − other": a dot at Δ, a thin line over the 95%
    interval, a thick one over the 90% interval, its verdict at the right; a vertical line at 0
    and a band over ±`margin`. A comparison without an interval shows its dot and "unresolved";
    one without a Δ (no completed run on a side) is left out.
    """
    drawn = [(title, _drawn_comparisons(comparisons)) for title, comparisons in panels]
    drawn = [(title, comparisons) for title, comparisons in drawn if comparisons]
    if not drawn:
        return None
    heights = [len(comparisons) + 1.5 for _, comparisons in drawn]
    figure = Figure(figsize=(9, 0.8 + 0.42 * sum(heights)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(drawn), 1, squeeze=False, height_ratios=heights)[:, 0]
    for (title, comparisons), ax in zip(drawn, axes, strict=True):
        ax.axvspan(-margin, margin, color="0.88", zorder=0)
        ax.axvline(0.0, color="0.3", linewidth=0.8, zorder=1)
        for y, comparison in enumerate(reversed(comparisons)):  # the first comparison on top
            has_interval = comparison.get("low") is not None and comparison.get("high") is not None
            verdict = (comparison.get("verdict") or "unresolved") if has_interval else "unresolved"
            color = VERDICT_COLORS.get(verdict, "black")
            if has_interval:
                ax.hlines(y, comparison["low"], comparison["high"], color=color, linewidth=1.2, zorder=2)
            if comparison.get("equivalence_low") is not None and comparison.get("equivalence_high") is not None:
                ends = comparison["equivalence_low"], comparison["equivalence_high"]
                ax.hlines(y, *ends, color=color, linewidth=5, alpha=0.6, zorder=3)
            ax.plot(comparison["delta"], y, "o", color=color, markersize=6, zorder=4)
            ax.annotate(
                verdict,
                (1.01, y),
                xycoords=("axes fraction", "data"),
                va="center",
                ha="left",
                color=color,
                fontsize="small",
            )
        ax.set_yticks(
            range(len(comparisons)),
            [f"{c['row']} \N{MINUS SIGN} {c['other']}" for c in reversed(comparisons)],
        )
        ax.set_ylim(-0.7, len(comparisons) - 0.3)
        ax.set_xlim(*_forest_limits(comparisons, margin))
        ax.set_title(title, loc="left", fontsize="medium")
        ax.grid(axis="x", color="0.93", zorder=0)
    axes[-1].set_xlabel(
        "Δ top-1 err (points), row \N{MINUS SIGN} other: dot Δ, thin line 95% and thick line 90% simultaneous "
        f"interval, band ±{margin:g}"
    )
    return figure


def write_forest(path: Path, panels: list[tuple[str, list[dict]]], margin: float) -> bool:
    """`forest_figure` saved as PNG at `path`. Returns False, and removes a stale `path`, when no
    panel has a comparison with a Δ."""
    figure = forest_figure(panels, margin)
    if figure is None:
        path.unlink(missing_ok=True)
        return False
    with atomic_file(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata=PNG_METADATA)
    return True
