"""Sweeps through Hydra's submitit launcher: the SLURM preset as sbatch sees it, a laptop
rehearsal with `hydra/launcher=submitit_local` (requeue after the warning signal included), and
sweep state read from records and claims only."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SMALL, TINY

from senet_ablate.config import apply_row, compose_config
from senet_ablate.engine.machine import for_device
from senet_ablate.records.claims import claim_path
from senet_ablate.records.store import config_dict, iter_records, record_path, runs_dir, write_record
from senet_ablate.report import write_reports
from senet_ablate.runs.listing import run_state, sweep_states
from senet_ablate.runs.run import run_job

RUN = [*TINY, *SMALL, "data.num_workers=0", "trainer.epochs=1"]
GATE_ROWS = ["ReLU", "Tanh", "Sigmoid", "ResNet-50"]


def _cli(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "senet_ablate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow  # starts the CLI
def test_the_slurm_preset_submits_one_task_per_gpu_with_the_warning_signal(tmp_path):
    """sbatch is replaced by a script that keeps what it is given and refuses, so nothing runs
    (and srun by one that does nothing: submitit looks for it to tell it is on a cluster)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "sbatch": f'cp "$1" {tmp_path}/submitted.sh\necho "sbatch: no cluster here" >&2\nexit 1',
        "srun": "exit 0",
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    result = _cli(
        "+exp=gate_sweep",
        *RUN,
        f"results_dir={tmp_path}/results",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.account=vision",
        "hydra.launcher.gpus_per_node=4",
        "hydra.launcher.nodes=2",
        "hydra.launcher.array_parallelism=2",
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    assert result.returncode != 0  # the fake sbatch refused
    script = (tmp_path / "submitted.sh").read_text()
    for directive in (
        "--partition=gpu",
        "--account=vision",
        "--nodes=2",
        "--gpus-per-node=4",
        "--ntasks-per-node=4",  # one task per GPU
        "--cpus-per-task=10",
        "--signal=USR2@120",  # the warning signal, 2 minutes before the time limit
        "--array=0-3%2",  # one job per row, at most array_parallelism at once
        "--time=2880",
        "--job-name=senet_ablate",
    ):
        assert f"#SBATCH {directive}\n" in script, directive
    assert "srun" in script


@pytest.mark.slow
def test_a_submitit_local_sweep_completes_every_row_and_its_summary_and_table_list_them(tmp_path):
    results = tmp_path / "results"
    result = _cli("+exp=gate_sweep", *RUN, f"results_dir={results}", "hydra/launcher=submitit_local")
    assert result.returncode == 0, result.stderr[-3000:]
    records = list(iter_records(results))
    assert sorted(r["label"] for r in records) == sorted(GATE_ROWS)
    assert all(r["status"] == "completed" for r in records)
    summary = [line for line in (result.stdout + result.stderr).splitlines() if "] row " in line]
    assert len(summary) == len(GATE_ROWS) and all("completed" in line for line in summary), summary
    table = (results / "gate_sweep.md").read_text()
    for row in GATE_ROWS:
        assert f"| {row} | " in table
    assert "pending" not in table


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _job_task_pids(ancestor: int) -> list[int]:
    """Processes below `ancestor` running a submitit job task (submitit.core._submit): only this
    test's, though another test (another pytest worker) may run a job at the same time."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"submitit.core._submit" not in cmdline.read_bytes():
                continue
            pid = parent = int(cmdline.parent.name)
            while parent > 1 and parent != ancestor:
                parent = _parent(parent)
            if parent == ancestor:
                pids.append(pid)
        except OSError:
            continue
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the job's process through /proc")
def test_the_warning_signal_requeues_a_submitit_job_which_resumes_mid_epoch(tmp_path):
    results = tmp_path / "results"
    args = [
        "+exp=gate_sweep",
        "exp.row=ReLU",
        *RUN,
        "data.train_size=3200",  # 100 steps: the signal lands mid-epoch
        f"results_dir={results}",
        "hydra/launcher=submitit_local",
    ]
    sweep = subprocess.Popen(
        [sys.executable, "-m", "senet_ablate", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 300
    while not list(runs_dir(results).glob("*.claim")):  # claimed: the job is training
        assert sweep.poll() is None and time.time() < deadline, "the job never started training"
        time.sleep(0.2)
    time.sleep(1.0)
    (task,) = _job_task_pids(sweep.pid)
    os.kill(task, signal.SIGUSR2)  # what SLURM sends `signal_delay_s` before the time limit
    output, _ = sweep.communicate(timeout=300)
    assert sweep.returncode == 0, output[-3000:]
    (record,) = iter_records(results)
    assert record["status"] == "completed"
    logs = "".join(path.read_text() for path in (results / "logs").rglob("*_log.out"))
    assert "interrupted" in logs and "Requeued job" in logs, logs[-3000:]
    assert "resumed from" in logs and "at step" in logs, logs[-3000:]


@pytest.mark.slow  # trains a run
def test_sweep_state_comes_from_records_and_claims_alone(tmp_path):
    overrides = [*RUN, f"results_dir={tmp_path}"]
    gate_sweep = compose_config(["+exp=gate_sweep", *overrides])
    done = run_job(apply_row(gate_sweep, "ReLU"))
    assert done["status"] == "completed"
    # Tanh: trained on another node, which holds its claim and has written a running record.
    tanh = apply_row(gate_sweep, "Tanh")
    tanh_state = run_state(tanh)
    assert tanh_state.state == "pending"
    config = config_dict(for_device(tanh, "cpu"))  # a record holds its own run's config: its content is its id
    running = {
        **done,
        "run_id": tanh_state.run_id,
        "config": config,
        "label": "Tanh",
        "status": "running",
        "epochs": [],
    }
    write_record(record_path(tmp_path, tanh_state.run_id), running)
    beat = time.time() - 40
    claim_path(runs_dir(tmp_path), tanh_state.run_id).write_text(
        json.dumps({"host": "gpu-node-12", "pid": 4242, "heartbeat": beat})
    )
    states = {state.label: state for state in sweep_states("gate_sweep", [0], overrides)}
    assert [states[row].state for row in GATE_ROWS] == ["completed", "running", "pending", "pending"]
    # 40 s, or a little more when composing the sweep took seconds (a busy machine)
    assert re.search(r"on gpu-node-12 pid 4242, heartbeat 4\d s ago", states["Tanh"].describe())
    assert [s.label for s in sweep_states("gate_sweep", [0, 1], overrides, rows=["Tanh"])] == ["Tanh", "Tanh"]

    report = write_reports(tmp_path, tmp_path, exps=["gate_sweep"], overrides=RUN)[0].read_text()
    assert "gpu-node-12" in report and "running" in report

    claim_path(runs_dir(tmp_path), tanh_state.run_id).unlink()  # the node died without a word
    assert run_state(tanh).state == "stopped"


def test_wandb_groups_a_sweep_by_experiment_and_seeds_with_the_row_as_name_and_job_type(tmp_path, monkeypatch):
    import sys as _sys
    import types

    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf, open_dict

    from senet_ablate.config import CONFIG_DIR, name_experiment
    from senet_ablate.runs.loggers import WandbLogger

    calls = []
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setitem(_sys.modules, "wandb", types.SimpleNamespace(init=lambda **kwargs: calls.append(kwargs)))
    sweep_dir = tmp_path / "logs" / "gate_sweep"
    sweep_dir.mkdir(parents=True)
    # What Hydra's sweeper writes before launching `+exp=gate_sweep seed=0,1,2`; a job sees only its own seed.
    task = ["+exp=gate_sweep", "seed=0,1,2", "model=resnet20"]
    OmegaConf.save(
        {"hydra": {"overrides": {"task": task}, "sweeper": {"params": {"seed": 0}}}}, sweep_dir / "multirun.yaml"
    )
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        overrides = ["+exp=gate_sweep", "exp.row=Tanh", "seed=1", "logger=wandb", f"results_dir={tmp_path}"]
        job = compose("config", overrides, return_hydra_config=True)
    with open_dict(job):
        job.hydra.mode = RunMode.MULTIRUN
        job.hydra.sweep.dir = str(sweep_dir)
    HydraConfig.instance().set_config(job)
    name_experiment(job, job.hydra.runtime.choices)  # as the training CLI does before run_job
    with open_dict(job):
        del job["hydra"]  # a job's own config, as run_job gets it
    try:
        WandbLogger(job, "abc123")
    finally:
        HydraConfig.instance().cfg = None
    (init,) = calls
    assert (init["group"], init["name"], init["job_type"]) == ("gate_sweep seeds 0,1,2", "Tanh seed1", "Tanh")
    assert (init["id"], init["resume"], init["mode"]) == ("abc123", "allow", "offline")  # requeued: same wandb run
