"""The GPU check's structure, its fail-fast runs, and its kill-and-resume check's eye for a wrong
resume. The whole check is rehearsed on the CPU by `make gpu-rehearsal` (a step of .ci/run): the
same command as on the GPU machine, into a temporary --out."""

import dataclasses
import sys
import threading
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.py"


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import gpu_check

    return gpu_check


def _rows(report: str) -> dict[str, tuple[str, str, str]]:
    """The checks' table: check -> (section, result, detail)."""
    cells = [line.strip("|").split(" | ") for line in report.splitlines() if line.count(" | ") == 4]
    return {cell[1].strip(): (cell[0].strip(), cell[2], cell[4].strip()) for cell in cells[1:]}


def test_the_sections_come_in_the_order_one_loan_wants_and_fit_8_minutes(gpu_check):
    sections = gpu_check.SECTIONS
    assert [section.name for section in sections] == ["preflight", "key figures", "CUDA paths", "compile"]
    # 8 minutes with about half a minute to install the wheels and generate the data
    assert sum(section.budget_s for section in sections) <= 450
    assert sections[0].budget_s <= 10 and sections[0].needs == ()
    # compile comes last, and compiles ours against timm's SE-ResNet-50 and one short training run only
    assert gpu_check.COMPILED_MODELS == ("ours SE-ResNet-50", "timm seresnet50")
    assert list(sections[-1].checks) == ["compiled benchmark: ours vs timm SE-ResNet-50", "trainer.compile=true"]
    earlier = [name for section in sections[:-1] for name in section.checks]
    assert not [name for name in earlier if name.startswith("compiled") or "compile=" in name]
    # every run of the short CUDA paths is given about 2 minutes, no more
    assert {check.limit_s for check in sections[2].checks.values()} == {120}
    # the figures are timed one at a time, with the device to themselves: the benchmark, then cifar_fast
    assert list(sections[1].checks) == ["eager benchmark: ours vs timm", "trainer=cifar_fast epochs/s"]
    assert sections[1].parallel == 1


