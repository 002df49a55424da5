"""Sections as tables: the (header, cell) lines every format renders, and the markdown around them.

A cell never says more than its numbers: an interval bound that would print 0.00 gets a third
decimal, and an unresolved Δ says how many seeds would settle it.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from senet_ablate.records.trusted import Note
from senet_ablate.report import conclusions, stats
from senet_ablate.report.experiments import FINGERPRINT
from senet_ablate.report.paper import COMPLEXITY, MEASURED, PAIRED
from senet_ablate.report.summary import status_counts

HEADERS = {
    "top1_err": "top-1 err (%)",
    "top5_err": "top-5 err (%)",
    "tta_top1_err": "flip-TTA top-1 err (%)",
    "params_m": "params (M)",
    "gflops": "GFLOPs",
}

MIN_DECIMALS = {"params_m": 3, "gflops": 4}  # as `python -m senet_ablate.complexity` prints them

MAX_DECIMALS = 6


@dataclass(frozen=True)
class Unit:
    """How a table prints one complexity column: its header, a scale and enough decimals."""

    header: str
    scale: float
    decimals: int

    def format(self, value: float | None) -> str:
        return "n/a" if value is None else f"{value * self.scale:.{self.decimals}f}"


def complexity_unit(metric: str, values: list[float]) -> Unit:
    """The unit of a table's params or FLOPs column: MFLOPs when every model is under 1 GFLOP (CIFAR,
    mobile), and the fewest decimals (from MIN_DECIMALS) at which rows whose models differ print
    differently."""
    header, scale = HEADERS[metric], 1.0
    if metric == "gflops" and values and max(values) < 1:
        header, scale = "MFLOPs", 1000.0
    distinct = len({round(value * scale, 9) for value in values})
    decimals = MIN_DECIMALS[metric] - (3 if scale == 1000.0 else 0)
    while decimals < MAX_DECIMALS and len({round(value * scale, decimals) for value in values}) < distinct:
        decimals += 1
    return Unit(header, scale, decimals)


FOOTNOTE = (
    "Errors: mean ± sample std over the completed seeds (n); `n=k of m, ...`: only k of the m recorded "
    "seeds completed, the others counted by state (a diverged or failed run is never dropped silently); "
    "`j code versions`: the seeds ran on different code. ours − paper: our mean minus the paper's figure. "
    "GFLOPs are multiply-adds of convolutions and linear layers at "
    "`data.image_size`, batch 1 (torch FlopCounterMode total / 2). Params count the SE FC biases "
    "(`se.bias`); the paper rounds its figures up (30.604M is printed 30.7) and trained its ablations "
    "without FC biases. "
    "Δ top-1 vs the reference row: mean(row) − mean(reference) over completed seeds (negative: fewer "
    "errors), with the interval that decided its outcome; the method, its degrees of freedom and "
    "the margin are stated under each table. paper's Δ: the same difference between the paper's own "
    "figures, two single runs."
)


def _bound(value: float) -> str:
    """An interval bound signed, with a third decimal where two would print 0.00 for a nonzero bound:
    a verdict must never sit beside an interval that seems to say otherwise."""
    return _signed(value) if round(value, 2) or not value else f"{value:+.3f}"


def _interval(low: float, high: float, level: int) -> str:
    return f"{level}% [{_bound(low)}, {_bound(high)}]"


def _delta_cell(row: dict, margin: float) -> str:
    """Δ vs the reference with the interval(s) that decided its outcome: the 95% for a direction, the
    90% for equivalence, both for a negligible difference; an unresolved one says what resolves it."""
    vs = row.get("vs_reference")
    if vs is None:
        return "reference" if row.get("is_reference") else ""
    if vs["delta"] is None:
        every_seed_diverged = vs["diverged"][0] and not vs["seeds"][0] and vs["seeds"][1]
        return f"unresolved: each of its {vs['diverged'][0]} seed(s) diverged" if every_seed_diverged else ""
    delta = _signed(vs["delta"])
    diverged = sum(vs["diverged"])
    if vs["low"] is None:
        why = "zero spread" if vs["zero_spread"] else vs.get("stopped") or "one seed per row"
        return f"{delta}, unresolved: {why}"
    wide, narrow = _interval(vs["low"], vs["high"], 95), _interval(vs["equivalence_low"], vs["equivalence_high"], 90)
    verdict = vs["verdict"]
    shown = {"equivalent": narrow, "unresolved": wide}.get(verdict, wide)
    if verdict.endswith("negligible"):
        shown = f"{wide}, {narrow}"
    if diverged and verdict == "unresolved":  # an interval that spans chance says nothing in numbers
        return (
            f"{delta}, unresolved: {diverged} diverged seed(s) could have scored anything from the best run to chance"
        )
    cell = f"{delta} {shown} {verdict}"
    if diverged:
        cell += f" (whatever its {diverged} diverged seed(s) scored)"
    if vs.get("stopped"):  # read at a look of a settle sweep: why it stopped there
        mdd = "" if vs["detectable"] is None else f"; min. detectable difference (80% power) {vs['detectable']:.2f}"
        return f"{cell}, {vs['stopped']}" + (mdd if verdict == "unresolved" else "")
    if verdict != "unresolved":
        return cell
    if vs["planned_power"] is None:
        return cell
    at = f"at Δ {_signed(vs['planned_at'])}" + (" (paper)" if vs["planned_at"] != margin else " (margin)")
    if vs["seeds_needed"] is None:
        seeds = f"{stats.MAX_SEEDS} seeds/row resolve it {100 * vs['planned_power']:.0f}% of the time {at}"
    else:
        seeds = f"{vs['seeds_needed']} seeds/row resolve it {100 * vs['planned_power']:.0f}% of the time {at}"
    return f"{cell}: {seeds}; min. detectable difference (80% power) {vs['detectable']:.2f}"


def _signed(value: float) -> str:
    return f"{round(value, 2) + 0.0:+.2f}"  # + 0.0: no "-0.00"


def _delta_columns(row: dict, name: str, show_paper: bool, margin: float) -> list[tuple[str, str]]:
    cells = [(f"Δ top-1 vs {name}", _delta_cell(row, margin))]
    if show_paper:
        paper = (row.get("vs_reference") or {}).get("paper_delta")
        cells.append((f"paper's Δ vs {name}", "" if paper is None else f"{paper:+.2f}"))
    return cells


def _columns(
    row: dict, metrics: Sequence[str], units: dict[str, Unit], with_paper: set[str], show_paper: bool, prefix: str = ""
) -> list[tuple[str, str]]:
    """(header, cell) pairs for one row: each error with the paper's figure and Δ, then params and FLOPs."""
    cells = []
    for metric in metrics:
        cell = row[metric]
        cells.append((prefix + HEADERS[metric], cell["cell"]))
        if show_paper:
            paper = "" if cell["paper"] is None else f"{cell['paper']:.2f}"
            cells += [("paper", paper), ("ours − paper", "" if cell["diff"] is None else f"{cell['diff']:+.2f}")]
    for metric in COMPLEXITY:
        unit = units[metric]
        cells.append((prefix + unit.header, unit.format(row[metric]["value"])))
        if metric in with_paper:
            paper = row[metric]["paper"]
            cells.append(("paper", "" if paper is None else f"{paper * unit.scale:g}"))
    return cells


