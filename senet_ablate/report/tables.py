"""Run records -> the paper's tables: `<out>/<exp>.md` and `<exp>.json` per experiment file (and
CSV / LaTeX on request), training curves, a forest plot of the comparisons, and the index
`<out>/README.md` with every claim's verdict.

The flow, one module each: `experiments` matches records to rows and settings, `paper` says
whether a setting is the paper's, `summary` computes each section's cells and statistics, and
`render` lays them out; this module writes the files.
"""

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from senet_ablate.base.atomic import atomic_file, check_writable_dir
from senet_ablate.base.errors import ConfigError
from senet_ablate.base.predictions import PREDICTIONS_FILE, load_correct
from senet_ablate.config import compose_config
from senet_ablate.records.status import live_holder
from senet_ablate.records.store import FINAL_STATUSES, runs_dir
from senet_ablate.records.trusted import Note, read_trusted
from senet_ablate.report import conclusions, export, generated, stats
from senet_ablate.report.experiments import (
    Experiment,
    Section,
    experiment_names,
    load_experiment,
    records_of,
    row_labels,
    sections,
)
from senet_ablate.report.paper import PAPER_MODES, complexity_notes
from senet_ablate.report.plots import write_curves, write_forest
from senet_ablate.report.render import FOOTNOTE, bullets, note_lines, section_markdown, table_cell, table_lines
from senet_ablate.report.settle_design import declarations, settle_of
from senet_ablate.report.summary import checked_claims, summarize_section

log = logging.getLogger(__name__)


class TablesFailed(Exception):
    """Some tables could not be written (each named, with why); `written` holds every file that was."""

    def __init__(self, failures: dict[str, str], written: list[Path]):
        self.failures, self.written = failures, written
        super().__init__("; ".join(f"table {name}: {why}" for name, why in failures.items()))


def write_experiment(
    out_dir: Path,
    experiment: Experiment,
    found: list[Section],
    generated_at: str,
    holders: dict[str, dict | None],
    paper_mode: str = "auto",
    formats: Sequence[str] = (),
    pairs: str = "none",
    floors: Mapping[str, float] | None = None,
    notes: Sequence[Note] = (),
) -> list[Path]:
    """Write `<exp>.md`, `<exp>.json`, when some run has epochs `<exp>.png`, when some comparison has a
    Δ the forest plot `<exp>.forest.png` (`plots.write_forest`), and `<exp>.csv` /
    `<exp>.tex` when `formats` asks; `pairs`: see `write_reports`.
    `floors`: run id -> its validation noise (`validation_floors`); `notes`: the files of this
    table's runs that were not counted, or counted with a change (`records/trusted.py`). Return
    what was written."""
    summaries = [
        summarize_section(experiment, section, holders, paper_mode, floors, pairs != "none") for section in found
    ]
    png = out_dir / f"{experiment.name}.png"
    panels = [(f"Setting {i}", section.runs) for i, section in enumerate(found, 1)]
    has_curves = write_curves(png, panels)
    curves = (
        f"![training curves: validation top-1 error and training loss per epoch, mean over seeds]({png.name})"
        if has_curves
        else "No training curves: no run has recorded an epoch yet."
    )
    forest = out_dir / forest_name(experiment.name)
    compared = [
        (f"Setting {i} of {len(summaries)}", s["statistics"]["comparisons"]) for i, s in enumerate(summaries, 1)
    ]
    has_forest = write_forest(forest, compared, experiment.margin)
    forest_line = (
        f"![forest plot: each comparison's Δ top-1 (row − other) with its 95% (thin) and 90% (thick) simultaneous "
        f"intervals, the ±{experiment.margin:g} margin shaded, and its verdict]({forest.name})"
        if has_forest
        else "No forest plot: no comparison has completed runs on both sides yet."
    )
    lines = [
        f"# {experiment.name}",
        "",
        f"Paper table `{experiment.table}`, rows of `conf/exp/{experiment.name}.yaml`. Generated {generated_at}.",
        "",
        curves,
        "",
        forest_line,
        "",
    ]
    for index, summary in enumerate(summaries, 1):
        lines += section_markdown(index, len(summaries), summary, experiment.table, pairs == "matrix")
    said = note_lines(notes)
    lines += bullets("Records and predictions not counted, or counted with a change:", said)
    lines += bullets("Complexity counted otherwise by the paper:", complexity_notes(experiment.table))
    lines.append(FOOTNOTE)
    md, data = out_dir / f"{experiment.name}.md", out_dir / f"{experiment.name}.json"
    written = [*([png] if has_curves else []), *([forest] if has_forest else [])]
    cells = [table_lines(experiment.table, s["rows"], s["paper_shown"], s["statistics"]["margin"]) for s in summaries]
    csv = out_dir / f"{experiment.name}.csv"
    exports = {}  # the CSV's hash, its mark (`generated.py`): written before the JSON that carries it
    if "csv" in formats:
        _write_text(csv, export.to_csv(cells))
        exports[csv.name] = generated.digest(csv)
        written.append(csv)
    else:
        exports = generated.kept_export(csv)
    if "tex" in formats:
        written.append(out_dir / f"{experiment.name}.tex")
        _write_text(written[-1], export.to_latex(cells, experiment.name, experiment.table, summaries))
    report = {
        "generated_by": generated.MARK,
        "exp": experiment.name,
        "table": experiment.table,
        "generated_at": generated_at,
        "sections": summaries,
        "record_notes": said,
        "exports": exports,
    }
    _write_text(md, generated.MARKDOWN_MARK + "\n" + "\n".join(lines) + "\n")
    _write_text(data, json.dumps(report, indent=2) + "\n")
    return [md, data, *written]


