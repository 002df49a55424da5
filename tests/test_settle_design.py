"""One question, one answer: a settle sweep declares its design before its first round, and every table
of its setting, the driver's or a later report's, is read off it; the results dir is shared, so a
planted or malformed declaration is refused, and a second design for the same runs too. Hand-made
records, no training."""

import json
import os
import re

import pytest
from helpers import TWO_ROWS
from omegaconf import OmegaConf

from senet_ablate.base.cli import run_cli
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import apply_row, compose_config
from senet_ablate.data import dataset_fingerprint
from senet_ablate.engine.machine import for_device
from senet_ablate.records.store import config_dict, new_record, record_path, run_id, write_record
from senet_ablate.report.__main__ import main as report_main
from senet_ablate.report.sequential import Settle
from senet_ablate.report.settle_design import declarations, declare, folder, settle_of
from senet_ablate.runs import settle

# Row 4 two points better at a tiny spread: settled at the first look (2 seeds per row), where the fixed
# design reads all 4 seeds.
TOP1 = {"4": [23.0, 23.02, 22.99, 23.01], "16": [25.0, 25.01, 24.98, 25.02]}


@pytest.fixture
def results(tmp_path):
    (tmp_path / "conf" / "exp").mkdir(parents=True)
    (tmp_path / "conf" / "exp" / "two_rows.yaml").write_text(TWO_ROWS)
    return tmp_path / "results"


def search(results) -> str:
    return f"hydra.searchpath=[file://{results.parent}/conf]"


def argv(results, max_seeds: int = 4, looks: int = 2, *more: str) -> list[str]:
    """The settle command: nothing narrows its setting but the experiment file's own defaults."""
    return [
        search(results),
        "+exp=two_rows",
        f"results_dir={results}",
        f"settle.max_seeds={max_seeds}",
        f"settle.looks={looks}",
        *more,
    ]


def add_runs(results, seeds: range) -> None:
    """Completed records of both rows, as the trainer files them (on the CPU, with their data's fingerprint)."""
    base = compose_config([search(results), "+exp=two_rows", f"results_dir={results}"])
    fingerprint = dataset_fingerprint(base.data)
    for label, values in TOP1.items():
        for seed in seeds:
            cfg = for_device(OmegaConf.merge(apply_row(base, label), {"seed": seed}), "cpu")
            run = run_id(cfg, fingerprint)
            record = new_record(
                run_id=run, status="completed", exp="two_rows", label=label, seed=seed, config=config_dict(cfg),
                data_fingerprint=fingerprint,
                top1_err=values[seed], env={"code_version": "abc1234", "world_size": 1},
                started_at="2025-01-01T00:00:00+00:00", updated_at=f"2025-01-01T0{seed}:00:00+00:00",
            )  # fmt: skip
            write_record(record_path(results, run), record)


def report(capsys, results) -> tuple[int, str]:
    """`python -m senet_ablate.report exps=two_rows` of the results dir, nothing narrowing it (every
    table, `exps=all`, is tens of seconds): (exit status, stderr)."""
    try:
        run_cli(report_main, [f"results_dir={results}", search(results), "exps=two_rows"])
    except SystemExit as stopped:
        return stopped.code, capsys.readouterr().err
    return 0, capsys.readouterr().err


def table(results) -> tuple[str, dict]:
    """The table's markdown and its section's statistics, the time it was generated left out."""
    md = re.sub(r"Generated \S+\.", "Generated <time>.", (results / "two_rows.md").read_text())
    return md, json.loads((results / "two_rows.json").read_text())["sections"][0]["statistics"]


def test_after_a_settle_sweep_a_bare_report_writes_the_drivers_table(results, capsys):
    add_runs(results, range(1))  # the driver killed in round one: its partial state is read sequentially too
    _, _, step = settle.plan(argv(results))
    assert step.stop is None and step.seeds == 2
    assert report(capsys, results) == (0, "")
    _, partial = table(results)
    assert "Settle sweep, group-sequential: 2 looks at 2, 4 seeds per row" in partial["method"]
    assert partial["comparisons"][0]["stopped"] == "its first look (2 seeds per row) not reached yet"
    add_runs(results, range(1, 4))
    settle.main(argv(results), lambda overrides: pytest.fail(f"no round left to run: {overrides}"))
    assert "settle: table " in capsys.readouterr().err
    driver, decided = table(results)
    (shown,) = decided["comparisons"]
    assert shown["seeds"] == [2, 2] and shown["stopped"] == "settled after 2 seeds per row (look 1 of 2)"
    assert report(capsys, results) == (0, "")
    assert table(results) == (driver, decided)  # the same cells, claims, stop reasons and method line