def _tta_column(row: dict, shown: bool, prefix: str = "") -> list[tuple[str, str]]:
    """The flip-TTA top-1 error (trainer.tta_flip) in a column of its own, where any row has one:
    a figure apart, compared with nothing, so that top-1 and its intervals stay those of one view."""
    return [(prefix + HEADERS["tta_top1_err"], row["tta_top1_err"]["cell"])] if shown else []


def _original_columns(original: list[float | None] | None) -> list[tuple[str, str]]:
    """Table 2's and 3's "original" column: the errors the architecture's own paper reported."""
    top1, top5 = original or (None, None)
    return [
        ("original top-1 err (%)", "" if top1 is None else f"{top1:g}"),
        ("original top-5 err (%)", "" if top5 is None else f"{top5:g}"),
    ]


def table_lines(table: str | None, rows: list[dict], show_paper: bool, margin: float) -> list[list[tuple[str, str]]]:
    """(header, cell) pairs for each line of the table, in the ablation layout (one line per row)
    or the paired one (one line per architecture, vanilla | SE): what every format renders."""
    with_paper = {metric for metric in COMPLEXITY for row in rows if row[metric]["paper"] is not None}
    units = {
        metric: complexity_unit(metric, [row[metric]["value"] for row in rows if row[metric]["value"] is not None])
        for metric in COMPLEXITY
    }
    tta = any(row.get("tta_top1_err", {}).get("n") for row in rows)
    if table in PAIRED:
        by_label = {row["label"]: row for row in rows}
        originals = any(row.get("original") for row in rows)
        lines = [
            [("model", base)]
            + (_original_columns(row["original"]) if originals else [])
            + _columns(row, PAIRED[table], units, with_paper, show_paper, "vanilla ")
            + _tta_column(row, tta, "vanilla ")
            + _columns(by_label[f"SE-{base}"], PAIRED[table], units, with_paper, show_paper, "SE ")
            + _tta_column(by_label[f"SE-{base}"], tta, "SE ")
            + _delta_columns(by_label[f"SE-{base}"], "vanilla", show_paper, margin)
            for base, row in by_label.items()
            if not base.startswith("SE-")
        ]
    else:
        compared = next((row["vs_reference"]["reference"] for row in rows if row.get("vs_reference")), None)
        lines = [
            [("row", row["label"])]
            + _columns(row, MEASURED, units, with_paper, show_paper)
            + _tta_column(row, tta)
            + (_delta_columns(row, compared, show_paper, margin) if compared else [])
            for row in rows
        ]
    return lines


