"""`report exps=X` finds X's runs whatever they were launched with: a row's identity is only what
its rows set, the rest is the setting (a section each); an override narrows, and a narrowed report
that matches nothing names the settings that exist (exit status 0), never a silent all-pending table."""

import logging

from senet_ablate.report.__main__ import main
from senet_ablate.report.tables import write_reports
from tests.test_report import SMALL, add_run, table_lines

BIASED = (*SMALL, "se.bias=true")  # launched against the file's se.bias: false


def sections_of(markdown: str) -> list[str]:
    return markdown.split("## Setting ")[1:]


def test_runs_made_with_an_override_are_found_by_a_bare_report(tmp_path):
    for seed, (original, sixteen) in enumerate([(23.3, 22.3), (23.4, 22.4)]):
        add_run(tmp_path, "reduction_sweep", "original", seed=seed, top1=original, top5=6.0, small=BIASED)
        add_run(tmp_path, "reduction_sweep", "16", seed=seed, top1=sixteen, top5=6.0, small=BIASED)
    write_reports(tmp_path, tmp_path, exps=["reduction_sweep"])  # no override: not the runs' se.bias
    markdown = (tmp_path / "reduction_sweep.md").read_text()
    lines = table_lines(markdown)
    assert lines["16"].startswith("| 16 | 22.35 ± 0.07 (n=2) |")
    assert lines["original"].startswith("| original | 23.35 ± 0.07 (n=2) |")
    assert "`se.bias=True`" in markdown  # the setting says how the runs differ from the file's
    assert "No run of this table matches" not in markdown


def test_settings_are_sections_and_an_override_narrows_to_one(tmp_path):
    for small, top1 in ((SMALL, 22.0), (BIASED, 30.0)):
        add_run(tmp_path, "reduction_sweep", "original", top1=top1 + 1, top5=6.0, small=small)
        add_run(tmp_path, "reduction_sweep", "16", top1=top1, top5=6.0, small=small)
    write_reports(tmp_path, tmp_path / "all", exps=["reduction_sweep"])
    both = sections_of((tmp_path / "all" / "reduction_sweep.md").read_text())
    assert len(both) == 2 and {table_lines(s)["16"].split(" | ")[1] for s in both} == {"22.00 (n=1)", "30.00 (n=1)"}
    write_reports(tmp_path, tmp_path / "biased", exps=["reduction_sweep"], overrides=["se.bias=true"])
    (only,) = sections_of((tmp_path / "biased" / "reduction_sweep.md").read_text())
    assert table_lines(only)["16"].startswith("| 16 | 30.00 (n=1) |")
    assert "- narrowed by the report's overrides to: `se.bias=true`\n" in only


def test_a_narrowed_report_that_matches_nothing_names_the_settings_that_exist(tmp_path, capsys, caplog):
    add_run(tmp_path, "reduction_sweep", "original", top1=23.0, top5=6.0, small=BIASED)
    add_run(tmp_path, "reduction_sweep", "16", top1=22.0, top5=6.0, small=BIASED)
    add_run(tmp_path, "reduction_sweep", "16", top1=22.5, top5=6.0, small=(*SMALL, "trainer.epochs=5"), when="02")
    with caplog.at_level(logging.WARNING):
        main([f"results_dir={tmp_path}", "exps=reduction_sweep", *SMALL, "se.bias=false"])  # no SystemExit: status 0
    assert str(tmp_path / "reduction_sweep.md") in capsys.readouterr().out
    assert "reduction_sweep: no run matches model=resnet20 data=synthetic trainer=smoke se.bias=false;" in caplog.text
    markdown = (tmp_path / "reduction_sweep.md").read_text()
    (section,) = sections_of(markdown)
    assert table_lines(section)["16"].startswith("| 16 | pending |")  # pending, and it says why
    assert "No run of this table matches the report's overrides; its runs are in 2 other settings" in section
    assert "- 1 run of `16`, differing in: `trainer.epochs=5`" in section  # newest first
    assert "- 2 runs of `16`, `original`, differing in: `se.bias=True`" in section


def test_a_network_without_se_is_no_row_of_se_and_the_setting_closest_to_the_files_is_shown(tmp_path):
    """The demo's reduction runs in se3x3_sweep, whose rows set only se.position: r = 16 is its SE
    row in the file's setting, r = 2 that row under another reduction (one line), and the network
    without SE is no row of it at all, though its se.position is the SE row's."""
    add_run(tmp_path, "reduction_sweep", "16", top1=22.0, top5=6.0, when="01")
    add_run(tmp_path, "reduction_sweep", "2", top1=25.0, top5=6.0, when="02")  # newer, but further from the file
    add_run(tmp_path, "reduction_sweep", "original", top1=30.0, top5=6.0, when="03")
    write_reports(tmp_path, tmp_path, exps=["se3x3_sweep"])  # bare: both settings differ from the file's
    markdown = (tmp_path / "se3x3_sweep.md").read_text()
    (section,) = sections_of(markdown)
    assert table_lines(section)["SE"].startswith("| SE | 22.00 (n=1) |")
    assert "- 1 run of `SE`, differing in: `se.reduction=2`\n" in section
    assert "30.00" not in markdown and "se.enabled" not in markdown
