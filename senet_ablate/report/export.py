"""A table's lines as CSV and as LaTeX (booktabs), for a paper: the same cells the markdown shows.

Each section of a table (one setting) is one block: in the CSV a `setting` column numbers it, in
the LaTeX file it is one floating `table` (its `tabular`, a caption naming the table and the setting
and saying how its Δ column was computed, and a label `tab:<exp>-<setting number>`). The LaTeX is
plain ASCII, every special character escaped, and needs the `booktabs` package only.
"""

import csv
import io
import re

from senet_ablate.report.generated import LATEX_MARK

Lines = list[list[tuple[str, str]]]  # each line of a table: (header, cell) pairs

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "−": r"$-$",
    "–": "--",
    "—": "---",
    "…": r"\ldots{}",
    "·": r"$\cdot$",
    "×": r"$\times$",
    "√": r"$\surd$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "≈": r"$\approx$",
    "²": r"\textsuperscript{2}",
    "₁": r"\textsubscript{1}",
    "₂": r"\textsubscript{2}",
    "*": "",  # markdown emphasis
}
_CODE_SPAN = re.compile(r"`([^`]+)`")


def latex_escape(text: str) -> str:
    """`text` (a cell, or markdown prose: its code spans set in \\texttt) as LaTeX text."""
    parts = _CODE_SPAN.split(text)  # even: prose, odd: a code span's content
    return "".join(rf"\texttt{{{_escape(part)}}}" if odd % 2 else _escape(part) for odd, part in enumerate(parts))


def _escape(text: str) -> str:
    text = re.sub("|".join(map(re.escape, _LATEX_SPECIALS)), lambda match: _LATEX_SPECIALS[match.group()], text)
    return _SIGN.sub(r"$-$", text)  # a number's sign is a minus, not a hyphen; `SE-PRE`, `1-99` keep theirs


_SIGN = re.compile(r"(?<![\w.)\]}$-])-(?=\d)")


def latex_label(name: str, setting: int) -> str:
    """`tab:<exp>-<setting number>`: an experiment name's `+` and `_` (NAME_CHARS) become `-`, so that
    the label reads the same under any package that makes `_` active."""
    return f"tab:{re.sub(r'[^A-Za-z0-9.-]', '-', name)}-{setting}"


def to_csv(sections: list[Lines]) -> str:
    """One CSV of every section's lines, a `setting` column first, then each section's markdown headers
    in its markdown's order (repeats numbered: `paper`, `paper 2`); a header that only some sections
    have (the paper's columns) goes after the one it follows there, blank elsewhere."""
    names: list[str] = []
    for line in (line for lines in sections for line in lines):
        headers = _numbered(line)
        for index, name in enumerate(headers):
            if name not in names:
                names.insert(names.index(headers[index - 1]) + 1 if index else 0, name)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["setting", *names])
    for index, lines in enumerate(sections, 1):
        for line in lines:
            cells = dict(zip(_numbered(line), (cell for _, cell in line), strict=True))
            writer.writerow([index, *(cells.get(name, "") for name in names)])
    return buffer.getvalue()


def _numbered(line: list[tuple[str, str]]) -> list[str]:
    """A line's headers, repeats numbered (`paper`, `paper 2`: a `paper` column follows each metric)."""
    seen: dict[str, int] = {}
    numbered = []
    for header, _ in line:
        seen[header] = seen.get(header, 0) + 1
        numbered.append(header if seen[header] == 1 else f"{header} {seen[header]}")
    return numbered


def _setting_words(summary: dict) -> str:
    """The section's setting as its markdown names it: data, model, recipe, and what differs from the
    experiment file's defaults."""
    s = summary["setting"]
    words = f"data {s.get('data.name')} ({s.get('data.num_classes')} classes, {s.get('data.image_size')} px); "
    words += f"model {s.get('model.name', 'per row')}; "
    if "trainer.schedule" in s:
        words += (
            f"schedule {s['trainer.schedule']}, {s.get('trainer.epochs')} epochs, batch {s.get('trainer.batch_size')}, "
            f"lr {s.get('trainer.lr')}"
        )
    else:
        words += "training recipe per row"
    differs = ", ".join(f"`{key}={value}`" for key, value in summary.get("differs_from_defaults", {}).items())
    return words + f"; differs from the experiment file's defaults in: {differs or 'nothing'}"


def to_latex(sections: list[Lines], name: str, table: str | None, summaries: list[dict]) -> str:
    """One `table` float per section (`summaries`: each section's, as `summary.summarize_section`
    gives it), its booktabs `tabular` under a caption: the paper table and experiment `name`, the
    setting, and the section's method note (its test, family size, degrees of freedom and margin).
    The list of tables gets the short caption (table and setting number)."""
    blocks = []
    for index, (lines, summary) in enumerate(zip(sections, summaries, strict=True), 1):
        headers = [header for header, _ in lines[0]]
        body = [" & ".join(latex_escape(cell) for _, cell in line) + r" \\" for line in lines]
        title = (f"Paper table {table} " if table else "Table ") + f"({name}), setting {index} of {len(sections)}"
        caption = f"{title}: {_setting_words(summary)}. {summary['statistics']['method']}"
        blocks.append(
            "\n".join(
                [
                    r"\begin{table}[t]",
                    r"\centering",
                    rf"\caption[{{{latex_escape(title)}}}]{{{latex_escape(caption)}}}",
                    rf"\label{{{latex_label(name, index)}}}",
                    r"\begin{tabular}{l" + "r" * (len(headers) - 1) + "}",
                    r"\toprule",
                    " & ".join(latex_escape(header) for header in headers) + r" \\",
                    r"\midrule",
                    *body,
                    r"\bottomrule",
                    r"\end{tabular}",
                    r"\end{table}",
                ]
            )
        )
    return LATEX_MARK + "\n% needs \\usepackage{booktabs}\n\n" + "\n\n".join(blocks) + "\n"
