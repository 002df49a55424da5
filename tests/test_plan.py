"""The sweep planner: every run with its state, the cost of what is left, the command that runs it."""

import functools

import pytest
import torch
from helpers import SMALL, TINY
from omegaconf import OmegaConf

from senet_ablate import plan as planner
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import apply_row, compose_config
from senet_ablate.data import dataset_fingerprint
from senet_ablate.engine.machine import for_device
from senet_ablate.plan import plan
from senet_ablate.records.store import config_dict, new_record, record_path, run_id, write_record
from senet_ablate.report.experiments import load_experiment
from senet_ablate.runs.run import run_job

RUN = [*TINY, *SMALL, "trainer.epochs=2"]
# recipe_sweep on generated images: two rows of the SE paper's recipe (300 epochs at 32 px, batch
# 256) and two of timm's A3 (100 epochs, trained at 160 px, batch 2048); A3's image-folder
# augmentations are turned off, which leaves the other rows as they were.
MIXED = [
    "data=synthetic",
    "data.train_size=64",
    "data.val_size=32",
    "trainer.randaugment=null",
    "trainer.eval_crop_pct=null",
    "trainer.interpolation=bilinear",
]


def row_fields(lines: list[str], label: str) -> list[str]:
    """A row's line of the cost table, split after its label: runs, epochs each, epochs left,
    images/epoch, img/s/device, device-h, then the words of where img/s comes from."""
    (line,) = [line for line in lines if line.startswith(f"  {label}  ")]
    return line[len(label) + 2 :].split()


@pytest.fixture
def probes(monkeypatch):
    """The probe replaced by a recorder of (model, SE on, training side, batch): 1000 images/s at
    32 px, 40 at 160 px, so that a row costed at another row's size shows."""
    calls = []

    def probe(cfg, batch):
        side = cfg.trainer.train_image_size or cfg.data.image_size
        calls.append((cfg.model.name, cfg.se.enabled, side, batch))
        return {32: 1000.0, 160: 40.0}[side], "a probe"

    monkeypatch.setattr(planner, "probe_images_per_second", probe)
    return calls


def completed_record(cfg, seed: int, images_per_s: float, wall_time_s: float):
    """A completed record of `cfg` run with `seed` on the CPU, as run_job would file it."""
    cfg = for_device(OmegaConf.merge(cfg, {"seed": seed}), "cpu")
    fingerprint = dataset_fingerprint(cfg.data)
    return new_record(
        run_id=run_id(cfg, fingerprint),
        status="completed",
        seed=seed,
        config=config_dict(cfg),
        data_fingerprint=fingerprint,
        top1_err=50.0,
        images_per_s=images_per_s,
        wall_time_s=wall_time_s,
        env={"world_size": 1},
    )


@pytest.mark.slow  # trains one run
def test_a_half_finished_sweep_costs_a_row_from_the_completed_runs_of_its_other_seeds(tmp_path, probes):
    overrides = [*RUN, f"results_dir={tmp_path}"]
    tanh = apply_row(compose_config(["+exp=gate_sweep", *overrides]), "Tanh")
    done = run_job(OmegaConf.merge(tanh, {"seed": 1}))
    lines = plan(["+exp=gate_sweep", "seed=0,1", *overrides])
    assert lines[0] == "gate_sweep: 8 runs (4 rows x 2 seeds)"
    states = [line for line in lines if line.startswith("row ")]
    assert len(states) == 8 and sum(" completed " in line for line in states) == 1
    assert any(line.startswith("row Tanh         seed 1  " + done["run_id"]) for line in states)
    assert "left: 7 runs (0 running elsewhere), each on 1 device(s)" in "\n".join(lines)
    # Tanh's seed 0 is costed from its seed 1: 2 epochs x 64 images at the run's own images/s
    speed = done["images_per_s"]  # one run, on one device: its images over its time
    assert row_fields(lines, "Tanh")[:6] == ["1", "2", "2", "64", f"{speed:.1f}", f"{2 * 64 / speed / 3600:.3g}"]
    assert " ".join(row_fields(lines, "Tanh")[6:]) == f"measured over 1 completed run(s) on {done['env']['device']}"
    # ReLU, Sigmoid and ResNet-50 are probed, each once for its two seeds, at 8 images (the CPU's cap of 32)
    assert probes == [("resnet20", True, 32, 8), ("resnet20", True, 32, 8), ("resnet20", False, 32, 8)]
    assert row_fields(lines, "ReLU")[:6] == ["2", "2", "4", "64", "1000.0", f"{4 * 64 / 1000 / 3600:.3g}"]
    hours = 2 * 64 / speed / 3600 + 3 * 4 * 64 / 1000 / 3600
    assert any(line.startswith(f"estimate: 14 epochs, {hours:.3g} device-hours") for line in lines)
    rows = "exp.row=ReLU,Tanh,Sigmoid,ResNet-50"
    command = ["python", "-m", "senet_ablate", "+exp=gate_sweep", *overrides, rows, "seed=0,1"]
    assert lines[-1] == "  " + " ".join(command)


