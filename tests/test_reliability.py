import ast
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "reliability.py"
# --quick leaves these to the suite's own tests of each fault (QUICK_LEAVES_OUT names them), and says so
LEFT_TO_THEIR_TESTS = [
    *("damaged checkpoint", "corrupt image", "NaN/inf loss", "concurrent writers", "refused input"),
    *("stop signal to the group", "suspended claim", "foreign claim", "read-only results dir"),
    *("same-size images", "16-bit PNG", "one line for a mistake", "report mistakes"),
    *("record from another schema", "bad predictions file", "non-finite metric", "interpolation in a record"),
    *("unsafe row label", "duplicate row labels", "results dir in the dataset", "300-character label"),
    *("non-UTF-8 data.root", "planted CIFAR pickle", "truncated CIFAR file", "symlinked class folder"),
    *("other pid namespace", "clock behind", "requeue after a dead node", "broken sibling experiment"),
    *("planted symlink", "two configs one log dir", "two umasks in a setgid dir", "claim path is a dir"),
    *("planted checkpoint", "open-file limit"),
]


@pytest.mark.slow
def test_fault_injection_harness_survives_and_writes_its_report(tmp_path):
    """The harness behind `make reliability`, with fewer kills and trials: every fault survived, none lost."""
    out = tmp_path / "reliability.md"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--kills", "2", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = out.read_text()
    # no test of their own stages these end to end; the last two run the harness's refusal and report helpers
    faults = ["kill anywhere", "full disk", "shared results dir", "copied record", "seed out of range"]
    assert "Left to their own tests by --quick: " + ", ".join(LEFT_TO_THEIR_TESTS) + "." in report
    for fault in faults:
        staged_here = fault != "full disk" or "refuses a mount namespace" not in report
        assert f"| {fault} | " in report or not staged_here, fault
    for fault in LEFT_TO_THEIR_TESTS:
        assert f"| {fault} | " not in report, fault
    assert "LOST" not in report


def test_each_fault_quick_leaves_out_names_tests_that_exist():
    """--quick leaves each of these faults to the tests named beside it: a test renamed or deleted
    would leave its fault to nothing in the suite."""
    left_out = runpy.run_path(str(SCRIPT))["QUICK_LEAVES_OUT"]
    assert list(left_out) == LEFT_TO_THEIR_TESTS
    for fault, tests in left_out.items():
        assert tests, fault
        for test in tests:
            path, name = test.split("::")
            module = ast.parse((ROOT / path).read_text())
            assert name in {node.name for node in module.body if isinstance(node, ast.FunctionDef)}, (fault, test)
