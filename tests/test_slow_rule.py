"""The slow rule of conftest.py: a test not marked slow that trains or starts a process fails,
under pytest-xdist too; one marked slow may. Checked on a suite of four tests run by pytest."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = """
import subprocess

import pytest
from torch.utils.data import DataLoader

from senet_ablate.config import compose_config
from senet_ablate.engine.trainer import Trainer


def test_starts_a_process():
    subprocess.run(["true"], check=True)


def test_swallows_the_refusal():
    try:
        subprocess.run(["true"], check=True)
    except BaseException:
        pass


def test_starts_a_loader_worker():
    assert list(DataLoader(range(4), num_workers=1)) != []


def test_trains():
    Trainer.fit(None, on_epoch=print)


@pytest.mark.slow
def test_marked_slow_starts_a_process_and_a_worker():
    subprocess.run(["true"], check=True)
    assert [int(batch) for batch in DataLoader(range(4), num_workers=1)] == [0, 1, 2, 3]


def test_plain():
    assert compose_config(["model=resnet20"]).model.name == "resnet20"
"""


@pytest.mark.slow  # starts pytest
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_an_unmarked_test_that_trains_or_starts_a_process_fails_and_a_marked_one_runs(tmp_path, workers):
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_suite.py").write_text(SUITE)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-W", "ignore", *workers, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "1000"},  # whole lines in the summary
    )
    out = result.stdout
    assert result.returncode == 1, out[-3000:]
    failed = set(re.findall(r"^(?:ERROR|FAILED) \S*::(\w+)", out, re.M))
    assert set(re.findall(r"^PASSED \S*::(\w+)", out, re.M)) - failed == {
        "test_marked_slow_starts_a_process_and_a_worker",
        "test_plain",
    }, out[-3000:]
    for test, what in [
        ("test_starts_a_process", r"starts a process \(subprocess: true\)"),
        ("test_swallows_the_refusal", r"starts a process \(subprocess: true\)"),  # failed at teardown
        ("test_starts_a_loader_worker", r"starts a process \(a DataLoader worker"),
        ("test_trains", r"trains \(Trainer.fit\)"),
    ]:
        assert re.search(rf"^(ERROR|FAILED) \S*::{test} - .*{what}", out, re.M), (test, out[-3000:])
