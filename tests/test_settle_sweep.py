"""A settle sweep end to end on CPU, through the same command line as any sweep: two rounds of
generated data and the smoke trainer, then the same command again, which trains nothing."""

import subprocess
import sys

import pytest
from helpers import TINY

from senet_ablate.records.store import iter_records
from senet_ablate.runs import settle

EXP = """# @package _global_
defaults:
  - /sweep: rows
exp:
  table: two_rows
  reference: "16"
  rows:
    - {label: "4", set: [se.reduction=4]}
    - {label: "16", set: [se.reduction=16]}
"""


def _argv(tmp_path) -> list[str]:
    return [
        f"hydra.searchpath=[file://{tmp_path}/conf]",
        "+exp=two_rows",
        *TINY,
        "data.train_size=16",
        "data.val_size=8",
        "trainer.batch_size=8",
        "trainer.epochs=1",
        f"results_dir={tmp_path / 'results'}",
        "settle.max_seeds=4",
        "settle.looks=2",
    ]


@pytest.mark.slow  # trains eight smoke runs in two sweeps
def test_a_settle_sweep_runs_rounds_until_its_maximum_and_the_same_command_then_trains_nothing(tmp_path):
    (tmp_path / "conf" / "exp").mkdir(parents=True)
    (tmp_path / "conf" / "exp" / "two_rows.yaml").write_text(EXP)
    command = [sys.executable, "-m", "senet_ablate", *_argv(tmp_path)]
    first = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False
    )
    assert first.returncode == 0, first.stdout[-3000:]
    assert "settle: round of 4, 16 x seeds 0-1" in first.stdout
    assert "settle: round of 4, 16 x seeds 0-3" in first.stdout  # no verdict at 2 seeds per row: a second round
    records = list(iter_records(tmp_path / "results"))
    assert sorted((r["label"], r["seed"]) for r in records) == sorted((row, s) for row in ("4", "16") for s in range(4))
    assert all(record["status"] == "completed" for record in records)
    _, design, again = settle.plan(_argv(tmp_path))  # the same command again (after a kill or not) reads
    assert again.stop is not None and again.rows == ()  # the records: no round left to run, the same decisions
    printed = [line for line in first.stdout.splitlines() if line.startswith(("settle: stopped", "  4 − 16: "))]
    assert printed == settle.describe(again, design)


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
