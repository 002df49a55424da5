"""Input a shared cluster hands us: labels and names that become folders and table rows, seeds,
paths inside the dataset or not in UTF-8, and experiment files the command did not ask for.
Each is refused in one line (exit 2) before anything is written, or kept out of the command's way."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TINY, write_folder

from senet_ablate.__main__ import check_command_line
from senet_ablate.base.cli import run_cli
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import check_experiment_names, compose_config
from senet_ablate.config.checks import MAX_NAME
from senet_ablate.report.experiments import experiment_names, load_experiment
from senet_ablate.report.export import to_latex
from senet_ablate.report.render import code_span, markdown_table
from senet_ablate.report.tables import write_reports

SYNTHETIC = ["model=resnet20", "data=synthetic"]


def experiment_file(folder, name, labels, table=None):
    """`<folder>/exp/<name>.yaml`, a two-row-or-more experiment of the given labels; returns the
    `hydra.searchpath` override that finds it."""
    rows = "\n".join(
        f"    - {{label: {json.dumps(label)}, set: [se.reduction={2 + i}]}}" for i, label in enumerate(labels)
    )
    (folder / "exp").mkdir(parents=True, exist_ok=True)
    (folder / "exp" / f"{name}.yaml").write_text(
        "# @package _global_\ndefaults:\n  - /sweep: rows\nexp:\n"
        + (f"  table: {json.dumps(table)}\n" if table else "")
        + f"  reference: {json.dumps(labels[0])}\n  rows:\n{rows}\n"
    )
    return f"hydra.searchpath=[file://{folder}]"


def refused(argv, capsys):
    """The one `error:` line `python -m senet_ablate argv` prints before Hydra starts (exit 2)."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(check_command_line, argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def untouched(results):
    return not results.exists() or not any(results.iterdir())


@pytest.mark.parametrize(
    "label",
    ["../../../escaped", "a|b", "a/b", "..", ".hidden", "-x", "x ", "tab\there", "Größe", "x" * (MAX_NAME + 1)],
)
def test_an_unsafe_or_long_row_label_is_one_line_naming_it_before_anything_is_written(tmp_path, capsys, label):
    searchpath = experiment_file(tmp_path / "conf", "mine", ["base", label])
    results = tmp_path / "results"
    line = refused(["+exp=mine", searchpath, *SYNTHETIC, f"results_dir={results}"], capsys)
    assert "exp.rows[1].label=" in line and repr(label)[1:-1] in line
    assert f"1 to {MAX_NAME} characters of letters, digits, spaces and + - _ . , = ( ) % &" in line
    assert untouched(results) and not (tmp_path / "escaped").exists()


def test_a_300_character_label_is_refused_before_any_row_trains(tmp_path, capsys):
    searchpath = experiment_file(tmp_path / "conf", "mine", ["base", "L" * 300])
    results = tmp_path / "results"
    line = refused(["+exp=mine", searchpath, *SYNTHETIC, f"results_dir={results}"], capsys)
    assert "exp.rows[1].label='" + "L" * 300 + "'" in line and f"1 to {MAX_NAME} characters" in line
    assert untouched(results)


@pytest.mark.parametrize("name", experiment_names())
def test_every_label_of_conf_exp_is_a_safe_name(name):
    check_experiment_names(compose_config([f"+exp={name}"]).exp)


def test_the_labels_the_paper_writes_are_allowed_and_sweep(tmp_path):
    labels = ["r=16", "SE-PRE", "SE_3x3", "+SE", "Shake-Shake 26 2x96d + Cutout", "SE-MobileNetV2 (standard)", "50%"]
    labels += ["a,b", "x" * MAX_NAME]
    searchpath = experiment_file(tmp_path / "conf", "mine", labels)
    check_command_line(["+exp=mine", searchpath, *SYNTHETIC, f"results_dir={tmp_path / 'results'}"])


def test_an_unsafe_table_name_is_refused(tmp_path, capsys):
    searchpath = experiment_file(tmp_path / "conf", "mine", ["base", "se"], table="a|b")
    line = refused(["+exp=mine", searchpath, *SYNTHETIC, f"results_dir={tmp_path / 'results'}"], capsys)
    assert line.startswith("error: exp.table='a|b' is not allowed: 1 to 64 characters of letters, digits and + - _ .")


def test_duplicate_row_labels_are_one_line_naming_both_rows(tmp_path, capsys):
    searchpath = experiment_file(tmp_path / "conf", "mine", ["base", "se", "base"])
    results = tmp_path / "results"
    line = refused(["+exp=mine", searchpath, *SYNTHETIC, f"results_dir={results}"], capsys)
    assert line == "error: exp.rows[2].label='base' is not allowed: a label of its own: exp.rows[0] has it already"
    assert untouched(results)


def test_the_report_refuses_an_experiment_with_duplicate_labels(tmp_path):
    searchpath = experiment_file(tmp_path / "conf", "mine", ["base", "se", "se"])
    with pytest.raises(ConfigError, match=r"exp.rows\[2\].label='se'"):
        load_experiment("mine", [searchpath])