def forest_name(name: str) -> str:
    """The file name of an experiment's forest plot, beside its `<name>.md`."""
    return f"{name}.forest.png"


def _write_text(path: Path, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text)


def write_index(
    out_dir: Path,
    found: dict[str, tuple[Experiment, list[Section]]],
    generated_at: str,
    unread: Mapping[str, str] | None = None,
) -> Path:
    """`<out>/README.md`: every experiment file with its run counts, linked where its table is written;
    `unread`: the files that could not be read (name -> why), listed under it."""
    lines = [
        "# Results",
        "",
        f"Generated {generated_at}. One table per experiment file in `conf/exp/`.",
        "",
        "| experiment | paper table | runs | completed | settings | forest plot |",
        "|---|---|---:|---:|---:|---|",
    ]
    claims = []
    for name, (experiment, experiment_sections) in found.items():
        records = [record for section in experiment_sections for record in records_of(section)]
        link = f"[{name}]({name}.md)" if (out_dir / f"{name}.md").exists() else f"{name} (not written yet)"
        completed = sum(record["status"] == "completed" for record in records)
        settings = sum(bool(records_of(section)) for section in experiment_sections)
        forest = forest_name(name)
        plot = f"[{forest}]({forest})" if (out_dir / forest).exists() else ""
        lines.append(f"| {link} | {experiment.table} | {len(records)} | {completed} | {settings} | {plot} |")
        index, section = claims_section(experiment_sections)
        where = f"setting {index} of {len(experiment_sections)}"
        if len(experiment_sections) > 1:
            where += " (most completed runs)"
        for result in checked_claims(experiment, section):
            claims.append(f"| {name} | {table_cell(conclusions.describe(result, experiment.margin))} | {where} |")
    if claims:
        lines += [
            "",
            "## The paper's claims",
            "",
            "Each claim of each table, checked on the setting with the most completed runs (of those tied, the "
            "newest), numbered as in its table, which says how.",
            "",
            "| experiment | claim: verdict | checked on |",
            "|---|---|---|",
            *claims,
        ]
    if unread:
        lines += [
            "",
            *bullets("Experiment files that could not be read:", [f"{n}: {why}" for n, why in unread.items()]),
        ]
    path = out_dir / generated.INDEX
    _write_text(path, generated.MARKDOWN_MARK + "\n" + "\n".join(lines) + "\n")
    return path


def claims_section(found: Sequence[Section]) -> tuple[int, Section]:
    """The setting the index checks an experiment's claims on, and its number (from 1, newest first,
    as in its table): the one with the most completed runs, of those tied the newest. A newer
    setting of one seed (a smoke run) does not replace the verdicts of an older one of three."""
    completed = [sum(record["status"] == "completed" for record in records_of(section)) for section in found]
    index = max(range(len(found)), key=lambda i: (completed[i], -i))
    return index + 1, found[index]


def validation_floors(results_dir: str | Path, records: Sequence[dict]) -> tuple[dict[str, float], dict[str, Note]]:
    """Run id -> the per-image bootstrap standard error of its top-1 error, for each completed run
    that kept its final evaluation's predictions (`predictions.py`) for every validation image;
    and run id -> a Note for each predictions file that cannot be used, which is left out.
    (For one run's error, the bootstrap's exact limit is the binomial of that run's own error; the
    per-image files are what paired, image-by-image comparisons of two rows will need.)"""
    floors, unusable = {}, {}
    for record in records:
        if record["status"] != "completed" or not record.get("epochs"):
            continue
        path = runs_dir(results_dir) / record["run_id"] / PREDICTIONS_FILE
        evaluated = record["epochs"][-1].get("val_images")
        try:
            correct = load_correct(path)
            if correct is not None and evaluated is not None and len(correct) != evaluated:
                raise ValueError(f"holds {len(correct)} predictions, but the run evaluated {evaluated} images")
        except ValueError as why:
            log.warning("not using the predictions %s: %s", path, why)
            file = str(path.relative_to(results_dir))
            unusable[record["run_id"]] = Note(file, record, f"not used for the validation noise: {why}")
            continue
        if correct is not None and len(correct) and evaluated is not None:
            floors[record["run_id"]] = stats.bootstrap_std(correct)
    return floors, unusable