def table_cell(text: str) -> str:
    """`text` as one cell of a markdown table: a `|` in it would start the next cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|")


def code_span(text: str) -> str:
    """`text` as markdown code, whatever backticks it holds: fenced by one more than its longest run."""
    fence = "`" * (max(map(len, re.findall("`+", text)), default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def markdown_table(lines: list[list[tuple[str, str]]]) -> list[str]:
    headers = [table_cell(header) for header, _ in lines[0]]
    return [
        "| " + " | ".join(headers) + " |",
        "|---|" + "---:|" * (len(headers) - 1),
        *("| " + " | ".join(table_cell(cell) for _, cell in line) + " |" for line in lines),
    ]


def _pairs_matrix(pairs: list[dict]) -> list[str]:
    """Games-Howell's all-pairs intervals as a matrix: the cell of row A, column B is A − B."""
    labels = list(dict.fromkeys([pair[side] for pair in pairs for side in ("first", "second")]))
    cells = {(p["first"], p["second"]): (p["delta"], p["low"], p["high"]) for p in pairs}
    cells.update({(b, a): (-d, -high, -low) for (a, b), (d, low, high) in list(cells.items())})
    lines = [
        [("Games-Howell: row − column", label)]
        + [
            (other, "" if label == other else "{:+.2f} [{:+.2f}, {:+.2f}]".format(*cells[(label, other)]))
            for other in labels
        ]
        for label in labels
    ]
    title = (
        "All pairs (rows with 2+ seeds), Games-Howell, nominally 95% simultaneous over all pairs (not the table's "
        "family; above its level at 3-5 seeds: `results/statistics.md`):"
    )
    return [title, "", *markdown_table(lines), ""] if pairs else []