@pytest.mark.parametrize("inside", ["train/results", ".", "link/results"])
def test_a_results_dir_inside_the_dataset_is_refused_before_anything_is_written(tmp_path, capsys, inside):
    root = write_folder(tmp_path / "images")
    (tmp_path / "link").symlink_to(root)  # a results dir reached through a link into the dataset
    before = sorted(path.relative_to(root) for path in root.rglob("*"))
    results = tmp_path / inside if inside.startswith("link") else root / inside
    argv = ["model=resnet20", "data=imagefolder", f"data.root={root}", "data.num_classes=2", f"results_dir={results}"]
    line = refused(argv, capsys)
    assert line.startswith(f"error: results_dir='{results}' is not allowed: a folder outside data.root ({root})")
    assert sorted(path.relative_to(root) for path in root.rglob("*")) == before


def test_a_results_dir_beside_the_dataset_and_generated_data_pass(tmp_path):
    root = write_folder(tmp_path / "images")
    base = ["model=resnet20", "data=imagefolder", "data.num_classes=2"]
    check_command_line([*base, f"data.root={root}", f"results_dir={tmp_path / 'images-results'}"])
    check_command_line([*SYNTHETIC, f"results_dir={tmp_path / 'results'}"])  # data.root is empty: no folder


@pytest.mark.parametrize("seed", [2**32, 2**40, "0,4294967296"])
def test_a_seed_outside_what_every_rng_accepts_is_one_line(tmp_path, capsys, seed):
    results = tmp_path / "results"
    line = refused([*SYNTHETIC, f"seed={seed}", f"results_dir={results}", "-m"], capsys)
    assert line.startswith("error: seed=") and "must be 0 <= seed <= 4294967295" in line
    assert untouched(results)


def test_the_largest_seed_passes_and_seeds_every_rng(tmp_path):
    from senet_ablate.runs.run import seed_everything

    check_command_line([*SYNTHETIC, f"seed={2**32 - 1}", f"results_dir={tmp_path}"])
    seed_everything(2**32 - 1)


@pytest.mark.parametrize("typed", ['data.root="{root}"', "data.root={root}"])
def test_a_data_root_that_is_not_utf8_is_one_line(tmp_path, capsys, typed):
    root = os.fsdecode(bytes(tmp_path) + b"/\xffimages")  # a shell hands the byte over as U+DCFF
    write_folder(Path(root))
    results = tmp_path / "results"
    argv = [
        "model=resnet20",
        "data=imagefolder",
        "data.num_classes=2",
        typed.format(root=root),
        f"results_dir={results}",
    ]
    line = refused(argv, capsys)
    assert line.startswith("error: data.root=") and "\\udcff" in line
    assert "a path in UTF-8 (this one holds bytes that are not)" in line
    assert untouched(results)


def test_experiment_files_the_command_did_not_ask_for_never_fail_it(tmp_path):
    conf = tmp_path / "conf"
    searchpath = experiment_file(conf, "mine", ["base", "se"])
    experiment_file(conf, "labels", ["a|b", "a|b"])
    (conf / "exp" / "unparsable.yaml").write_text("exp:\n  rows: [ {label: x\n")
    (conf / "exp" / "unknown_key.yaml").write_text(
        "# @package _global_\nexp:\n  rows:\n    - {label: x, set: [no.key=1]}\n"
    )
    out = tmp_path / "tables"
    written = write_reports(tmp_path / "results", out, exps=["mine"], overrides=[*SYNTHETIC, searchpath])
    assert out / "mine.md" in written and not (out / "labels.md").exists()
    index = (out / "README.md").read_text()
    assert "Experiment files that could not be read:" in index
    for name in ("labels", "unparsable", "unknown_key"):
        (line,) = [line for line in index.splitlines() if line.startswith(f"- {name}: ")]
    assert "- labels: ConfigError: exp.rows[0].label='a|b' is not allowed" in index


def test_markdown_and_latex_escape_what_would_break_them():
    lines = [[("row", "a|b\\c"), ("top-1 err (%)", "1.00")]]
    assert markdown_table(lines)[2] == "| a\\|b\\\\c | 1.00 |"
    assert code_span("data.root=/x`y") == "``data.root=/x`y``" and code_span("`") == "`` ` ``"
    summary = {"setting": {}, "statistics": {"method": "Welch"}}
    latex = to_latex([[[("row", "a|b & c_d <e>"), ("top-1 err (%)", "1.00")]]], "mine", None, [summary])
    assert r"a\textbar{}b \& c\_d \textless{}e\textgreater{} & 1.00 \\" in latex


@pytest.mark.slow  # starts the CLI
@pytest.mark.parametrize("case", ["escaping label", "results inside data", "seed"])
def test_the_cli_refuses_in_one_line_and_writes_nothing(tmp_path, case):
    root = write_folder(tmp_path / "images")
    results = tmp_path / "results"
    args = {
        "escaping label": ["+exp=mine", experiment_file(tmp_path / "conf", "mine", ["base", "../../../escaped"])],
        "results inside data": ["data=imagefolder", f"data.root={root}", "data.num_classes=2"],
        "seed": ["seed=4294967296"],
    }[case]
    if case == "results inside data":
        results = root / "train" / "results"
    result = subprocess.run(
        [sys.executable, "-m", "senet_ablate", *TINY, *args, f"results_dir={results}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, lines
    assert untouched(results) and not (tmp_path / "escaped").exists()
    assert sorted(p.name for p in (root / "train").iterdir()) == ["cat", "dog"]
