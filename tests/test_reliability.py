import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "reliability.py"


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
    faults = [
        *("kill anywhere", "damaged checkpoint", "corrupt image", "NaN/inf loss", "concurrent writers"),
        *("stop signal to the group", "suspended claim", "foreign claim", "full disk", "read-only results dir"),
        *("shared results dir", "same-size images", "16-bit PNG", "one line for a mistake", "top-5 with 5 classes"),
        *("report mistakes", "copied record", "record from another schema", "bad predictions file"),
        *("non-finite metric", "interpolation in a record", "unsafe row label", "duplicate row labels"),
        *("results dir in the dataset", "seed out of range", "300-character label", "non-UTF-8 data.root"),
        *("planted CIFAR pickle", "truncated CIFAR file", "symlinked class folder"),
    ]
    # --quick leaves these to the suite's own tests of each fault (they train, watch or wait), and says so
    left_to_their_tests = [
        *("other pid namespace", "clock behind", "requeue after a dead node", "broken sibling experiment"),
        *("planted symlink", "two configs one log dir", "two umasks in a setgid dir", "claim path is a dir"),
        *("planted checkpoint", "open-file limit"),
    ]
    assert "Left to their own tests by --quick: " + ", ".join(left_to_their_tests) + "." in report
    for fault in faults:
        staged_here = fault not in ("full disk", "read-only results dir") or "refuses a mount namespace" not in report
        assert f"| {fault} | " in report or not staged_here, fault
    assert "LOST" not in report