def section_markdown(index: int, count: int, summary: dict, table: str | None, matrix: bool = False) -> list[str]:
    s = summary["setting"]
    shows_top5 = "top5_err" in PAIRED.get(table, MEASURED)
    statuses = status_counts(summary["statuses"])
    differs = ", ".join(code_span(f"{key}={value}") for key, value in summary["differs_from_defaults"].items())
    not_applicable = [f"`{row['label']}`: {row['not_applicable']}" for row in summary["rows"] if row["not_applicable"]]
    narrowed = " ".join(code_span(override) for override in summary["narrowed_by"])
    return [
        f"## Setting {index} of {count}",
        "",
        f"- data: {s.get('data.name')} ({s.get('data.num_classes')} classes, {s.get('data.image_size')} px"
        + (f", fingerprint {s[FINGERPRINT]}" if s.get(FINGERPRINT) else "")
        + "); "
        f"model: {s.get('model.name', 'per row')}; "
        + (
            f"schedule: {s['trainer.schedule']}, {s.get('trainer.epochs')} epochs, "
            f"batch {s.get('trainer.batch_size')}, lr {s.get('trainer.lr')}"
            if "trainer.schedule" in s
            else "training recipe: per row"
        ),
        f"- runs: {summary['runs']}"
        + (f" ({statuses})" if statuses else " (every row pending)")
        + f"; code: {', '.join(summary['code_versions']) or '-'}; last update: {summary['updated_at'] or '-'}",
        "- differs from the experiment file's defaults in: " + (differs or "nothing"),
        *([f"- narrowed by the report's overrides to: {narrowed}"] if narrowed else []),
        f"- {summary['paper_note']}",
        "",
        *bullets(elsewhere_title(summary), [elsewhere_line(setting) for setting in summary["elsewhere"]]),
        *markdown_table(table_lines(table, summary["rows"], summary["paper_shown"], summary["statistics"]["margin"])),
        "",
        summary["statistics"]["method"],
        "",
        *([summary["statistics"]["zero_spread"], ""] if summary["statistics"]["zero_spread"] else []),
        *([summary["statistics"]["divergence"], ""] if summary["statistics"]["divergence"] else []),
        *([summary["statistics"]["replication"], ""] if summary["statistics"]["replication"] else []),
        *([summary["statistics"]["validation_noise"], ""] if summary["statistics"]["validation_noise"] else []),
        *([summary["statistics"]["batch_norm"], ""] if summary["statistics"]["batch_norm"] else []),
        *(_pairs_matrix(summary["statistics"]["all_pairs"]["pairs"]) if matrix else []),
        *bullets(
            summary["statistics"]["claims_method"],
            [conclusions.describe(claim, summary["statistics"]["margin"]) for claim in summary["statistics"]["claims"]],
        ),
        *([f"Top-5 err n/a: {summary['top5_note']}.", ""] if summary["top5_note"] and shows_top5 else []),
        *bullets("Rows that do not apply to this setting:", not_applicable),
        *bullets("Runs not completed:", summary["unfinished"]),
    ]


def elsewhere_title(summary: dict) -> str:
    settings = len(summary["elsewhere"])
    plural = "s" if settings > 1 else ""
    if summary["elsewhere_because"] == "narrowed":
        return (
            f"No run of this table matches the report's overrides; its runs are in {settings} other setting{plural}, "
            "each named by how it differs from the setting above (drop or change the overrides to see them):"
        )
    return (
        f"{settings} other setting{plural} with runs of one row only, each named by how it differs from this "
        "section's; most often another table's runs that share the row's config (`report exps=<that table>` "
        "shows them as its own):"
    )


def elsewhere_line(setting: dict) -> str:
    """One setting not shown as a section: its runs, the rows they fill, how it differs from the defaults."""
    differs = ", ".join(code_span(f"{key}={value}") for key, value in setting["differs"].items()) or "nothing"
    rows = ", ".join(code_span(label) for label in setting["rows"])
    return f"{setting['runs']} run{'s' if setting['runs'] > 1 else ''} of {rows}, differing in: {differs}"


def bullets(title: str, lines: list[str]) -> list[str]:
    return [title, "", *(f"- {line}" for line in lines), ""] if lines else []


NAMED_FILES = 5  # a note about more files names the first few and counts the rest


def note_lines(notes: Sequence[Note]) -> list[str]:
    """One line per thing said of record files (`records/trusted.py`), naming the files it was said of."""
    files: dict[str, list[str]] = {}
    for note in notes:
        files.setdefault(note.says, []).append(note.file)
    lines = []
    for says, named in files.items():
        listed = ", ".join(code_span(file) for file in named[:NAMED_FILES])  # anyone may name a file there
        if len(named) > NAMED_FILES:
            listed += f" and {len(named) - NAMED_FILES} more"
        lines.append(f"{listed}: {says}" if len(named) == 1 else f"{len(named)} files ({listed}): {says}")
    return lines
