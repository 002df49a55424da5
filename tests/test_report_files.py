"""The report's files as a paper and a user's folder take them: LaTeX floats that compile, CSV with the
markdown's columns, and an `out=` that never overwrites a file the report did not write."""

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import add_run, listing, run_report

from senet_ablate.base.errors import ConfigError
from senet_ablate.report import export, generated, tables, write_reports
from senet_ablate.report.render import markdown_table

ROOT = Path(__file__).resolve().parents[1]
HAND_WRITTEN = ("benchmarks.md", "reliability.md", "statistics.md", "seed_blocking.md")  # results/, not reports


@pytest.fixture(scope="module")
def two_settings(tmp_path_factory):
    """A reduction_sweep results dir with two settings (3 and 5 epochs), reported as md, csv and tex."""
    results = tmp_path_factory.mktemp("results")
    for seed, (original, sixteen) in enumerate([(23.30, 22.30), (23.40, 22.40), (23.20, 22.35)]):
        add_run(results, "reduction_sweep", "original", seed=seed, top1=original, top5=6.0)
        add_run(results, "reduction_sweep", "16", seed=seed, top1=sixteen, top5=6.0)
    add_run(results, "reduction_sweep", "8", top1=22.25, top5=6.0, when="02", small=SMALL_5)
    add_run(results, "reduction_sweep", "16", top1=22.15, top5=6.0, when="02", small=SMALL_5)
    write_reports(results, results, exps=["reduction_sweep"], formats=("csv", "tex"), paper="always")
    return results


SMALL_5 = ("model=resnet20", "data=synthetic", "trainer=smoke", "trainer.epochs=5")

_ENVIRONMENT = re.compile(r"\\(begin|end)\{([a-z]+)\}")
_ESCAPED = re.compile(r"\\[%&_#${}]")  # the escaped specials
_COMMAND = re.compile(r"\\[A-Za-z]+(\{\})?")


def structure_problems(tex: str) -> list[str]:
    """What would keep the LaTeX of a table from compiling: unbalanced environments or braces, a
    special character left bare outside its role (`&` between cells, `%` starting a comment line,
    `$` pairs around math), a float without exactly one caption and label, a non-ASCII character."""
    problems = []
    stack: list[str] = []
    for kind, name in _ENVIRONMENT.findall(tex):
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            problems.append(f"\\end{{{name}}} closes nothing open")
    problems += [f"\\begin{{{name}}} never closed" for name in stack]
    if not tex.isascii():
        problems.append("non-ASCII: " + "".join(sorted({c for c in tex if not c.isascii()})))
    for block in tex.split(r"\begin{table}")[1:]:
        float_text = block.split(r"\end{table}")[0]
        for command in (r"\caption[", r"\label{"):
            if float_text.count(command) != 1:
                problems.append(f"{command} appears {float_text.count(command)} times in one float")
    for number, line in enumerate(tex.splitlines(), 1):
        if line.startswith("%"):
            continue
        bare = _ESCAPED.sub("", line)
        depth = 0
        for char in bare:
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth < 0:
                break
        if depth:
            problems.append(f"line {number}: braces unbalanced")
        if bare.count("$") % 2:
            problems.append(f"line {number}: a bare $")
        math_free = re.sub(r"\$[^$]*\$", "", bare)
        for char in "%#_^~":
            if char in math_free:
                problems.append(f"line {number}: a bare {char}")
        if "&" in bare and not line.endswith(r" \\"):
            problems.append(f"line {number}: a bare & outside a table line")
    return problems


def tex_lines(tex: str) -> list[list[str]]:
    """The cells of each table line (header and body) of every float."""
    return [line[: -len(r" \\")].split(" & ") for line in tex.splitlines() if line.endswith(r" \\")]