def test_throughput_is_the_runs_images_over_their_time_not_a_mean_of_rates(tmp_path, probes):
    overrides = [*RUN, f"results_dir={tmp_path}"]
    tanh = apply_row(compose_config(["+exp=gate_sweep", *overrides]), "Tanh")
    for seed, images_per_s, seconds in ((1, 3000.0, 10.0), (2, 1000.0, 30.0)):
        record = completed_record(tanh, seed, images_per_s, seconds)
        write_record(record_path(tmp_path, record["run_id"]), record)
    lines = plan(["+exp=gate_sweep", "exp.row=Tanh", *overrides])
    speed = (3000 * 10 + 1000 * 30) / (10 + 30)  # 1500 images/s; the mean of the rates would be 2000
    assert row_fields(lines, "Tanh")[:6] == ["1", "2", "2", "64", "1500.0", f"{2 * 64 / 1500 / 3600:.3g}"]
    assert speed == 1500 and " ".join(row_fields(lines, "Tanh")[6:]) == "measured over 2 completed run(s)"
    assert probes == []


def test_a_mixed_sweep_costs_each_row_with_its_own_recipe_and_probes_each_model_once_per_device(
    tmp_path, probes, monkeypatch
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # planned as on a GPU machine
    overrides = [*MIXED, "trainer.device=cuda", f"results_dir={tmp_path}"]
    lines = plan(["+exp=recipe_sweep", "seed=0,1", "devices=4", *overrides])
    assert "left: 8 runs (0 running elsewhere), each on 4 device(s) (as typed)" in lines
    # each row's own epochs and training side; 2 seeds a row
    paper_hours, a3_hours = 2 * 300 * 64 / 1000 / 3600, 2 * 100 * 64 / 40 / 3600
    for label in ("ResNet-50 + SE paper recipe", "SE-ResNet-50 + SE paper recipe"):
        assert row_fields(lines, label)[:6] == ["2", "300", "600", "64", "1000.0", f"{paper_hours:.3g}"]
    for label in ("ResNet-50 + timm A3", "SE-ResNet-50 + timm A3"):
        assert row_fields(lines, label)[:6] == ["2", "100", "200", "64", "40.0", f"{a3_hours:.3g}"]
    # one probe per model and side, at the batch one of 4 devices trains on: 256 / 4 and 2048 / 4
    assert probes == [
        ("resnet50", False, 32, 64),
        ("resnet50", True, 32, 64),
        ("resnet50", False, 160, 512),
        ("resnet50", True, 160, 512),
    ]
    hours = 2 * paper_hours + 2 * a3_hours
    estimate = f"estimate: 1600 epochs, {hours:.3g} device-hours of training = {hours / 4:.3g} h on 4 device(s) per run"
    assert estimate in lines


def test_rows_that_train_the_same_model_at_the_same_size_and_batch_share_one_probe(tmp_path, probes):
    # A3 at the SE paper recipe's size, batch and optimiser differs only in what costs the same per image
    same = ["trainer.train_image_size=null", "trainer.batch_size=256", "trainer.optimizer=sgd", "trainer.device=cpu"]
    lines = plan(["+exp=recipe_sweep", *MIXED, *same, f"results_dir={tmp_path}"])
    assert probes == [("resnet50", False, 32, 8), ("resnet50", True, 32, 8)]
    assert row_fields(lines, "ResNet-50 + timm A3")[:5] == ["1", "100", "100", "64", "1000.0"]


def test_rows_the_run_would_refuse_are_named_with_their_own_epochs_and_not_costed(tmp_path, probes):
    # cifar_sweep on generated images: the Shake rows (1800 epochs) set data.cutout, which only CIFAR has
    lines = plan(["+exp=cifar_sweep", "data=synthetic", "data.train_size=64", f"results_dir={tmp_path}"])
    for label in ("Shake-Shake 26 2x96d + Cutout", "SE-Shake-Even 29 2x4x64d + Cutout"):
        fields = row_fields(lines, label)
        assert fields[:6] == ["1", "1800", "1800", "-", "-", "-"]
        assert " ".join(fields[6:]).startswith("refused when launched: data.cutout=")
    assert row_fields(lines, "SE-WRN-16-8")[:4] == ["1", "164", "164", "64"]
    assert len(probes) == 6  # ResNet-110, -164 and WRN-16-8, without and with SE
    hours = 6 * 164 * 64 / 1000 / 3600
    assert any(
        line == f"estimate: 984 epochs, {hours:.3g} device-hours of training = {hours:.3g} h on 1 device(s) per run;"
        " 4 runs refused when launched are not counted"
        for line in lines
    )


def test_with_no_completed_run_a_timed_probe_gives_the_throughput(tmp_path):
    lines = plan(["+exp=gate_sweep", "exp.row=ReLU", *RUN, f"results_dir={tmp_path}"])
    assert row_fields(lines, "ReLU")[:4] == ["1", "2", "2", "64"]
    assert " ".join(row_fields(lines, "ReLU")[6:]) == "a 3-step probe at batch 8 on cpu"


def test_devices_must_split_each_rows_batch_and_be_a_positive_count(tmp_path, probes):
    lines = plan(["+exp=gate_sweep", "exp.row=ReLU", "devices=3", *RUN, f"results_dir={tmp_path}"])
    refused = "refused when launched: trainer.batch_size=32 is not allowed: a multiple of the 3 processes (devices=)"
    assert " ".join(row_fields(lines, "ReLU")[6:]) == refused and probes == []
    with pytest.raises(ConfigError, match=r"devices='two' is not allowed: .* \(a positive integer\), or auto"):
        plan(["+exp=gate_sweep", "devices=two", *RUN, f"results_dir={tmp_path}"])


def test_the_planner_needs_an_experiment():
    with pytest.raises(ConfigError, match=r"\+exp=None .* name an experiment file"):
        plan(["model=resnet20"])


SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.account=vision"]


def test_under_slurm_a_login_node_probes_nothing_and_gives_the_srun_that_probes_a_compute_node(
    tmp_path, probes, monkeypatch
):
    """The jobs train on the compute nodes' GPUs (trainer.device=auto there): this machine's CPU
    is not them, so no row is costed from it. The devices of a run are the launcher's 8 GPUs."""
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    typed = ["+exp=gate_sweep", "exp.row=ReLU,Tanh", *RUN, "trainer.device=auto", f"results_dir={tmp_path}", *SLURM]
    lines = plan(typed)
    assert probes == []
    assert "left: 2 runs (0 running elsewhere), each on 8 device(s) (hydra.launcher's nodes x tasks_per_node)" in lines
    assert any(line.startswith("the jobs train on cuda on SLURM's compute nodes; this machine (") for line in lines)
    for label in ("ReLU", "Tanh"):
        assert row_fields(lines, label) == ["1", "2", "2", "64", "-", "-", "not", "measured", "for", "cuda"]
    assert "estimate for 0 of the 2 runs left: none; 2 runs not measured for cuda are not counted" in lines
    srun = "srun --partition=gpu --account=vision --nodes=1 --ntasks=1 --gpus-per-node=1 python -m senet_ablate.plan"
    assert lines[lines.index("to probe them on one of the jobs' machines:") + 1] == f"  {srun} {' '.join(typed)}"


def test_under_slurm_only_completed_runs_on_the_jobs_device_cost_a_row(tmp_path, probes, monkeypatch):
    """A run completed on this machine's CPU says nothing of the GPU jobs' speed: Tanh is not
    costed from it; with trainer.device=cpu (CPU jobs) it is."""
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    overrides = [*RUN, f"results_dir={tmp_path}"]
    tanh = apply_row(compose_config(["+exp=gate_sweep", *overrides]), "Tanh")
    record = completed_record(tanh, 1, 1000.0, 10.0)
    write_record(record_path(tmp_path, record["run_id"]), record)
    on_gpus = plan(["+exp=gate_sweep", "exp.row=Tanh", *overrides, "trainer.device=auto", *SLURM])
    assert row_fields(on_gpus, "Tanh")[4:] == ["-", "-", "not", "measured", "for", "cuda"]
    on_cpus = plan(["+exp=gate_sweep", "exp.row=Tanh", *overrides, *SLURM])
    assert row_fields(on_cpus, "Tanh")[4:] == ["1000.0", f"{2 * 64 / 1000 / 3600:.3g}", "measured", "over", "1"] + [
        "completed",
        "run(s)",
    ]
    assert probes == []


def test_inside_a_slurm_job_or_for_a_local_gpu_the_plan_probes_only_what_is_here(tmp_path, probes, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "4242")  # run by the srun above: this machine is a compute node
    lines = plan(["+exp=gate_sweep", "exp.row=ReLU", *RUN, f"results_dir={tmp_path}", *SLURM])
    assert probes == [("resnet20", True, 32, 4)]  # batch 32 over the launcher's 8 devices
    assert any(
        line.startswith("the jobs train on cpu on this machine (") and "SLURM job 4242" in line for line in lines
    )
    monkeypatch.delenv("SLURM_JOB_ID")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    lines = plan(["+exp=gate_sweep", "exp.row=ReLU", *RUN, "trainer.device=cuda", f"results_dir={tmp_path}"])
    assert row_fields(lines, "ReLU")[4:] == ["-", "-", "not", "measured", "for", "cuda"] and len(probes) == 1
    assert lines[-4] == "to probe them, run this plan where the jobs train (on cuda)"


def test_a_settle_sweep_is_priced_per_row_at_its_maximum_its_expected_seeds_and_the_fixed_design_of_equal_power(
    tmp_path, probes, monkeypatch
):
    monkeypatch.setattr(planner, "cost", functools.partial(planner.cost, tables=200))  # seconds, not tens
    typed = ["+exp=reduction_sweep", *TINY, *SMALL, "settle.max_seeds=6", "settle.looks=2", f"results_dir={tmp_path}"]
    lines = plan(typed)
    assert lines[0] == "reduction_sweep: 36 runs (6 rows x 6 seeds)"  # costed up to the maximum
    start = lines.index(next(line for line in lines if line.startswith("settle sweep: group-sequential: 2 looks")))
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines[start + 3 : start + 9]}
    assert set(rows) == {"2", "4", "8", "16", "32", "original"}
    fixed = float(lines[start + 1].split("runs ")[1].split()[0])  # interpolated: settle_cost.equal_power_seeds
    for hours, expected, expected_hours, most, fixed_hours in rows.values():
        assert 3 <= expected <= 6 and most == pytest.approx(6 * hours, rel=0.01)
        assert expected_hours == pytest.approx(expected * hours, rel=0.01)
        assert fixed_hours == pytest.approx(fixed * hours, rel=0.02)  # fixed printed to 0.1 seed
    assert lines[start + 9].startswith("  all rows: expected ")
    assert (
        "σ = 0.15 top-1 points assumed (no row of this setting has 2 completed seeds that differ)" in lines[start + 1]
    )
    assert lines[-1].endswith("settle.max_seeds=6 settle.looks=2 results_dir=" + str(tmp_path))  # rounds choose rows


