"""The sweep planner: every run with its state, the cost of what is left, the command that runs it."""

import pytest

from senet_ablate.config import apply_row, compose_config
from senet_ablate.errors import ConfigError
from senet_ablate.plan import plan
from senet_ablate.run import run_job

TINY = [
    "model=resnet20",
    "data=synthetic",
    "data.train_size=64",
    "data.val_size=32",
    "trainer=smoke",
    "trainer.epochs=2",
    "trainer.batch_size=32",
    "trainer.device=cpu",
    "trainer.progress=false",
]


def test_a_half_finished_sweep_lists_every_run_and_costs_what_is_left_from_its_completed_runs(tmp_path):
    overrides = [*TINY, f"results_dir={tmp_path}"]
    done = run_job(apply_row(compose_config(["+exp=gate_sweep", *overrides]), "Tanh"))
    lines = plan(["+exp=gate_sweep", "seed=0,1", *overrides])
    assert lines[0] == "gate_sweep: 6 runs (3 rows x 2 seeds)"
    states = [line for line in lines if line.startswith("row ")]
    assert len(states) == 6 and sum(" completed " in line for line in states) == 1
    assert any(line.startswith("row Tanh         seed 0  " + done["run_id"]) for line in states)
    assert "left: 5 runs (0 running elsewhere), 10 epochs x 64 images" in lines
    speed = done["images_per_s"]
    assert f"throughput: {speed:.1f} images/s, from the mean of 1 completed runs of this sweep" in "\n".join(lines)
    hours = 10 * 64 / speed / 3600
    assert any(line.startswith(f"estimate: {hours:.3g} h of training") for line in lines)
    command = ["python", "-m", "senet_ablate", "+exp=gate_sweep", *overrides, "exp.row=ReLU,Tanh,Sigmoid", "seed=0,1"]
    assert lines[-1] == "  " + " ".join(command)


def test_with_no_completed_run_a_timed_probe_gives_the_throughput(tmp_path):
    lines = plan(["+exp=gate_sweep", "exp.row=ReLU", *TINY, f"results_dir={tmp_path}"])
    assert "left: 1 runs (0 running elsewhere), 2 epochs x 64 images" in lines
    assert any("from a 3-step probe at batch 8 on cpu" in line for line in lines)


def test_the_planner_needs_an_experiment():
    with pytest.raises(ConfigError, match=r"\+exp=None .* name an experiment file"):
        plan(["model=resnet20"])
