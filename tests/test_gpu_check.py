"""The GPU check rehearsed on the CPU: the script that will meet the GPU starts, runs every check
through the same functions it will run there, and says of each: passed, or skipped and why."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.py"
# Only a GPU can show these; every other check must run, and pass, on the CPU too.
GPU_ONLY = {"trainer.compile=true", "fp16 with GradScaler", "CUDA out of memory", "benchmark, compiled"}


def _check(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def _rows(report: str) -> dict[str, tuple[str, str]]:
    """The report's table: check -> (result, detail)."""
    cells = [line.strip("|").split(" | ") for line in report.splitlines() if line.startswith("| ")]
    return {cell[0].strip(): (cell[1], cell[3].strip()) for cell in cells[1:]}


@pytest.mark.slow
def test_the_rehearsal_runs_every_check_and_passes_or_says_why_not(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    from gpu_check import CHECKS

    # a budget for a busy CI machine: the default (6 minutes) is the GPU's
    result = _check("--device", "cpu", "--out", str(tmp_path), "--parallel", "2", "--budget-s", "840", timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    rows = _rows((tmp_path / "gpu_check.md").read_text())
    assert list(rows) == list(CHECKS)  # every check has its row, in order
    dali_here = importlib.util.find_spec("nvidia") is not None and importlib.util.find_spec("nvidia.dali") is not None
    for name, (status, detail) in rows.items():
        may_skip = name in GPU_ONLY or (name == "data.loader=dali" and not dali_here)
        assert status == "passed" or (status == "skipped" and may_skip), (name, status, detail)
        assert detail, name  # passed: what it saw; skipped: the reason
    assert "bit for bit" in rows["kill and resume"][1]
    # the benchmark's CPU section went where --out said, with no GPU figure
    benchmarks = (tmp_path / "benchmarks.md").read_text()
    assert "## CPU (" in benchmarks and "peak memory" not in benchmarks


@pytest.mark.slow
def test_a_rehearsal_never_writes_into_results_and_cuda_needs_a_gpu(tmp_path):
    refused = _check("--device", "cpu")
    assert refused.returncode == 2 and "--device cpu needs --out" in refused.stderr
    if not _gpu_visible():
        no_gpu = _check("--device", "cuda", "--out", str(tmp_path))
        assert no_gpu.returncode == 2 and "no CUDA device is visible" in no_gpu.stderr
    assert not list(tmp_path.iterdir())


def _gpu_visible() -> bool:
    import torch

    return torch.cuda.is_available()


def test_a_failed_check_is_reported_with_its_error_and_the_others_still_run(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import gpu_check

    def broken(ctx):
        raise gpu_check.CheckFailed("exit status 1, expected 0", "Traceback ...\nRuntimeError: CUDA error")

    def skipped(ctx):
        raise gpu_check.Skipped("needs CUDA")

    checks = {"broken": broken, "skipped": skipped, "fine": lambda ctx: "it worked", "raises": lambda ctx: 1 / 0}
    monkeypatch.setattr(gpu_check, "CHECKS", {name: gpu_check.Check(check) for name, check in checks.items()})
    ctx = gpu_check.Context("cpu", gpu_check.CPU_SIZES, tmp_path, tmp_path, deadline=float("inf"))
    report = gpu_check.Report(tmp_path / "gpu_check.md", ctx, list(checks))
    gpu_check.run_checks(report, parallel=2)
    assert report.failed
    rows = _rows(report.path.read_text())
    assert rows == {
        "broken": ("failed", "exit status 1, expected 0"),
        "skipped": ("skipped", "needs CUDA"),
        "fine": ("passed", "it worked"),
        "raises": ("failed", "ZeroDivisionError: division by zero"),
    }
    assert "RuntimeError: CUDA error" in report.path.read_text()  # the run's output, under the table