def test_a_settle_sweep_is_priced_at_the_seed_spread_pooled_over_its_settings_rows_else_an_assumed_one(tmp_path):
    common = [*TINY, *SMALL, f"results_dir={tmp_path}"]
    experiment = load_experiment("reduction_sweep", common)
    assumed = "σ = 0.15 top-1 points assumed (no row of this setting has 2 completed seeds that differ)"
    assert planner.seed_spread(experiment, str(tmp_path), "measured") == (0.15, assumed)
    base = compose_config(["+exp=reduction_sweep", *common])
    ours = {"2": [20.0, 20.2, 20.4], "4": [21.0, 21.3], "8": [22.0]}  # row 8's one seed has no spread
    theirs = {"2": [10.0, 30.0], "4": [5.0, 40.0]}  # another setting (se.gate=relu): not this plan's
    for runs, gate in ((ours, "sigmoid"), (theirs, "relu")):
        for label, values in runs.items():
            for seed, value in enumerate(values):
                cfg = OmegaConf.merge(apply_row(base, label), {"se": {"gate": gate}})
                record = {**completed_record(cfg, seed, 100.0, 10.0), "top1_err": value}
                write_record(record_path(tmp_path, record["run_id"]), record)
    sigma, said = planner.seed_spread(experiment, str(tmp_path), "measured")
    assert sigma == pytest.approx(((2 * 0.2**2 + 1 * 0.045) / 3) ** 0.5)  # within each row, its own mean
    assert said == "σ = 0.2 top-1 points pooled from 5 runs in 2 rows"
    assert planner.seed_spread(experiment, str(tmp_path), "0.3") == (0.3, "σ = 0.3 top-1 points as typed")
    for typed in ("-1", "nan", "wide"):
        with pytest.raises(ConfigError, match=f"sigma='{typed}' is not allowed: a positive number"):
            planner.seed_spread(experiment, str(tmp_path), typed)