def test_a_planted_link_to_a_declaration_is_refused_and_nothing_is_written_through_it(results, capsys, tmp_path):
    """The report refuses the table in one line naming the file and writes nothing; the driver refuses
    before any round; nothing is written through the link."""
    add_runs(results, range(2))
    victim = tmp_path / "victim.json"
    victim.write_text("theirs\n")
    folder(results, "two_rows").mkdir(parents=True)
    link = folder(results, "two_rows") / "0123456789abcdef.json"
    os.symlink(victim, link)
    status, err = report(capsys, results)
    assert status == 1 and f"error: table two_rows not written: ConfigError: {link}: file='a symbolic link' " in err
    assert not (results / "two_rows.md").exists()
    with pytest.raises(ConfigError, match="symbolic link"):
        settle.plan(argv(results))
    assert victim.read_text() == "theirs\n" and link.is_symlink()


def test_a_planted_link_to_the_declarations_folder_is_refused(results, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "victim.json").write_text("theirs\n")
    folder(results, "two_rows").parent.mkdir(parents=True)
    os.symlink(elsewhere, folder(results, "two_rows"))
    with pytest.raises(ConfigError, match=f"{folder(results, 'two_rows')}: file='a symbolic link'"):
        settle.plan(argv(results))
    assert os.listdir(elsewhere) == ["victim.json"] and (elsewhere / "victim.json").read_text() == "theirs\n"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"looks": 0}, "looks=0 is not allowed: a whole number of looks, at least 1"),
        ({"max_seeds": 3}, "max_seeds=3 is not allowed: a whole number of seeds per row, at least 2 per look (4)"),
        ({"budget_gpu_hours": -1}, "budget_gpu_hours=-1 is not allowed: a positive number"),
        ({"experiment": "gate_sweep"}, "experiment='gate_sweep' is not allowed: 'two_rows'"),
        ({"rho": 0}, "rho=0 is not allowed: a positive exponent"),
        ({"looks": None}, "looks=None is not allowed: a whole number of looks, as the settle command resolves them"),
        ({"setting": ["model.name"]}, "setting=['model.name'] is not allowed: an object"),
        ({"extra": 1}, "fields=["),
        ({"max_seeds": "NaN"}, "json="),
    ],
)
def test_a_malformed_declaration_is_one_error_naming_the_file_the_field_the_value_and_what_is_allowed(
    results, change, expected
):
    declare(results, "two_rows", {"model.name": "resnet20"}, Settle(4, 2))
    (declared,) = declarations(results, "two_rows")
    content = json.loads(declared.path.read_text())
    text = json.dumps({**content, **change}).replace('"NaN"', "NaN")
    declared.path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        declarations(results, "two_rows")
    assert str(refused.value).startswith(f"{declared.path}: ") and expected in str(refused.value)
    assert "remove the file" in str(refused.value) and "\n" not in str(refused.value)


def test_a_second_design_for_the_same_runs_is_refused_until_the_declaration_is_removed(results):
    add_runs(results, range(2))
    settle.plan(argv(results))
    settle.plan(argv(results))  # the same command again: continues
    (declared,) = declarations(results, "two_rows")
    with pytest.raises(ConfigError) as refused:
        settle.plan(argv(results, 6))
    message = str(refused.value)
    assert f"{declared.path} declares settle.max_seeds=4 settle.looks=2" in message and "remove that file" in message
    with pytest.raises(ConfigError, match="breaks its error control"):
        settle.plan(argv(results, 4, 1))
    _, design, _ = settle.plan(argv(results, 4, 2, "settle.budget_gpu_hours=5"))  # a budget decides nothing
    assert [d.settle.budget_gpu_hours for d in declarations(results, "two_rows")] == [5.0]
    declared.path.unlink()
    _, design, _ = settle.plan(argv(results, 6, 3))
    assert design.looks == (2, 4, 6)


def test_two_declarations_of_different_designs_for_one_setting_are_refused_naming_both(results):
    """One written by a settle command, the other put beside it by hand (the command refuses to)."""
    first = declare(results, "two_rows", {"model.name": "resnet20"}, Settle(4, 2))
    content = json.loads(first.read_text())
    second = first.with_name("fedcba9876543210.json")
    second.write_text(json.dumps({**content, "setting": {"model.name": "resnet20", "seed": 1}, "max_seeds": 6}))
    found = declarations(results, "two_rows")
    assert settle_of(found, {"model.name": "resnet20", "seed": 2}) == Settle(4, 2)  # only the first covers it
    with pytest.raises(ConfigError) as refused:
        settle_of(found, {"model.name": "resnet20", "seed": 1})
    shown = "settle.max_seeds=6 settle.looks=2 settle.rho=3"
    assert str(refused.value).startswith(f"{second}: design='{shown}' is not allowed: ")
    assert f"but {first} declares settle.max_seeds=4 settle.looks=2 settle.rho=3 for it too" in str(refused.value)
