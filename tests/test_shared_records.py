"""Records in a shared results dir are read as evidence: by the identity their content proves, migrated
from other versions of the schema, with finite figures and usable predictions; each file set aside
or changed is said under its table, and the table is still written."""

import json
import shutil

import torch
from test_plan import RUN, completed_record
from test_report import SMALL, add_run, table_lines

from senet_ablate import plan as planner
from senet_ablate.base.predictions import save_predictions
from senet_ablate.config import apply_row, compose_config
from senet_ablate.plan import plan
from senet_ablate.records.store import config_id, record_path, runs_dir, write_record
from senet_ablate.report import write_reports

NOTES = "Records and predictions not counted, or counted with a change:"
MIGRATED = "migrated from another version's schema:"


def notes_of(markdown: str) -> list[str]:
    """The bullets under a table's NOTES heading."""
    if NOTES not in markdown:
        return []
    lines = markdown.split(NOTES, 1)[1].strip().splitlines()
    return [line[2:] for line in lines[: lines.index("")] if line.startswith("- ")] if "" in lines else lines


def report(results, exp="squeeze_sweep", overrides=()) -> tuple[str, dict]:
    """Write `exp`'s table in-process; its markdown and JSON."""
    write_reports(results, results / "out", exps=[exp], overrides=list(overrides))
    return (results / "out" / f"{exp}.md").read_text(), json.loads((results / "out" / f"{exp}.json").read_text())


def rewrite(results, run: str, change) -> str:
    """Rewrite a record as another version or hand would have written it: `change(record)` edits it in
    place, and it is filed under the id its content then has, as that version would; the new id."""
    path = record_path(results, run)
    record = json.loads(path.read_text())
    change(record)
    record["run_id"] = config_id(record["config"], record["data_fingerprint"])
    path.unlink()
    record_path(results, record["run_id"]).write_text(json.dumps(record))
    return record["run_id"]


def test_a_copied_record_is_counted_once_and_the_copy_named(tmp_path):
    runs = [add_run(tmp_path, "squeeze_sweep", "Avg", seed=s, top1=22.0 + s / 10, top5=6.0) for s in range(3)]
    for run in runs[:2]:  # as a file manager copies: `<id> (1).json` beside `<id>.json`
        shutil.copy(record_path(tmp_path, run), runs_dir(tmp_path) / f"{run} (1).json")
    # seed 2's record only under two other names, one written when it ran, one when it completed
    running = json.loads(record_path(tmp_path, runs[2]).read_text()) | {"status": "running", "top1_err": None}
    record_path(tmp_path, runs[2]).rename(runs_dir(tmp_path) / "seed2-done.json")
    (runs_dir(tmp_path) / "a-seed2-early.json").write_text(json.dumps(running))

    markdown, data = report(tmp_path)
    assert table_lines(markdown)["Avg"].startswith("| Avg | 22.10 ± 0.10 (n=3) | 6.00 ± 0.00 (n=3) |")
    (section,) = data["sections"]
    (avg,) = [row for row in section["rows"] if row["label"] == "Avg"]
    assert section["runs"] == 3 and [run["seed"] for run in avg["runs"]] == [0, 1, 2]
    kept = "which is counted (the file named after its run)"
    assert sorted(notes_of(markdown)) == sorted(
        [
            f"`runs/{runs[0]} (1).json`: not counted: the same run as `runs/{runs[0]}.json`, {kept}",
            f"`runs/{runs[1]} (1).json`: not counted: the same run as `runs/{runs[1]}.json`, {kept}",
            "`runs/a-seed2-early.json`: not counted: the same run as `runs/seed2-done.json`, which is counted "
            "(a final status)",
        ]
    )
    assert data["record_notes"] == notes_of(markdown) and (tmp_path / "out" / "squeeze_sweep.md").exists()


def test_a_file_name_with_backticks_is_named_whole_under_the_table(tmp_path):
    run = add_run(tmp_path, "squeeze_sweep", "Avg", seed=0, top1=22.0, top5=6.0)
    shutil.copy(record_path(tmp_path, run), runs_dir(tmp_path) / "a`b.json")  # anyone may name a file there
    markdown, _ = report(tmp_path)
    (note,) = notes_of(markdown)
    assert note.startswith("``runs/a`b.json``: not counted: the same run as"), note


def test_a_record_whose_content_is_another_run_is_not_counted(tmp_path):
    add_run(tmp_path, "squeeze_sweep", "Avg", seed=0, top1=22.0, top5=6.0)
    edited = add_run(tmp_path, "squeeze_sweep", "Avg", seed=1, top1=30.0, top5=9.0)
    record = json.loads(record_path(tmp_path, edited).read_text())
    record["config"]["trainer"]["epochs"] = 4  # its run_id still says the 3-epoch run
    record_path(tmp_path, edited).write_text(json.dumps(record))
    markdown, _ = report(tmp_path)
    assert table_lines(markdown)["Avg"].startswith("| Avg | 22.00 (n=1) |")
    proven = config_id(record["config"], None)
    assert notes_of(markdown) == [
        f"`runs/{edited}.json`: not counted: its run_id is {edited}, but its config and data fingerprint are "
        f"run {proven}"
    ]