def test_the_rehearsal_scales_budgets_by_the_cpu_and_its_load_the_gpu_keeps_them(gpu_check, monkeypatch):
    monkeypatch.setattr(gpu_check.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(gpu_check.os, "getloadavg", lambda: (8.0, 0.0, 0.0))
    assert gpu_check.time_scale(gpu_check.GPU_SIZES) == 1.0
    assert gpu_check.time_scale(gpu_check.CPU_SIZES) == gpu_check.CPU_SCALE * 4  # 8 runnable on 2 cores
    monkeypatch.setattr(gpu_check.os, "getloadavg", lambda: (0.5, 0.0, 0.0))
    assert gpu_check.time_scale(gpu_check.CPU_SIZES) == gpu_check.CPU_SCALE  # an idle machine: no less


def test_a_section_over_its_budget_fails_and_leaves_what_ended_before_it(gpu_check, monkeypatch, tmp_path):
    release, seen_mid_section = threading.Event(), []

    def hangs(ctx):  # a machine taken back now would leave the outcome of the check beside it
        for _ in range(40):
            if "quick" in _rows((tmp_path / "gpu_check.md").read_text()):
                seen_mid_section.append(True)
                break
            time.sleep(0.01)
        release.wait(30)
        return "ended after its section's deadline"

    def reads_the_report(ctx):  # the results of the sections before it are already on disk
        return "saw: " + ", ".join(name for name in _rows((tmp_path / "gpu_check.md").read_text()))

    check, section = gpu_check.Check, gpu_check.Section
    monkeypatch.setattr(gpu_check, "GRACE_S", 0.1)
    monkeypatch.setattr(
        gpu_check,
        "SECTIONS",
        (
            section("first", 5, {"fine": check(lambda ctx: "it worked")}, needs=()),
            section("slow", 0.5, {"quick": check(lambda ctx: "in time"), "hangs": check(hangs)}, parallel=2),
            section("last", 5, {"reader": check(reads_the_report)}),
        ),
    )
    ctx = gpu_check.Context("cpu", gpu_check.CPU_SIZES, tmp_path, tmp_path)  # budgets as given: scale 1
    report = gpu_check.Report(tmp_path / "gpu_check.md", ctx)
    started = time.monotonic()
    try:
        gpu_check.run_sections(ctx, report)
    finally:
        release.set()
    assert time.monotonic() - started < 5  # the hanging check did not hold the rest up
    assert seen_mid_section
    text = report.path.read_text()
    assert report.failed
    assert "| slow | " in text and "OVER BUDGET" in text.split("| slow | ")[1].splitlines()[0]
    assert "| first | " in text and "within budget" in text.split("| first | ")[1].splitlines()[0]
    assert _rows(text) == {
        "fine": ("first", "passed", "it worked"),
        "quick": ("slow", "passed", "in time"),
        "hangs": ("slow", "failed", "still running at its section's deadline"),
        "reader": ("last", "passed", "saw: fine, quick, hangs"),
    }


def test_a_failed_preflight_skips_what_needs_it_and_says_why(gpu_check, tmp_path, monkeypatch):
    def no_cli(ctx):
        ctx.failed_preflight["cli"] = "`python -m senet_ablate --help` failed"
        raise gpu_check.CheckFailed("exit status 1")

    check, section = gpu_check.Check, gpu_check.Section
    sections = (section("preflight", 5, {"cli": check(no_cli)}, needs=()), section("runs", 5, {"a run": check(str)}))
    monkeypatch.setattr(gpu_check, "SECTIONS", sections)
    ctx = gpu_check.Context("cpu", gpu_check.CPU_SIZES, tmp_path, tmp_path)
    report = gpu_check.Report(tmp_path / "gpu_check.md", ctx)
    gpu_check.run_sections(ctx, report)
    assert _rows(report.path.read_text()) == {
        "cli": ("preflight", "failed", "exit status 1"),
        "a run": ("runs", "skipped", "preflight: `python -m senet_ablate --help` failed"),
    }


@pytest.mark.slow
def test_a_run_past_its_limit_is_killed_with_what_it_started_in_other_sessions(gpu_check, tmp_path):
    """torchrun starts each rank in a session of its own: a kill must reach them, and the check
    must not wait for the end of an output they hold open."""
    grandchild = tmp_path / "grandchild.pid"
    spawn = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True); "
        f"open({str(grandchild)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(60)"
    )
    ctx = gpu_check.Context("cpu", gpu_check.CPU_SIZES, tmp_path, tmp_path, run_limit_s=3)
    run = gpu_check.Run([sys.executable, "-c", spawn], ctx)
    run.wait_for("started")
    started = time.monotonic()
    with pytest.raises(gpu_check.CheckFailed, match="killed"):
        run.finish()
    assert time.monotonic() - started < 4  # the limit, and no wait for the pipe to close
    assert "no end of output" not in run.text
    pid = int(grandchild.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.mark.slow
def test_kill_and_resume_fails_on_a_resume_that_loses_the_optimizer_state(gpu_check, tmp_path, monkeypatch):
    """With a tolerance as loose as CUDA's, a resume that restores everything but the optimiser's
    momentum still fails: the data is learnable, so lost state shows in the losses."""
    mutation = tmp_path / "mutation"
    mutation.mkdir()
    (mutation / "sitecustomize.py").write_text(
        "import torch\ntorch.optim.Optimizer.load_state_dict = lambda self, state: None  # starts afresh\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(mutation))
    work = tmp_path / "work"
    sizes = dataclasses.replace(gpu_check.CPU_SIZES, resume_tolerance=gpu_check.GPU_SIZES.resume_tolerance)
    ctx = gpu_check.Context("cpu", sizes, work, tmp_path, run_limit_s=600)
    gpu_check.write_cifar_batches(work / "cifar", sizes.images_per_cifar_file)
    with pytest.raises(gpu_check.CheckFailed, match="resumed run: losses .* apart"):
        gpu_check.kill_and_resume(ctx)


def test_the_cifar_fast_timing_reads_epochs_after_the_first_and_projects_a_10_seed_reduction_table(gpu_check, tmp_path):
    epochs = [{"epoch_time_s": seconds} for seconds in (9.0, 2.0, 2.1, 3.0)]  # the first: warm-up
    record = {"config": {"trainer": {"batch_size": 512}}, "epochs": epochs}
    # 5 x 4096 + 4096 images, CIFAR-10's 5 to 1: the median epoch after the first, x 10,000 / 4096
    assert gpu_check.cifar_epoch_seconds(record, 4096) == pytest.approx(2.1 * 10_000 / 4096)
    with pytest.raises(gpu_check.CheckFailed, match="no whole batches of 512"):
        gpu_check.cifar_epoch_seconds(record, 1000)
    with pytest.raises(gpu_check.CheckFailed, match="none after the warm-up epoch"):
        gpu_check.cifar_epoch_seconds({**record, "epochs": epochs[:1]}, 4096)
    assert gpu_check.projected_hours(60, 20, 0.2) == pytest.approx(60 * 20 / 0.2 / 3600)
    projection = gpu_check.Projection(0.2)  # reduction_sweep's rows x 10 seeds, cifar_fast's epochs
    assert (projection.rows, projection.runs, projection.epochs) == (6, 60, 20)
    ctx = gpu_check.Context("cpu", gpu_check.CPU_SIZES, tmp_path, tmp_path)
    text = gpu_check.timing_section(ctx, {"resnet20": 1.0, "resnet110": 5.0}, "fp32, NCHW", 8, projection)
    assert "CPU smoke" in text.splitlines()[0]  # a CPU's tiny epochs are no throughput figure
    assert "| ResNet-20 | 1 | 1 | 0.3 min |" in text and "| ResNet-110 | 5 | 0.2 | 1.7 min |" in text
    assert "60 x 20 epochs / 0.2 epochs/s = **1.7 h** on this CPU" in text
