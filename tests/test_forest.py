"""The forest plot of each table (`plots.write_forest`, `<exp>.forest.png` beside `<exp>.md`,
linked from it and from the index), and the setting whose claims the index shows.

Until `summary.summarize_section` fills `statistics["comparisons"]`, the comparisons are made by
hand here, in the shape it will give them (one dict per comparison of the table's family)."""

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from PIL import Image
from test_report import SMALL, add_run

from senet_ablate.report import plots, tables, write_reports
from senet_ablate.report.experiments import Section


def comparison(row, other, delta, low=None, high=None, equivalence=(None, None), verdict="unresolved"):
    eq_low, eq_high = equivalence
    return {
        "row": row,
        "other": other,
        "delta": delta,
        "low": low,
        "high": high,
        "equivalence_low": eq_low,
        "equivalence_high": eq_high,
        "verdict": verdict,
    }


SETTING_1 = [
    comparison("16", "original", -1.0, -1.4, -0.6, (-1.3, -0.7), "better"),
    comparison("32", "16", 1.05, 0.66, 1.44, (0.72, 1.38), "worse"),
    comparison("8", "16", 0.05, -0.12, 0.18, (-0.09, 0.15), "equivalent"),
    comparison("2", "16", None),  # no completed run on one side: not drawn
]
SETTING_2 = [comparison("16", "original", -0.8)]  # one seed per row: a Δ, no interval
PANELS = [("Setting 1 of 3", SETTING_1), ("Setting 2 of 3", SETTING_2), ("Setting 3 of 3", [])]


def test_each_comparison_is_a_dot_a_thin_95_line_a_thick_90_line_and_its_verdict():
    figure = plots.forest_figure(PANELS, 0.2)
    first, second = figure.axes  # setting 3 has no comparison: no panel
    assert first.get_title(loc="left") == "Setting 1 of 3" and second.get_title(loc="left") == "Setting 2 of 3"
    # y = 0 is the bottom line: the first comparison is drawn on top
    assert [label.get_text() for label in first.get_yticklabels()] == ["8 − 16", "32 − 16", "16 − original"]
    assert [text.get_text() for text in first.texts] == ["equivalent", "worse", "better"]
    lines = {}  # (y, line width) -> (x from, x to)
    for collection in first.collections:
        assert isinstance(collection, LineCollection)
        ((x0, y0), (x1, y1)) = collection.get_segments()[0]
        assert y0 == y1
        lines[y0, float(collection.get_linewidth()[0])] = (x0, x1)
    assert lines == {
        (2, 1.2): (-1.4, -0.6),  # 16 − original, 95%
        (2, 5.0): (-1.3, -0.7),  # and 90%, thicker
        (1, 1.2): (0.66, 1.44),
        (1, 5.0): (0.72, 1.38),
        (0, 1.2): (-0.12, 0.18),
        (0, 5.0): (-0.09, 0.15),
    }
    dots = {tuple(line.get_ydata()): tuple(line.get_xdata()) for line in first.lines if line.get_marker() == "o"}
    assert dots == {(2,): (-1.0,), (1,): (1.05,), (0,): (0.05,)}
    zero = [line for line in first.lines if tuple(line.get_xdata()) == (0, 0)]
    assert len(zero) == 1  # the vertical line at 0
    (band,) = first.patches
    assert band.get_x() == pytest.approx(-0.2) and band.get_width() == pytest.approx(0.4)  # ±margin
    low, high = first.get_xlim()
    assert low < -1.4 and high > 1.44
    # without an interval: the dot alone, unresolved
    assert [text.get_text() for text in second.texts] == ["unresolved"]
    assert not list(second.collections)
    assert [tuple(line.get_xdata()) for line in second.lines if line.get_marker() == "o"] == [(-0.8,)]
    assert second.get_xlim()[0] < -0.8 and second.get_xlim()[1] > 0.2  # the band is in view


def test_the_png_is_a_real_image_the_same_bytes_each_time_without_a_timestamp(tmp_path):
    path, again = tmp_path / "t.forest.png", tmp_path / "again.forest.png"
    assert plots.write_forest(path, PANELS, 0.2) and plots.write_forest(again, PANELS, 0.2)
    assert path.read_bytes() == again.read_bytes()
    image = matplotlib.image.imread(path)
    assert image.shape[1] == 900 and image.shape[0] > 300 and image.shape[2] in (3, 4)
    green = np.array(to_rgb("tab:green"))
    assert (np.abs(image[..., :3] - green).max(axis=-1) < 0.02).sum() > 50  # the better line is drawn
    assert set(Image.open(path).info) <= {"Software", "dpi"}  # nothing that changes between runs
    one = tmp_path / "one.forest.png"
    assert plots.write_forest(one, PANELS[1:], 0.2)
    assert matplotlib.image.imread(one).shape[0] < image.shape[0]  # the height follows the comparisons
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # written atomically