def check_out_dir(out: Path, results_dir: str | Path, targets: Sequence[str] = ()) -> None:
    """Make sure the tables can be written to `out` before any is: otherwise each file would fail
    on its own, with a traceback, after some were written. Refused too: the records' own folder,
    where every table's JSON would be read back as a damaged run record, and an `out` where one of
    `targets` (the names of the files to write) is a file the report did not write (`generated.py`:
    a user's own README.md, or notes named like a table), which it would overwrite."""
    if out.resolve() == runs_dir(results_dir).resolve():
        why = "it is the run records' folder, where each table's JSON would be read as a damaged record: give another"
        raise ConfigError("out", str(out), why)
    check_writable_dir("out", out)
    theirs = generated.foreign(out, targets)
    if theirs:
        it, carries = ("it", "it carries") if len(theirs) == 1 else ("them", "they carry")
        raise ConfigError(
            "out",
            str(out),
            f"it holds {', '.join(theirs)}, which the report did not write ({carries} no mark of it) and would "
            f"overwrite: move {it} away (delete {it} if an earlier version of the report wrote {it}), or choose "
            "another out",
        )


def write_reports(
    results_dir: str | Path,
    out_dir: str | Path,
    exps: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    paper: str = "auto",
    formats: Sequence[str] = (),
    pairs: str = "none",
) -> list[Path]:
    """Write the tables of `exps` (default: every file in conf/exp) and refresh `<out>/README.md`.

    `overrides` are plain config overrides (not `+exp`, `exp.row`, `seed` or sweep lists): without
    any, every run of a table is found, each setting in its section (`experiments.sections`); each
    override narrows the tables to the runs that have its value (`experiments.narrowing`) and sets
    the setting shown before any run exists. `paper`: `auto` compares with the paper's figures only in
    the paper's setting (its dataset and model), `always` in every section. Works inside a running
    Hydra app. `formats`: csv and/or tex besides markdown and JSON; `pairs`: Games-Howell's all-pairs
    intervals (seconds per section: scipy integrates the studentized range per pair) in the JSON
    (`json`), also as a matrix under each section (`matrix`), or not at all (`none`). Returns the
    files written. An `out` that cannot take
    the tables is a ConfigError before any file is written (see `check_out_dir`). A section whose
    setting a settle sweep declared in `results_dir` (`settle_design.py`) has its cells and claims (in
    the index too) read off that group-sequential design (`report/settle.py`), not the fixed design's,
    whoever writes it: the settle driver, or this report later; a malformed declaration fails its table.
    """
    if paper not in PAPER_MODES:
        raise ConfigError("paper", paper, "choose one of " + ", ".join(PAPER_MODES))
    compose_config(list(overrides))  # a mistyped override is one error (a ConfigError), not one per table
    names = experiment_names(overrides)
    for name in exps or ():
        if name not in names:
            raise ConfigError("exps", name, "choose from " + ", ".join(names))
    out = Path(out_dir)
    targets = [name for table in exps or names for name in generated.table_files(table, formats)]
    check_out_dir(out, results_dir, [*targets, generated.INDEX])
    trusted = read_trusted(results_dir)
    records = trusted.counted
    unfinished = (record["run_id"] for record in records if record["status"] not in FINAL_STATUSES)
    holders = {run: live_holder(results_dir, run) for run in unfinished}
    floors: dict[str, float] = {}  # filled for the tables written only: 1-2 s per ImageNet-sized run
    unusable: dict[str, Note] = {}  # run id -> why its predictions file is not used
    generated_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    found, written, failures, unread = {}, [], {}, {}
    for name in names:
        try:  # one table's failure is reported, and every other table still written
            experiment = load_experiment(name, overrides)
            declared = declarations(results_dir, name)
            found[name] = (
                experiment,
                [
                    replace(section, settle=settle_of(declared, section.setting))
                    for section in sections(experiment, records)
                ],
            )
            if found[name][1][0].elsewhere and (exps is None or name in exps):
                narrowed = " ".join(experiment.narrowed_by)
                log.warning(
                    "%s: no run matches %s; its runs are in %d other settings, named in its table",
                    name,
                    narrowed,
                    len(found[name][1][0].elsewhere),
                )
            if exps is None or name in exps:
                shown = [record for section in found[name][1] for record in records_of(section)]
                looked_at = floors.keys() | unusable.keys()
                more_floors, more_unusable = validation_floors(
                    results_dir, [r for r in shown if r["run_id"] not in looked_at]
                )
                floors.update(more_floors)
                unusable.update(more_unusable)
                notes = [note for note in trusted.notes if row_labels(experiment, note.record)]
                notes += [unusable[record["run_id"]] for record in shown if record["run_id"] in unusable]
                written += write_experiment(
                    out, experiment, found[name][1], generated_at, holders, paper, formats, pairs, floors, notes
                )
        except Exception as error:
            if exps is not None and name not in exps:  # another file in the search path: not this command's
                unread[name] = f"{type(error).__name__}: " + " ".join(str(error).split())  # one line
                log.warning("experiment file %s left out of the index: %s", name, unread[name])
                continue
            log.exception("table %s could not be written", name)
            failures[name] = f"{type(error).__name__}: {error}"
    written.append(write_index(out, found, generated_at, unread))
    if failures:
        raise TablesFailed(failures, written)
    return written
