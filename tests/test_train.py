import json
import logging
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY, write_cifar
from PIL import Image
from torch import nn

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import CONFIG_DIR, apply_row, compose_config
from senet_ablate.data import Loaders, build_datasets, build_loaders
from senet_ablate.engine.trainer import Trainer, autocast_dtype
from senet_ablate.models.build import build_model
from senet_ablate.models.complexity import config_complexity, count_complexity
from senet_ablate.records.store import iter_records, record_path
from senet_ablate.runs.checks import check_run
from senet_ablate.runs.loggers import WandbLogger
from senet_ablate.runs.run import run_job

SMALL_DATA = ["data.train_size=128", "data.val_size=64", "trainer.batch_size=32"]


def resnet20_se_multiply_adds() -> int:
    """ResNet-20 with SE in every block, one 32 px image, counted by hand: He et al.'s ~41M."""

    def conv3x3(size, c_in, c_out):  # multiply-adds of a 3x3 conv with a size x size output
        return size * size * c_out * c_in * 9

    total = conv3x3(32, 3, 16)  # the stem
    for size, c_in, width in ((32, 16, 16), (16, 16, 32), (8, 32, 64)):  # three stages of 3 blocks
        total += conv3x3(size, c_in, width) + 5 * conv3x3(size, width, width)  # (option A shortcuts: free)
        total += 3 * 2 * width * (width // 16)  # each block's SE: two FCs on the pooled 1x1 map, r=16
    return total + 64 * 10  # the classifier


def test_complexity_is_the_multiply_adds_of_convs_and_linears_counted_by_hand():
    tiny = nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    counted = count_complexity(tiny, 8)  # the conv's output is 4 x 4
    assert counted.gflops == pytest.approx((4 * 4 * 4 * 3 * 9 + 4 * 2) / 1e9)
    assert counted.params_m == pytest.approx((4 * 3 * 9 + 4 + 4 * 2 + 2) / 1e6)
    resnet20 = config_complexity(compose_config(TINY))
    assert resnet20.gflops == pytest.approx(resnet20_se_multiply_adds() / 1e9)


def _cfg(tmp_path, *overrides):
    return compose_config([*TINY, *SMALL_DATA, f"results_dir={tmp_path}", *overrides])


@pytest.mark.slow  # trains a run
def test_synthetic_run_completes_and_records_everything(tmp_path):
    cfg = _cfg(tmp_path, "trainer.epochs=2")
    record = run_job(cfg)
    assert record["status"] == "completed"
    on_disk = json.loads(record_path(tmp_path, record["run_id"]).read_text())
    assert on_disk == record
    assert [m["epoch"] for m in record["epochs"]] == [1, 2]
    assert record["top1_err"] == record["epochs"][-1]["top1_err"]
    assert 0 <= record["top5_err"] <= record["top1_err"] <= 100
    assert record["params_m"] == pytest.approx(0.272, abs=0.001)
    assert record["gflops"] == pytest.approx(resnet20_se_multiply_adds() / 1e9)
    assert record["images_per_s"] > 0 and record["wall_time_s"] > 0
    assert {"torch", "torchvision", "cuda", "device", "code_version"} <= set(record["env"])
    assert (tmp_path / "runs" / record["run_id"] / "checkpoint.pt").exists()
    kept = np.load(tmp_path / "runs" / record["run_id"] / "predictions.npz")  # the final evaluation's, per image
    assert kept["predicted"].dtype == kept["label"].dtype == np.int16 and len(kept["label"]) == 64
    assert 100 * (kept["predicted"] != kept["label"]).mean() == pytest.approx(record["top1_err"])
    assert np.array_equal(kept["label"], build_datasets(cfg)[1].tensors[1].numpy())  # the validation set's order


@pytest.mark.slow  # trains a run
def test_same_seed_same_record_on_cpu(tmp_path):
    first = run_job(_cfg(tmp_path / "a", "trainer.epochs=1"))
    second = run_job(_cfg(tmp_path / "b", "trainer.epochs=1"))
    assert first["epochs"][0]["val_loss"] == second["epochs"][0]["val_loss"]
    assert first["top1_err"] == second["top1_err"]


@pytest.mark.slow  # trains a run
def test_synthetic_data_is_learnable(tmp_path):
    record = run_job(_cfg(tmp_path, "data.train_size=512", "trainer.epochs=5"))
    assert record["top1_err"] < 60  # chance is 90%; seeds 0..2 end at 12-19% (BN statistics need ~4 epochs)


@pytest.mark.slow  # trains a run
def test_resume_after_interruption_ends_like_an_uninterrupted_run(tmp_path, monkeypatch):
    uninterrupted = run_job(_cfg(tmp_path / "whole", "trainer.epochs=3"))

    cfg = _cfg(tmp_path / "split", "trainer.epochs=3")
    real_save = Trainer.save

    def save_then_stop(self, history):
        real_save(self, history)
        raise KeyboardInterrupt  # the process is killed right after epoch 1's checkpoint

    monkeypatch.setattr(Trainer, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_job(cfg)
    (interrupted,) = iter_records(tmp_path / "split")
    assert interrupted["status"] == "running" and interrupted["top1_err"] is None

    monkeypatch.setattr(Trainer, "save", real_save)
    resumed = run_job(cfg)
    assert resumed["status"] == "completed"
    assert [m["val_loss"] for m in resumed["epochs"]] == [m["val_loss"] for m in uninterrupted["epochs"]]
    assert (resumed["top1_err"], resumed["top5_err"]) == (uninterrupted["top1_err"], uninterrupted["top5_err"])


@pytest.mark.slow  # trains a run
def test_nan_loss_ends_the_run_as_diverged(tmp_path):
    record = run_job(_cfg(tmp_path, "trainer.lr=1e30", "trainer.epochs=2"))
    assert record["status"] == "diverged"
    assert "training loss is nan" in record["error"] and record["top1_err"] is None
    assert record["diverged_at"]["epoch"] == 1


@pytest.mark.parametrize("sync_every", [1, 10])  # 1: the CPU; 10: a GPU, where the host looks every 10 steps
@pytest.mark.slow  # trains a run
def test_divergence_is_recorded_at_the_step_it_happens(tmp_path, monkeypatch, sync_every):
    calls = []

    def loss_with_a_nan_at_step_3(self_, logits, labels):
        calls.append(1)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward", loss_with_a_nan_at_step_3)
    monkeypatch.setattr(Trainer, "__init__", _with_sync_every(sync_every))
    record = run_job(_cfg(tmp_path, "trainer.epochs=1"))  # 4 steps of 32 images
    assert record["status"] == "diverged"
    assert record["diverged_at"] == {"epoch": 1, "step": 3}
    assert len(calls) == (3 if sync_every == 1 else 4)  # without a sync per step it stops at the next look


def _with_sync_every(sync_every):
    real_init = Trainer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.sync_every = sync_every

    return init


@pytest.mark.slow  # trains a run
@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        # cuBLAS's and cuDNN's own workspaces: plain RuntimeErrors, given no advice before
        RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    ],
)
def test_cuda_out_of_memory_says_what_to_type(tmp_path, monkeypatch, error):
    def out_of_memory(self, epoch, partial):
        raise error

    monkeypatch.setattr(Trainer, "train_one_epoch", out_of_memory)
    record = run_job(_cfg(tmp_path, "trainer.batch_size=32", "trainer.accumulate_steps=2"))
    assert record["status"] == "failed"
    assert record["error"] == (
        "CUDA out of memory at trainer.batch_size=32: try trainer.batch_size=16 trainer.accumulate_steps=4 "
        "(the same images per optimiser step, so the same lr)"
    )