def test_each_section_is_a_table_float_with_its_setting_method_and_label(two_settings):
    tex = (two_settings / "reduction_sweep.tex").read_text()
    report = json.loads((two_settings / "reduction_sweep.json").read_text())
    assert structure_problems(tex) == []
    assert tex.splitlines()[0] == generated.LATEX_MARK
    floats = tex.split(r"\begin{table}[t]")[1:]
    assert len(floats) == len(report["sections"]) == 2
    for index, (float_text, section) in enumerate(zip(floats, report["sections"], strict=True), 1):
        lines = float_text.strip().splitlines()
        assert lines[:2] == [r"\centering", lines[1]] and lines[1].startswith(r"\caption[")
        assert lines[2] == rf"\label{{tab:reduction-sweep-{index}}}"  # `_` is no label character of every package
        assert lines[3].startswith(r"\begin{tabular}{l") and lines[-2:] == [r"\end{tabular}", r"\end{table}"]
        caption = lines[1]
        title = rf"Paper table reduction (reduction\_sweep), setting {index} of 2"
        assert caption.startswith(rf"\caption[{{{title}}}]{{{title}: data synthetic (10 classes, 32 px); ")
        epochs = section["setting"]["trainer.epochs"]
        assert f"schedule cosine, {epochs} epochs, batch 64, lr 0.1; differs from" in caption
        statistics = section["statistics"]
        assert export.latex_escape(statistics["method"]) in caption  # the method note, whole
        dfs = [c["df"] for c in statistics["comparisons"] if c["df"] is not None]
        assert "Welch's t" in caption and f"family of {statistics['family']} comparisons" in caption
        assert f"Welch--Satterthwaite df {min(dfs):.1f} to {max(dfs):.1f}" in caption if dfs else "no df yet" in caption
        assert rf"$\pm${statistics['margin']:g} top-1 points (\texttt{{exp.margin}}" in caption
    oldest = tex_lines(floats[1])  # newest first, as in the markdown: setting 2 has three seeds per row
    assert oldest[0][0] == "row" and [line[0] for line in oldest[1:]] == ["2", "4", "8", "16", "32", "original"]
    assert oldest[4][1] == r"22.35 $\pm$ 0.05 (n=3)" and oldest[4][-2].startswith("$-$0.95 95\\% [$-$")


def test_every_special_character_is_escaped():
    specials = "a&b%c$d#e_f{g}h~i^j\\k|l<m>n±Δ−–—…·×√≤≥≈²₁₂"
    escaped = export.latex_escape(specials)
    assert escaped.isascii() and structure_problems(escaped) == []
    assert escaped == (
        r"a\&b\%c\$d\#e\_f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k\textbar{}l\textless{}m"
        r"\textgreater{}n$\pm$$\Delta$$-$-----\ldots{}$\cdot$$\times$$\surd$$\leq$$\geq$$\approx$"
        r"\textsuperscript{2}\textsubscript{1}\textsubscript{2}"
    )
    assert export.latex_escape("see `results/seed_blocking.md` and `exp.margin`") == (
        r"see \texttt{results/seed\_blocking.md} and \texttt{exp.margin}"
    )
    # a number's sign is a minus; a label's and a range's hyphens stay
    assert export.latex_escape("-1.05 [-1.48, -0.42] SE-PRE 1-99%") == r"$-$1.05 [$-$1.48, $-$0.42] SE-PRE 1-99\%"
    # a row label may hold any of LABEL_CHARS: `%` and `&` too
    summary = {"setting": {}, "statistics": {"method": "Welch's t, ±0.2 & 95%"}, "differs_from_defaults": {}}
    tex = export.to_latex([[[("row", "SE 50% & more")], [("row", "x_y")]]], "a+b_c", None, [summary])
    assert structure_problems(tex) == [] and r"\label{tab:a-b-c-1}" in tex and r"SE 50\% \& more \\" in tex


LATEX = next((name for name in ("pdflatex", "lualatex") if shutil.which(name)), None)