def test_without_a_comparison_with_a_delta_nothing_is_written_and_a_stale_plot_is_removed(tmp_path):
    path = tmp_path / "t.forest.png"
    path.write_bytes(b"stale")
    panels = [("Setting 1 of 2", []), ("Setting 2 of 2", [comparison("a", "b", None)])]
    assert plots.write_forest(path, panels, 0.2) is False
    assert not path.exists()
    assert plots.write_forest(path, [], 0.2) is False and plots.forest_figure([], 0.2) is None


def with_comparisons(monkeypatch, comparisons):
    """Every section of the tables written gets `comparisons`, as summarize_section will give them."""
    real = tables.summarize_section

    def summarize(*args, **kwargs):
        summary = real(*args, **kwargs)
        summary["statistics"]["comparisons"] = comparisons
        return summary

    monkeypatch.setattr(tables, "summarize_section", summarize)


def test_the_table_links_its_forest_plot_and_so_does_the_index(tmp_path, monkeypatch):
    for label, error in {"16": 22.3, "32": 23.3, "original": 23.3}.items():
        add_run(tmp_path, "reduction_sweep", label, top1=error, top5=6.0)
    out = tmp_path / "out"
    with_comparisons(monkeypatch, SETTING_1)
    written = write_reports(tmp_path, out, exps=["reduction_sweep"])
    forest = out / "reduction_sweep.forest.png"
    assert forest in written and forest.read_bytes().startswith(b"\x89PNG")
    markdown = (out / "reduction_sweep.md").read_text()
    assert "](reduction_sweep.forest.png)" in markdown and "![forest plot: each comparison's Δ top-1" in markdown
    assert markdown.index("reduction_sweep.forest.png") < markdown.index("## Setting 1 of 1")  # near the top
    index = (out / "README.md").read_text()
    assert "| experiment | paper table | runs | completed | settings | forest plot |" in index
    assert "| 3 | 3 | 1 | [reduction_sweep.forest.png](reduction_sweep.forest.png) |" in index
    assert "| gate_sweep (not written yet) | gate | 2 | 2 | 1 |  |" in index  # the shared r = 16 and SE-free runs

    with_comparisons(monkeypatch, [comparison("32", "16", None)])  # say a row's runs were all deleted
    written = write_reports(tmp_path, out, exps=["reduction_sweep"])
    assert forest not in written and not forest.exists()  # not left behind beside a table that has none
    assert (
        "No forest plot: no comparison has completed runs on both sides yet."
        in (out / "reduction_sweep.md").read_text()
    )
    assert "forest.png" not in (out / "README.md").read_text()


def records(*statuses):
    return {"row": [{"status": status, "updated_at": "x"} for status in statuses]}


def test_the_claims_section_has_the_most_completed_runs_and_of_those_tied_the_newest():
    newest, older = Section({}, records("completed")), Section({}, records("completed", "completed", "failed"))
    assert tables.claims_section([newest, older]) == (2, older)
    tied = Section({}, records("completed", "completed"))
    assert tables.claims_section([tied, older]) == (1, tied)
    empty = [Section({}, records()), Section({}, records("running"))]
    assert tables.claims_section(empty) == (1, empty[0])


def test_a_newer_one_seed_setting_does_not_replace_the_verdicts_of_an_older_three_seed_one(tmp_path):
    older = {"16": [22.30, 22.35, 22.32], "32": [23.30, 23.35, 23.32], "original": [23.30, 23.40, 23.20]}
    for label, errors in older.items():
        for seed, error in enumerate(errors):
            add_run(tmp_path, "reduction_sweep", label, seed=seed, top1=error, top5=6.0, when="01")
    smoke = (*SMALL, "trainer.epochs=1")
    for label, error in {"16": 23.0, "32": 22.0, "original": 24.0}.items():  # newer, one seed: nothing resolved
        add_run(tmp_path, "reduction_sweep", label, seed=0, top1=error, top5=6.0, when="02", small=smoke)
    write_reports(tmp_path, tmp_path / "out", exps=["reduction_sweep"])
    markdown = (tmp_path / "out" / "reduction_sweep.md").read_text()
    assert "## Setting 2 of 2" in markdown and "1 epochs" in markdown.split("## Setting 2 of 2")[0]  # newest first
    index = (tmp_path / "out" / "README.md").read_text()
    claim = next(line for line in index.splitlines() if "r = 32 is worse than r = 16" in line)
    assert claim.startswith("| reduction_sweep | r = 32 is worse than r = 16: **holds** (32 − 16: +1.00 95% [")
    assert claim.endswith(" | setting 2 of 2 (most completed runs) |")
    assert "checked on the setting with the most completed runs (of those tied, the newest)" in index