@pytest.mark.slow  # trains a run
def test_completed_runs_are_skipped(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, "trainer.epochs=1")
    first = run_job(cfg)
    monkeypatch.setattr(Trainer, "fit", lambda *a, **k: pytest.fail("a completed run was trained again"))
    assert run_job(cfg) == first


@pytest.mark.slow  # trains a run
def test_cifar_batches_written_by_the_test_load_and_train(tmp_path):
    write_cifar(tmp_path / "cifar")
    cfg = compose_config(
        [
            *TINY,
            "data=cifar10",
            f"data.root={tmp_path / 'cifar'}",
            "data.num_workers=0",
            "trainer.epochs=1",
            "trainer.batch_size=16",
            f"results_dir={tmp_path}",
        ]
    )
    record = run_job(cfg)
    assert record["status"] == "completed"
    assert record["epochs"][0]["images_per_s"] > 0


def test_missing_cifar_says_what_to_pass(tmp_path):
    cfg = compose_config([*TINY, "data=cifar10", f"data.root={tmp_path}", f"results_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="data.download=true or data=synthetic"):
        run_job(cfg)
    assert not list(iter_records(tmp_path))  # nothing recorded for a run that never started


@pytest.mark.slow  # trains a run
def test_image_folders_written_by_the_test_load_and_train(tmp_path, caplog):
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("val", 4)):
        for label in ("cat", "dog"):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{index}.png")
    cfg = compose_config(
        [
            *TINY,
            "data=imagefolder",
            f"data.root={tmp_path / 'images'}",
            "data.num_classes=2",
            "data.image_size=32",
            "data.num_workers=0",
            "trainer.epochs=1",
            "trainer.batch_size=8",
            f"results_dir={tmp_path}",
        ]
    )
    with caplog.at_level(logging.INFO):
        record = run_job(cfg)
    assert record["status"] == "completed"
    # 2 classes: top-5 error is undefined, recorded as null and logged as n/a
    assert record["top5_err"] is None and record["epochs"][0]["top5_err"] is None
    assert any(line.startswith("epoch 1/1 ") and " top-5 err n/a " in line for line in caplog.messages)
    wrong = compose_config([*TINY, "data=imagefolder", f"data.root={tmp_path / 'images'}", "data.num_classes=3"])
    with pytest.raises(ConfigError, match="data.num_classes=3 .* has 2 class folders"):
        run_job(wrong)


EXP_FILES = sorted(path.stem for path in (CONFIG_DIR / "exp").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("exp", EXP_FILES)
def test_every_row_of_every_exp_file_builds_and_its_first_and_last_train_a_step(tmp_path, exp):
    """Every row builds (shapes only, on the meta device); the first and the last row, on their own
    models at 32x32, train one step on generated data through run_job (CIFAR's files for CIFAR
    experiments, whose rows may set CIFAR-only keys such as data.cutout). Every registered model
    and every attention position already train a step in test_models / test_attention: training
    all rows here (tens of ResNet-50s) would only repeat them."""
    on_cifar = compose_config([f"+exp={exp}"]).data.name == "cifar10"
    if on_cifar:
        write_cifar(tmp_path / "cifar")
    generated = ["data=synthetic", "data.train_size=8", "data.val_size=4"]
    data = [f"data.root={tmp_path / 'cifar'}"] if on_cifar else generated
    cfg = compose_config(
        [
            f"+exp={exp}",
            *data,
            "trainer=smoke",
            "trainer.epochs=1",
            "trainer.max_steps_per_epoch=1",
            "trainer.batch_size=4",
            "trainer.device=cpu",
            "trainer.progress=false",
            # what recipes (recipe_sweep's timm_a3) ask of image folders, typed away for generated data
            "trainer.randaugment=null",
            "trainer.eval_crop_pct=null",
            "trainer.interpolation=bilinear",
            "trainer.train_image_size=null",
            "trainer.warmup_epochs=0",
            f"results_dir={tmp_path}",
        ]
    )
    rows = [apply_row(cfg, row.label) for row in cfg.exp.rows]
    for row in rows:
        if row.trainer.schedule == "onecycle":  # cifar_fast's rise to its peak takes an epoch of its own
            row.trainer.epochs, row.trainer.warmup_epochs = 2, 1
    with torch.device("meta"):
        for row in rows:
            build_model(row)
    for row in (rows[0], rows[-1]):
        record = run_job(row)
        assert record["status"] == "completed", (row.exp.row, record["error"])
        assert record["label"] == row.exp.row and record["exp"] == exp


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "senet_ablate", *args], capture_output=True, text=True, timeout=600, cwd=cwd
    )