@pytest.mark.slow  # starts a process
@pytest.mark.skipif(LATEX is None, reason="neither pdflatex nor lualatex is installed")
def test_the_latex_compiles(two_settings, tmp_path):
    document = tmp_path / "paper.tex"
    document.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\listoftables\n"
        f"\\input{{{two_settings / 'reduction_sweep.tex'}}}\n"
        "Table~\\ref{tab:reduction-sweep-1}.\n\\end{document}\n"
    )
    for _ in range(2):  # the second pass resolves the reference
        result = subprocess.run(
            [LATEX, "-interaction=nonstopmode", "-halt-on-error", document.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout[-3000:]
    assert "undefined" not in (tmp_path / "paper.log").read_text()


def test_the_csv_has_the_markdowns_columns(two_settings):
    rows = list(csv.DictReader((two_settings / "reduction_sweep.csv").open()))
    markdown = (two_settings / "reduction_sweep.md").read_text()
    for setting in ("1", "2"):
        lines = [row for row in rows if row["setting"] == setting]
        section = markdown.split(f"## Setting {setting} of 2")[1].split("## Setting")[0]
        table = [line[2:-2].split(" | ") for line in section.splitlines() if line.startswith("| ")]
        headers = table[0]
        numbered = export._numbered([(header, "") for header in headers])
        assert list(rows[0]) == ["setting", *numbered]  # `paper`, `paper 2`, ... after each metric
        assert [[row[name] for name in numbered] for row in lines] == table[1:]


def test_a_column_only_some_sections_have_stays_where_their_markdown_has_it():
    plain = [[("row", "a"), ("top-1", "1"), ("Δ", "x")]]
    with_paper = [[("row", "b"), ("top-1", "2"), ("paper", "3"), ("ours − paper", "-1"), ("Δ", "y")]]
    text = export.to_csv([plain, with_paper])
    assert text.splitlines() == ["setting,row,top-1,paper,ours − paper,Δ", "1,a,1,,,x", "2,b,2,3,-1,y"]
    assert markdown_table(with_paper)[0] == "| row | top-1 | paper | ours − paper | Δ |"


# `out=`: the report overwrites only what it wrote


def refusal(out: Path, *names: str) -> str:
    it, carries = ("it", "it carries") if len(names) == 1 else ("them", "they carry")
    return (
        f"error: out='{out}' is not allowed: it holds {', '.join(names)}, which the report did not write ({carries} "
        f"no mark of it) and would overwrite: move {it} away (delete {it} if an earlier version of the report "
        f"wrote {it}), or choose another out\n"
    )


@pytest.fixture
def results(tmp_path):
    add_run(tmp_path / "results", "squeeze_sweep", "Avg", top1=10.0, top5=1.0, epochs=1)
    add_run(tmp_path / "results", "squeeze_sweep", "Max", top1=11.0, top5=1.0, epochs=1)  # a Δ: a forest plot
    return tmp_path / "results"


def test_a_users_own_readme_in_out_is_refused_and_left_as_it_was(results, tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_bytes(b"# My project\n\nMine.\n")
    status, err = run_report(capsys, f"results_dir={results}", f"out={project}", "exps=squeeze_sweep")
    assert status == 2 and err == refusal(project, "README.md")
    assert listing(project) == ["README.md"] and (project / "README.md").read_bytes() == b"# My project\n\nMine.\n"


def test_files_named_like_a_tables_are_refused_all_named_before_anything_is_written(results, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    mine = {"squeeze_sweep.png": b"\x89PNG mine", "squeeze_sweep.csv": b"a,b\n", "squeeze_sweep.tex": b"% mine\n"}
    for name, content in mine.items():
        (out / name).write_bytes(content)
    status, err = run_report(capsys, f"results_dir={results}", f"out={out}", "exps=squeeze_sweep", "formats=md,tex")
    assert status == 2 and err == refusal(out, "squeeze_sweep.png", "squeeze_sweep.tex")  # the CSV is not asked for
    assert listing(out) == sorted(mine) and all((out / name).read_bytes() == mine[name] for name in mine)
    status, err = run_report(capsys, f"results_dir={results}", f"out={out}", "exps=squeeze_sweep", "formats=csv")
    assert status == 2 and err == refusal(out, "squeeze_sweep.png", "squeeze_sweep.csv")


def test_a_folder_in_the_way_is_refused_too(results, tmp_path):
    (tmp_path / "out" / "README.md").mkdir(parents=True)
    with pytest.raises(ConfigError, match="it holds README.md, which the report did not write"):
        write_reports(results, tmp_path / "out", exps=["squeeze_sweep"])


def test_regenerating_over_its_own_files_works_and_keeps_its_csv(results, tmp_path):
    out = tmp_path / "out"
    first = write_reports(results, out, exps=["squeeze_sweep"], formats=("csv", "tex"))
    names = {path.name for path in first}
    assert names == {f"squeeze_sweep.{kind}" for kind in ("md", "json", "png", "forest.png", "csv", "tex")} | {
        "README.md"
    }
    assert all(generated.is_generated(path) for path in first)
    # edited by hand: still the report's (its mark says edits are overwritten), and regenerated
    (out / "squeeze_sweep.md").write_text((out / "squeeze_sweep.md").read_text() + "my note\n")
    write_reports(results, out, exps=["squeeze_sweep"])  # md only: the CSV stays the report's
    assert "my note" not in (out / "squeeze_sweep.md").read_text()
    assert generated.is_generated(out / "squeeze_sweep.csv")
    again = write_reports(results, out, formats=("csv",))  # every table, beside this one
    assert out / "squeeze_sweep.csv" in again
    # a CSV carries its mark as its hash in the JSON beside it: an edited one is no longer the report's
    (out / "squeeze_sweep.csv").write_text("setting,row\n1,mine\n")
    with pytest.raises(ConfigError, match="it holds squeeze_sweep.csv, which"):
        write_reports(results, out, exps=["squeeze_sweep"], formats=("csv",))
    assert (out / "squeeze_sweep.csv").read_text() == "setting,row\n1,mine\n"


def test_the_hand_written_results_beside_the_tables_are_no_obstacle(results):
    for name in HAND_WRITTEN:
        shutil.copy(ROOT / "results" / name, results / name)
    written = write_reports(results, results, exps=["squeeze_sweep"], formats=("csv", "tex"))
    assert not {path.name for path in written} & set(HAND_WRITTEN)
    assert all((results / name).read_bytes() == (ROOT / "results" / name).read_bytes() for name in HAND_WRITTEN)
    write_reports(results, results, exps=["squeeze_sweep"])  # and again, over its own
    # an experiment named like one of them would be refused, not written over it
    with pytest.raises(ConfigError) as refused:
        tables.check_out_dir(results, results, generated.table_files("statistics", ()))
    assert str(refused.value) == refusal(results, "statistics.md")[len("error: ") : -1]
