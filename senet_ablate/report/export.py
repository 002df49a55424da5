"""A table's lines as CSV and as LaTeX (booktabs), for a paper: the same cells the markdown shows.

Each section of a table (one setting) is one block: in the CSV a `setting` column numbers it, in
the LaTeX file it is one `tabular` under a comment naming the setting.
"""

import csv
import io
import re

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
    "*": "",  # markdown emphasis
}


def latex_escape(text: str) -> str:
    return re.sub("|".join(map(re.escape, _LATEX_SPECIALS)), lambda match: _LATEX_SPECIALS[match.group()], text)


def to_csv(sections: list[Lines]) -> str:
    """One CSV of every section's lines, headers in first-seen order, a `setting` column first."""
    names = list(dict.fromkeys(name for lines in sections for line in lines for name in _numbered(line)))
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


def to_latex(sections: list[Lines], settings: list[str]) -> str:
    """One booktabs `tabular` per section, each after a comment naming its setting."""
    blocks = []
    for lines, setting in zip(sections, settings, strict=True):
        headers = [header for header, _ in lines[0]]
        body = [" & ".join(latex_escape(cell) for _, cell in line) + r" \\" for line in lines]
        blocks.append(
            "\n".join(
                [
                    f"% {setting}",
                    r"\begin{tabular}{l" + "r" * (len(headers) - 1) + "}",
                    r"\toprule",
                    " & ".join(latex_escape(header) for header in headers) + r" \\",
                    r"\midrule",
                    *body,
                    r"\bottomrule",
                    r"\end{tabular}",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"