@pytest.mark.slow  # starts the CLI
def test_cli_bad_value_is_one_line_exit_2(tmp_path):
    result = _cli("se.gate=softmax", f"results_dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: se.gate='softmax' is not allowed: choose one of sigmoid, tanh, relu"
    )


@pytest.mark.slow
def test_demo_sweep_records_every_row_and_a_rerun_trains_nothing(tmp_path):
    args = ["+exp=reduction_sweep", *TINY, *SMALL_DATA, "trainer.epochs=1", f"results_dir={tmp_path}"]
    first = _cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    records = list(iter_records(tmp_path))
    assert sorted(r["label"] for r in records) == sorted(["2", "4", "8", "16", "32", "original"])
    assert all(r["status"] == "completed" for r in records)
    table = (tmp_path / "reduction_sweep.md").read_text()  # the sweep ends by writing its table
    assert "| original | " in table and "pending" not in table
    # the report: the demo's runs fill rows of other tables too, and the index counts them in every file's
    # (every table's layout is tested in test_report.py; counting all their rows here would add half a minute)
    report = subprocess.run(
        [sys.executable, "-m", "senet_ablate.report", f"results_dir={tmp_path}", "exps=se3x3_sweep,gate_sweep"],
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    assert "| SE_3x3 | n/a |" in (tmp_path / "se3x3_sweep.md").read_text()
    index = (tmp_path / "README.md").read_text()
    assert all(f"| {name} (not written yet) |" in index or f"[{name}]" in index for name in EXP_FILES)
    assert "| [se3x3_sweep](se3x3_sweep.md) | se_3x3 | 1 | 1 | 1 |" in index

    second = _cli(*args)
    assert second.returncode == 0
    output = second.stdout + second.stderr
    assert output.count("skipping") == 6 and "epoch 1/1" not in output
    assert [r["updated_at"] for r in iter_records(tmp_path)] == [r["updated_at"] for r in records]


@pytest.mark.slow
def test_wandb_logs_offline_without_an_account(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    record = run_job(_cfg(tmp_path, "logger=wandb", "trainer.epochs=1"))
    assert record["status"] == "completed"
    assert list((tmp_path / "wandb").glob("**/offline-run-*"))


class KnownLogits(torch.nn.Module):
    """A model whose input is its output: validation batches carry the logits to score."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))  # the optimiser needs a parameter

    def forward(self, logits):
        return logits


def evaluate_logits(tmp_path, logits, labels):
    cfg = _cfg(tmp_path, f"data.num_classes={logits.shape[1]}")
    loaders = Loaders([], [(logits, labels)], sampler=None, train_size=0, val_size=len(labels), kind="dataloader")
    trainer = Trainer(cfg, KnownLogits(), loaders, torch.device("cpu"), DistributedContext(), tmp_path / "ckpt.pt")
    return trainer.evaluate()


def test_top5_error_is_none_with_5_classes_or_fewer_and_counted_with_more(tmp_path):
    scores = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])  # class 0 ranks first, class 5 last
    six = evaluate_logits(tmp_path / "six", scores.repeat(4, 1), torch.tensor([0, 4, 5, 2]))
    assert six["top1_err"] == 75.0 and six["top5_err"] == 25.0  # only label 5 ranks 6th
    five = evaluate_logits(tmp_path / "five", scores[:5].repeat(4, 1), torch.tensor([0, 4, 3, 2]))
    assert five["top1_err"] == 75.0 and five["top5_err"] is None  # every label is in the top 5


def test_top5_error_on_random_logits_matches_the_labels_ranks(tmp_path):
    generator = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(200, 8, generator=generator), torch.randint(0, 8, (200,), generator=generator)
    rank = (logits > logits.gather(1, labels[:, None])).sum(1)  # how many classes score above the label
    metrics = evaluate_logits(tmp_path, logits, labels)
    assert metrics["top5_err"] == pytest.approx(100 * (rank >= 5).float().mean().item())
    assert metrics["top1_err"] == pytest.approx(100 * (rank >= 1).float().mean().item())
    assert 0 < metrics["top5_err"] < metrics["top1_err"]


def test_wandb_gets_no_value_for_an_undefined_top5():
    logged = []
    logger = WandbLogger.__new__(WandbLogger)  # no wandb run: only what reaches `run.log` matters
    logger.run = type("Run", (), {"log": lambda self, metrics, step: logged.append((metrics, step))})()
    logger.log_epoch({"epoch": 2, "top1_err": 40.0, "top5_err": None})
    assert logged == [({"epoch": 2, "top1_err": 40.0}, 2)]


def test_validation_ranks_the_logits_in_full_precision_under_amp(tmp_path):
    """Scores 1.0 and 1.002: equal once rounded to bf16 (its spacing at 1 is 1/128), so a ranking
    of bf16 logits puts class 0 first by its index; in fp32 class 1, the label, comes first. CPU
    autocast in bf16 stands in for CUDA's."""
    classifier = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        classifier.weight.copy_(torch.eye(2))
    batch = (torch.tensor([[1.0, 1.002]]).repeat(4, 1), torch.ones(4, dtype=torch.long))
    loaders = Loaders([], [batch], sampler=None, train_size=0, val_size=4, kind="dataloader")
    cfg = _cfg(tmp_path, "data.num_classes=2")
    trainer = Trainer(cfg, classifier, loaders, torch.device("cpu"), DistributedContext(), tmp_path / "ckpt.pt")
    trainer.step.dtype = torch.bfloat16
    assert trainer.step.backward(*batch)[0].dtype == torch.bfloat16  # the training step's logits
    assert trainer.evaluate()["top1_err"] == 0.0


@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_amp_uses_bf16_only_where_the_gpu_computes_it_natively(monkeypatch, native, expected):
    """A Turing GPU emulates bf16: is_bf16_supported() says yes unless emulation is excluded."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native or including_emulation)
    assert autocast_dtype(True, torch.device("cuda")) == expected
    assert autocast_dtype(False, torch.device("cuda")) is None and autocast_dtype(True, torch.device("cpu")) is None
    assert autocast_dtype(True, torch.device("cuda"), "float16") == torch.float16  # trainer.amp_dtype forces it
    assert autocast_dtype(True, torch.device("cuda"), "bfloat16") == torch.bfloat16
    assert autocast_dtype(True, torch.device("cpu"), "float16") is None  # AMP stays CUDA-only


def test_an_unknown_amp_dtype_is_one_line():
    with pytest.raises(ConfigError, match="trainer.amp_dtype='half' is not allowed: choose one of auto, bfloat16"):
        check_run(_cfg(Path("."), "trainer.amp_dtype=half"))


def test_a_bf16_checkpoint_resumes_where_fp16_loss_scaling_is_chosen(tmp_path):
    """A bf16 run saves its disabled GradScaler's empty state; resumed on a GPU where fp16 (and so
    loss scaling) is chosen, the scaler starts afresh instead of refusing the state. A CPU
    GradScaler stands in for CUDA's, which cannot be enabled without a GPU."""
    cfg = _cfg(tmp_path, "trainer.epochs=1")
    loaders = Loaders([], [], sampler=None, train_size=0, val_size=0, kind="dataloader")

    def trainer():
        return Trainer(cfg, build_model(cfg), loaders, torch.device("cpu"), DistributedContext(), tmp_path / "ckpt.pt")

    bf16_run = trainer()
    bf16_run.save([{"epoch": 1}])
    fp16_run = trainer()
    fp16_run.step.scaler = torch.amp.GradScaler("cpu", enabled=True)
    assert fp16_run.resume() == ([{"epoch": 1}], None)
    assert fp16_run.step.scaler.get_scale() == torch.amp.GradScaler("cpu").get_scale()  # its initial scale


@pytest.mark.slow
def test_every_run_of_a_sweep_in_one_process_compiles_its_model(tmp_path, monkeypatch):
    """trainer.compile=true, several rows in one process (as a Hydra multirun runs them). Dynamo's
    caches outlived each run: every row's new model added graphs to the same `forward` code until
    the recompile limit, after which rows ran eager. The limit is lowered to 2 (from 8) so that a few
    rows show it; a backend that runs the graph eagerly counts the compilations of each row."""
    compiled_in_row, records = [], []

    def counting_backend(graph, example_inputs):
        compiled_in_row.append(len(records))  # the row being run: as many as have finished
        return graph.forward

    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model: real_compile(model, backend=counting_backend))
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 2)
    rows = ["se.reduction=2", "se.reduction=4", "se.reduction=8", "se.reduction=16"]
    for override in rows:
        records.append(run_job(_cfg(tmp_path, "trainer.compile=true", "trainer.epochs=1", override)))
    assert [record["status"] for record in records] == ["completed"] * len(rows)
    assert sorted(set(compiled_in_row)) == list(range(len(rows)))


@pytest.mark.parametrize("accumulate, unsynced", [(1, 0), (2, 2), (4, 3)])
def test_micro_batches_that_no_optimiser_step_follows_skip_ddps_all_reduce(tmp_path, accumulate, unsynced):
    """4 steps (128 images, batch 32). DDP all-reduces gradients in every backward pass except
    inside no_sync(); a stand-in for the DDP module counts the backward passes run inside it."""
    cfg = _cfg(tmp_path, f"trainer.accumulate_steps={accumulate}")
    device = torch.device("cpu")
    trainer = Trainer(
        cfg,
        build_model(cfg),
        build_loaders(cfg, DistributedContext(), device),
        device,
        DistributedContext(),
        tmp_path / "c.pt",
    )
    entered = []

    class DdpStandIn:
        @contextmanager
        def no_sync(self):
            entered.append(1)
            yield

    trainer.ddp = DdpStandIn()
    trainer.loaders.set_epoch(1)
    trainer.train_one_epoch(0)
    assert len(entered) == unsynced