def test_records_of_another_schema_version_are_migrated_counted_and_said(tmp_path):
    """A record from before `se.bias` existed, and records from a version with keys this one lacks,
    count in their row and setting; an older record of a run rerun since counts once."""

    def older(record):  # written before se.bias was a key: its id was computed without it
        del record["config"]["se"]["bias"]

    def newer(record):
        record["config"]["se"]["shape"] = "round"
        record["config"]["trainer"]["ema"] = 0.999

    # the older version had no se.bias key and always the biases: its records migrate to se.bias=true
    biased = (*SMALL, "se.bias=true")
    old = rewrite(tmp_path, add_run(tmp_path, "squeeze_sweep", "Avg", seed=1, top1=22.2, top5=6.2, small=biased), older)
    new = rewrite(tmp_path, add_run(tmp_path, "squeeze_sweep", "Avg", seed=2, top1=22.4, top5=6.4, small=biased), newer)
    # seed 0 under the older version, then rerun under this version's id: the same run twice
    stale = rewrite(
        tmp_path, add_run(tmp_path, "squeeze_sweep", "Avg", seed=0, top1=25.0, top5=7.0, small=biased), older
    )
    current = add_run(tmp_path, "squeeze_sweep", "Avg", seed=0, top1=22.0, top5=6.0, when="05", small=biased)
    assert len({current, old, new, stale}) == 4  # four files, four ids, three runs

    markdown, data = report(tmp_path, overrides=["se.bias=true"])
    assert "## Setting 1 of 1" in markdown and "## Setting 2" not in markdown  # one setting, not split
    assert table_lines(markdown)["Avg"].startswith("| Avg | 22.20 ± 0.20 (n=3) | 6.20 ± 0.20 (n=3) |")
    assert sorted(notes_of(markdown)) == sorted(
        [
            f"`runs/{stale}.json`: not counted: the same run as `runs/{current}.json`, which is counted "
            "(updated later)",
            f"`runs/{old}.json`: {MIGRATED} filled with the schema's defaults: `se.bias=true`",
            f"`runs/{new}.json`: {MIGRATED} ignored, not keys of this version: `se.shape`, `trainer.ema`",
        ]
    )
    assert data["sections"][0]["runs"] == 3


def test_unusable_predictions_are_named_and_left_out_of_the_noise_floor(tmp_path):
    runs = [
        add_run(tmp_path, "squeeze_sweep", "Avg", seed=s, top1=e, top5=6.0, epochs=1)
        for s, e in enumerate([22.0, 22.2, 21.8])
    ]
    for path in runs_dir(tmp_path).glob("*.json"):
        record = json.loads(path.read_text())
        record["epochs"][-1]["val_images"] = 5_000
        path.write_text(json.dumps(record))
    files = [runs_dir(tmp_path) / run / "predictions.npz" for run in runs]
    right = torch.zeros(5_000, dtype=torch.int16)
    save_predictions(files[0], right, right[:1])  # one label: it would broadcast, every image right
    save_predictions(files[1], right, right)
    files[1].write_bytes(files[1].read_bytes()[:100])  # truncated
    save_predictions(files[2], right[:4_000], right[:4_000])  # of another validation set

    markdown, data = report(tmp_path)
    assert table_lines(markdown)["Avg"].startswith("| Avg | 22.00 ± 0.20 (n=3) |")
    binomial = 100 * (0.22 * 0.78 / 5_000) ** 0.5
    assert (
        f"has a standard error of {binomial:.2f} points (binomial, at the section's mean error 22.00%: no run kept "
        "usable per-image predictions)" in markdown
    )
    said = "not used for the validation noise:"
    assert notes_of(markdown) == [
        f"`runs/{runs[0]}/predictions.npz`: {said} holds 5000 predictions for 1 labels",
        f"`runs/{runs[1]}/predictions.npz`: {said} cannot be read (BadZipFile: File is not a zip file)",
        f"`runs/{runs[2]}/predictions.npz`: {said} holds 4000 predictions, but the run evaluated 5000 images",
    ]
    (avg,) = [row for row in data["sections"][0]["rows"] if row["label"] == "Avg"]
    values = avg["top1_values"]
    assert [value["validation_std"] for value in values] == [None, None, None]


