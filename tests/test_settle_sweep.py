"""A settle sweep end to end on CPU, through the same command line as any sweep: two rounds of
generated data and the smoke trainer, its table read off the design, then the same command again,
which trains nothing."""

import json
import sys

import pytest
from helpers import TINY, TWO_ROWS

from senet_ablate.__main__ import cli
from senet_ablate.base.errors import ConfigError
from senet_ablate.records.store import iter_records
from senet_ablate.report.__main__ import main as report_main
from senet_ablate.runs import settle


def _argv(tmp_path) -> list[str]:
    return [
        f"hydra.searchpath=[file://{tmp_path}/conf]",
        "+exp=two_rows",
        *TINY,
        "data.train_size=16",
        "data.val_size=8",
        "data.image_size=8",  # a smoke run of a fraction of a second: what is tested is the rounds
        "trainer.batch_size=16",
        "trainer.epochs=1",
        f"results_dir={tmp_path / 'results'}",
        "settle.max_seeds=4",
        "settle.looks=2",
    ]


@pytest.mark.slow  # trains eight smoke runs in two rounds
def test_a_settle_sweep_runs_rounds_until_its_maximum_writes_its_table_and_the_same_command_then_trains_nothing(
    tmp_path, monkeypatch, capfd
):
    """The console script's own entry (`cli`), in this process: its rounds run by Hydra in-process
    as they are under `python -m senet_ablate`, and no Python start per round."""
    (tmp_path / "conf" / "exp").mkdir(parents=True)
    (tmp_path / "conf" / "exp" / "two_rows.yaml").write_text(TWO_ROWS)
    monkeypatch.setattr(sys, "argv", ["senet-ablate", *_argv(tmp_path)])
    cli()
    out, printed = capfd.readouterr()
    assert "settle: round of 4, 16 x seeds 0-1" in printed
    assert "settle: round of 4, 16 x seeds 0-3" in printed  # no verdict at 2 seeds per row: a second round
    assert out.count("the settle sweep writes the table when it stops") == 2  # no round read at the fixed design
    records = list(iter_records(tmp_path / "results"))
    assert sorted((r["label"], r["seed"]) for r in records) == sorted((row, s) for row in ("4", "16") for s in range(4))
    assert all(record["status"] == "completed" for record in records)
    _, design, again = settle.plan(_argv(tmp_path))  # the same command again (after a kill or not) reads
    assert again.stop is not None and again.rows == ()  # the records: no round left to run, the same decisions
    stopped = [line for line in printed.splitlines() if line.startswith(("settle: stopped", "  4 − 16: "))]
    assert stopped == settle.describe(again, design)
    table = json.loads((tmp_path / "results" / "two_rows.json").read_text())["sections"][0]
    (shown,) = table["statistics"]["comparisons"]  # the table's cell is the driver's decision, read at its look
    decided = again.decisions[("4", "16")].comparison
    assert (shown["verdict"], shown["low"], shown["high"]) == (decided.verdict, decided.low, decided.high)
    assert shown["stopped"] == "max seeds reached (4 per row)" and shown["detectable"] > 0
    assert design.describe() in table["statistics"]["method"]
    cell = (tmp_path / "results" / "two_rows.md").read_text()
    assert "unresolved, max seeds reached (4 per row); min. detectable difference (80% power)" in cell
    report_main([f"results_dir={tmp_path / 'results'}", f"hydra.searchpath=[file://{tmp_path}/conf]", "exps=two_rows"])
    again = json.loads((tmp_path / "results" / "two_rows.json").read_text())["sections"][0]  # not narrowed: the
    assert (again["statistics"], again["rows"]) == (table["statistics"], table["rows"])  # same section, same answer


def test_listing_a_sweep_fingerprints_its_data_once_and_finds_the_same_ids(tmp_path, monkeypatch):
    """A settle round lists every (row, seed) of the experiment: an image folder's fingerprint is seconds."""
    from senet_ablate.runs import listing

    overrides = [*TINY, f"results_dir={tmp_path}"]
    ids = [listing.run_state(cfg).run_id for cfg in listing.sweep_configs("gate_sweep", [0, 1], overrides)]
    taken = []
    real = listing.dataset_fingerprint
    monkeypatch.setattr(listing, "dataset_fingerprint", lambda data: taken.append(data) or real(data))
    assert [state.run_id for state in listing.sweep_states("gate_sweep", [0, 1], overrides)] == ids
    assert len(taken) == 1 and len(set(ids)) == 8


@pytest.mark.parametrize(
    ("typed", "key"),
    [("settle.rho=0", "settle.rho"), ("settle.looks=0", "settle.looks"), ("settle.looks=13", "settle.max_seeds")],
)
def test_a_settle_sweep_refuses_a_design_it_cannot_spend_by(typed, key):
    with pytest.raises(ConfigError) as refused:
        settle.plan(["+exp=reduction_sweep", "settle.max_seeds=24", typed])
    assert refused.value.key == key