def test_a_non_finite_figure_is_named_and_its_record_not_counted_while_divergence_still_shows(tmp_path):
    add_run(tmp_path, "squeeze_sweep", "Avg", seed=0, top1=22.0, top5=6.0)
    nan = add_run(tmp_path, "squeeze_sweep", "Avg", seed=1, top1=float("nan"), top5=6.0)
    infinite = add_run(tmp_path, "squeeze_sweep", "Max", seed=0, top1=22.5, top5=float("inf"))
    add_run(tmp_path, "squeeze_sweep", "Max", seed=1, top1=22.7, top5=6.1)
    diverged = add_run(tmp_path, "squeeze_sweep", "Max", seed=2, status="diverged", epochs=1)
    record = json.loads(record_path(tmp_path, diverged).read_text())
    record["epochs"][0]["train_loss"] = float("nan")  # as a diverged run records its last epoch
    record_path(tmp_path, diverged).write_text(json.dumps(record))
    assert "NaN" in record_path(tmp_path, nan).read_text()  # JSON as Python writes and reads it

    markdown, _ = report(tmp_path)
    lines = table_lines(markdown)
    assert lines["Avg"].startswith("| Avg | 22.00 (n=1) |")
    assert lines["Max"].startswith("| Max | 22.70 (n=1 of 2, 1 diverged) |")
    assert sorted(notes_of(markdown)) == sorted(
        [
            f"`runs/{nan}.json`: not counted: top1_err=NaN is not a finite number",
            f"`runs/{infinite}.json`: not counted: top5_err=Infinity is not a finite number",
        ]
    )


def test_a_records_config_is_data_never_an_interpolation_to_resolve(tmp_path):
    """In a name it is a name (which no model has); in a number it does not fit the schema."""
    add_run(tmp_path, "squeeze_sweep", "Avg", seed=0, top1=22.0, top5=6.0)

    def root(record):
        record["config"]["data"]["root"] = "${no.such.key}"  # a runtime key: the same run

    def lr(record):
        record["config"]["trainer"]["lr"] = "${no.such.key}"

    def model(record):
        record["config"]["model"]["name"] = "${no.such.key}"

    rewrite(tmp_path, add_run(tmp_path, "squeeze_sweep", "Avg", seed=1, top1=22.2, top5=6.0), root)
    bad_lr = rewrite(tmp_path, add_run(tmp_path, "squeeze_sweep", "Avg", seed=2, top1=30.0, top5=6.0), lr)
    rewrite(tmp_path, add_run(tmp_path, "squeeze_sweep", "Avg", seed=3, top1=30.0, top5=6.0, when="09"), model)
    # a second row in each setting: settings of one row only are named in a line, not shown as sections
    add_run(tmp_path, "squeeze_sweep", "Max", seed=0, top1=23.0, top5=6.0)
    rewrite(tmp_path, add_run(tmp_path, "squeeze_sweep", "Max", seed=3, top1=31.0, top5=6.0, when="09"), model)

    markdown, data = report(tmp_path)
    newest, oldest = markdown.split("## Setting 2 of 2")
    assert "model: ${no.such.key}" in newest and "| Avg | n/a | n/a | n/a |" in newest
    assert table_lines(oldest)["Avg"].startswith("| Avg | 22.10 ± 0.14 (n=2) |")
    assert notes_of(markdown) == [
        f"`runs/{bad_lr}.json`: not counted: its config does not fit this version's schema: "
        "trainer.lr='${no.such.key}' is not float"
    ]
    assert data["sections"][0]["setting"]["model.name"] == "${no.such.key}"


def gate_sweep_records(tmp_path, seeds) -> dict[int, dict]:
    """Completed runs of gate_sweep's Tanh row under test_plan's RUN, by seed, as run_job files them."""
    tanh = apply_row(compose_config(["+exp=gate_sweep", *RUN, f"results_dir={tmp_path}"]), "Tanh")
    return {seed: completed_record(tanh, seed, images_per_s=500.0, wall_time_s=10.0) for seed in seeds}


def plan_tanh(tmp_path, monkeypatch) -> list[str]:
    monkeypatch.setattr(planner, "probe_images_per_second", lambda cfg, batch: (1000.0, "a probe"))
    return plan(["+exp=gate_sweep", "exp.row=Tanh", "seed=0,1", *RUN, f"results_dir={tmp_path}"])


def test_the_planner_reads_a_records_config_as_data(tmp_path, monkeypatch):
    record = gate_sweep_records(tmp_path, [1])[1]
    record["config"]["data"]["root"] = "${no.such.key}"  # a runtime key: the same run
    write_record(record_path(tmp_path, record["run_id"]), record)
    (tanh,) = [line for line in plan_tanh(tmp_path, monkeypatch) if line.startswith("  Tanh ")]
    assert tanh.split()[5:] == ["500.0", f"{2 * 64 / 500 / 3600:.3g}", "measured", "over", "1", "completed", "run(s)"]


def test_the_planner_does_not_take_a_files_name_for_its_run(tmp_path, monkeypatch, caplog):
    """Seed 0's file holds seed 1's completed record, copied over it: seed 0 is still to run."""
    records = gate_sweep_records(tmp_path, [0, 1])
    zero, one = records[0]["run_id"], records[1]["run_id"]
    write_record(record_path(tmp_path, one), records[1])
    write_record(record_path(tmp_path, zero), records[1])
    lines = plan_tanh(tmp_path, monkeypatch)
    states = [line.split() for line in lines if line.startswith("row ")]
    assert [(state[4], state[5]) for state in states] == [(zero, "pending"), (one, "completed")]
    assert f"skipping damaged run record {record_path(tmp_path, zero)}: it holds run {one}, not run {zero}" in (
        caplog.messages
    )
