"""trainer=cifar_fast (issue 37): its parts one by one (the one-cycle schedule, the weights' average,
flip test-time augmentation, alternating flips), each switched off by its own key, and the run ids
of configs that leave the new keys alone."""

import json
import signal

import pytest
import torch
from helpers import TINY, write_cifar
from omegaconf import OmegaConf
from test_report import add_run, table_lines

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data import Loaders, build_loaders
from senet_ablate.data.build import GlobalBatchSampler
from senet_ablate.data.gpu_cifar import DeviceCifarTrain, first_epoch_flips
from senet_ablate.engine.checkpoint import load_checkpoint
from senet_ablate.engine.machine import for_device
from senet_ablate.engine.optim import build_scheduler, step_after_update, step_scheduler
from senet_ablate.engine.trainer import Trainer
from senet_ablate.models.build import build_model
from senet_ablate.records.store import ADDED_KEYS, config_dict, config_id, record_path, run_id
from senet_ablate.report import write_reports
from senet_ablate.runs.checks import check_run
from senet_ablate.runs.run import run_job

CPU = torch.device("cpu")
# Every part of cifar_fast switched off, and the recipe values it shares with cifar_paper set to them.
FAST_OFF = [
    "trainer=cifar_fast",
    "trainer.epochs=164",
    "trainer.batch_size=128",
    "trainer.nesterov=false",
    "trainer.weight_decay=1e-4",
    "trainer.schedule=multistep",
    "trainer.warmup_epochs=0",
    "trainer.label_smoothing=0",
    "trainer.ema_decay=0",
    "trainer.tta_flip=false",
]


def _flipped(batch: torch.Tensor) -> list[bool]:
    """Whether each crop of an image whose pixels count columns 1..32 from the left runs backwards."""
    row = batch[:, 0, 16].int()  # a middle row: inside the image whatever the vertical offset
    return [bool(values[values > 0].diff()[0] < 0) for values in row]


def test_alternating_flips_flip_each_image_on_alternate_epochs_from_a_random_first_epoch():
    count, seed = 64, 3
    columns = torch.arange(1, 33, dtype=torch.uint8).expand(count, 3, 32, 32).contiguous()
    first = first_epoch_flips(count, seed, CPU)
    assert 16 < first.sum() < 48 and not torch.equal(first, first_epoch_flips(count, seed + 1, CPU))
    seen = {}
    for epoch in range(4):
        sampler = GlobalBatchSampler(count, 16, 0, 1, torch.Generator())
        loader = DeviceCifarTrain(columns, torch.arange(count), sampler, lambda images: images, first)
        sampler.set_epoch(1000 + epoch, 0, epoch)
        seen[epoch] = {}
        for images, labels in loader:
            seen[epoch].update(zip(labels.tolist(), _flipped(images), strict=True))
        assert sorted(seen[epoch]) == list(range(count))  # every image, once
    for epoch in range(4):
        assert [seen[epoch][image] for image in range(count)] == [bool(flip) ^ (epoch % 2 == 1) for flip in first]
    # resumed at step 2 of epoch 3, with the flips drawn afresh from the seed: the same batches
    sampler = GlobalBatchSampler(count, 16, 0, 1, torch.Generator())
    resumed = DeviceCifarTrain(
        columns, torch.arange(count), sampler, lambda images: images, first_epoch_flips(count, seed, CPU)
    )
    sampler.set_epoch(1003, 2, 3)
    for images, labels in resumed:
        assert _flipped(images) == [seen[3][image] for image in labels.tolist()]


def test_alternating_flips_are_wired_by_the_config_refused_off_the_gpu_loader_and_part_of_the_run_id(tmp_path):
    root = write_cifar(tmp_path / "cifar", images=12)
    base = ["model=resnet20", "data=cifar10", f"data.root={root}", "trainer=smoke", "trainer.device=cpu", "seed=5"]
    cfg = compose_config([*base, "data.loader=gpu", "data.flip=alternate"])
    train = build_loaders(cfg, DistributedContext(), CPU).train
    assert torch.equal(train.first_flips, first_epoch_flips(60, 5, CPU))
    assert (
        build_loaders(compose_config([*base, "data.loader=gpu"]), DistributedContext(), CPU).train.first_flips is None
    )
    with pytest.raises(ConfigError, match="data.flip='alternate'.*data.loader=gpu only"):
        check_run(compose_config([*base, "data.flip=alternate"]))
    with pytest.raises(ConfigError, match="data.flip='sometimes'.*choose one of random, alternate"):
        check_run(compose_config([*base, "data.loader=gpu", "data.flip=sometimes"]))
    random = for_device(compose_config([*base, "data.loader=gpu"]), "cpu")
    assert run_id(for_device(cfg, "cpu"), "data") != run_id(random, "data")


def test_keys_added_for_cifar_fast_leave_the_run_id_of_every_config_that_leaves_them_alone():
    """A config as a version before these keys wrote it (the keys absent) has the id it has now."""
    paper = config_dict(for_device(compose_config(["model=resnet110", "data=cifar10", "trainer=cifar_paper"]), "cpu"))
    older = OmegaConf.to_container(OmegaConf.create(paper))
    for dotted in ADDED_KEYS:
        group, key = dotted.split(".")
        del older[group][key]
    assert config_id(older, "data") == config_id(paper, "data")
    for dotted, value in {"data.flip": "alternate", "trainer.ema_decay": 0.9, "trainer.tta_flip": True}.items():
        changed = OmegaConf.create(paper)
        OmegaConf.update(changed, dotted, value)
        assert config_id(OmegaConf.to_container(changed), "data") != config_id(paper, "data"), dotted


def test_cifar_fast_with_each_part_switched_off_by_its_own_key_is_cifar_paper():
    paper = compose_config(["model=resnet20", "data=cifar10", "trainer=cifar_paper"])
    fast = compose_config(["model=resnet20", "data=cifar10", "trainer=cifar_fast"])
    off = compose_config(["model=resnet20", "data=cifar10", *FAST_OFF])
    assert config_dict(off) == {**config_dict(paper), "exp": config_dict(off)["exp"]}  # but the overrides typed
    recipe = config_dict(fast)["trainer"]
    assert recipe["schedule"] == "onecycle" and recipe["nesterov"] and recipe["tta_flip"]
    assert recipe["ema_decay"] > 0 and recipe["label_smoothing"] > 0 and recipe["batch_size"] == 512
    assert recipe["lr"] == pytest.approx(0.4)  # 0.1 per 128 images


def test_the_one_cycle_schedule_moves_at_every_optimiser_step_from_a_tenth_of_the_peak_up_and_down():
    recipe = compose_config(["trainer=cifar_fast", "trainer.epochs=4", "trainer.warmup_epochs=1", "trainer.lr=0.8"])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=recipe.trainer.lr, momentum=0.9)
    scheduler = build_scheduler(optimizer, recipe.trainer, updates_per_epoch=5)
    lrs = [optimizer.param_groups[0]["lr"]]  # the lr of each of the 20 updates, then the one left after them
    for _ in range(20):
        optimizer.step()
        step_scheduler(scheduler, val_loss=1.0)  # an epoch's end: no move
        step_after_update(scheduler)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(0.08) and lrs[5] == pytest.approx(0.8) and max(lrs) == lrs[5]  # epoch 2's first
    assert lrs[20] == pytest.approx(0.8e-5) and all(a > b for a, b in zip(lrs[5:], lrs[6:], strict=False))
    with pytest.raises(ConfigError, match="trainer.warmup_epochs=0.*at least 1 with trainer.schedule=onecycle"):
        check_run(compose_config(["trainer=cifar_fast", "trainer.warmup_epochs=0"]))
    assert optimizer.param_groups[0]["momentum"] == 0.9  # not cycled


class Mirrored(torch.nn.Module):
    """Logits (2a, b) of an image whose two pixels are (a, b): its mirror scores (2b, a)."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))  # for the trainer's optimiser

    def forward(self, images):
        pixels = images.flatten(1)
        return torch.stack([2 * pixels[:, 0], pixels[:, 1]], dim=1)


@pytest.mark.parametrize("tta", [False, True])
def test_flip_tta_is_a_figure_apart_that_changes_no_other(tmp_path, tta):
    # Image (1, 1.5), label 0: alone (2, 1.5), right; with its mirror (2 + 3, 1.5 + 1), right.
    # Image (1, 3), label 1: alone (2, 3), right; with its mirror (2 + 6, 3 + 1), wrong.
    images = torch.tensor([[1.0, 1.5], [1.0, 3.0]]).view(2, 1, 1, 2)
    labels = torch.tensor([0, 1])
    loaders = Loaders([], [(images, labels)], sampler=None, train_size=0, val_size=2, kind="dataloader")
    cfg = compose_config([*TINY, "data.num_classes=2", f"trainer.tta_flip={str(tta).lower()}"])
    trainer = Trainer(cfg, Mirrored(), loaders, CPU, DistributedContext(), tmp_path / "ckpt.pt")
    metrics = trainer.evaluate()
    assert metrics["top1_err"] == 0.0 and metrics["val_images"] == 2
    assert metrics.get("tta_top1_err") == (50.0 if tta else None)


def _cifar_cfg(root, results, *extra):
    return compose_config(
        [
            "model=resnet20",
            "data=cifar10",
            f"data.root={root}",
            "data.loader=gpu",
            "trainer.device=cpu",
            "trainer.progress=false",
            "trainer.epochs=2",
            "trainer.batch_size=8",
            f"results_dir={results}",
            *extra,
        ]
    )


@pytest.mark.slow  # trains runs
def test_the_average_and_tta_leave_training_and_top1_of_the_trained_weights_as_they_were(tmp_path):
    small = [*TINY, "data.image_size=8", "data.train_size=64", "data.val_size=32", "trainer.batch_size=32"]
    runs = {
        name: run_job(
            compose_config(
                [*small, "trainer=cifar_paper", "trainer.epochs=2", f"results_dir={tmp_path / name}", *extra]
            )
        )
        for name, extra in {"paper": [], "ema": ["trainer.ema_decay=0.5"], "tta": ["trainer.tta_flip=true"]}.items()
    }
    paper, ema, tta = ([epoch for epoch in runs[name]["epochs"]] for name in ("paper", "ema", "tta"))
    figures = ("train_loss", "train_top1_err", "val_loss", "top1_err", "top5_err", "lr")
    assert [[epoch[key] for key in figures] for epoch in tta] == [[epoch[key] for key in figures] for epoch in paper]
    assert all(0 <= epoch["tta_top1_err"] <= 100 for epoch in tta) and "tta_top1_err" not in paper[0]
    assert [epoch["train_loss"] for epoch in ema] == [epoch["train_loss"] for epoch in paper]  # training untouched
    assert [epoch["val_loss"] for epoch in ema] != [epoch["val_loss"] for epoch in paper]  # the average evaluated


@pytest.mark.slow  # trains runs
def test_a_cifar_fast_run_resumes_bit_for_bit_and_its_top1_is_its_checkpointed_average(
    tmp_path, monkeypatch, signal_at_heartbeat
):
    root = write_cifar(tmp_path / "cifar", images=8)  # 40 training images: 5 steps of 8
    fast = ["trainer=cifar_fast", "data.flip=alternate", "trainer.warmup_epochs=1", "trainer.ema_decay=0.6"]
    runs = {}
    for name in ("whole", "split"):
        cfg = _cifar_cfg(root, tmp_path / name, *fast)
        if name == "split":
            signal_at_heartbeat(3, signal.SIGUSR1)  # mid-epoch 1
            stopped = run_job(cfg)
            assert stopped["status"] == "interrupted" and stopped["interrupted_at"]["step"] == 3
            monkeypatch.undo()
        runs[name] = run_job(cfg)
    assert runs["whole"]["status"] == "completed"
    assert runs["split"]["epochs"] == [
        {**epoch, "epoch_time_s": split["epoch_time_s"], "images_per_s": split["images_per_s"]}
        for epoch, split in zip(runs["whole"]["epochs"], runs["split"]["epochs"], strict=True)
    ]
    cfg = _cifar_cfg(root, tmp_path / "whole", *fast)
    state = load_checkpoint(tmp_path / "whole" / "runs" / runs["whole"]["run_id"] / "checkpoint.pt", CPU)
    average = build_model(cfg)
    average.load_state_dict(
        {key.removeprefix("module."): value for key, value in state["ema"].items() if key != "n_averaged"}
    )
    assert int(state["ema"]["n_averaged"]) == 10  # 5 optimiser steps in each of 2 epochs
    assert any(not torch.equal(state["model"][key], average.state_dict()[key]) for key in state["model"])
    average.eval()
    with torch.no_grad():
        ((images, labels),) = list(build_loaders(cfg, DistributedContext(), CPU).val)  # 8 images, one batch
        logits, mirrored = average(images), average(images.flip(3))
    final = runs["whole"]["epochs"][-1]
    assert final["val_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-6)
    assert final["top1_err"] == 100 * (logits.argmax(1) != labels).float().mean().item()
    tta_top1_err = 100 * ((logits + mirrored).argmax(1) != labels).float().mean().item()
    assert runs["whole"]["tta_top1_err"] == final["tta_top1_err"] == tta_top1_err  # the record's figure apart
    # One-cycle steps with each update (5 an epoch): the peak, 0.1 * 8 / 128, after the warm-up
    # epoch, and a 100,000th of it after the last update.
    assert [epoch["lr"] for epoch in runs["whole"]["epochs"]] == pytest.approx([0.00625, 0.00625e-5])


def test_flip_tta_is_a_column_of_its_own_in_the_table_and_top1_is_the_single_views(tmp_path):
    results = tmp_path / "results"
    for label, seed, top1, tta in (("16", 0, 22.0, 21.0), ("16", 1, 22.4, 21.2), ("8", 0, 23.0, None)):
        run = add_run(results, "reduction_sweep", label, seed=seed, top1=top1, top5=6.0)
        path = record_path(results, run)
        path.write_text(json.dumps({**json.loads(path.read_text()), "tta_top1_err": tta}))
    write_reports(results, tmp_path / "out", exps=["reduction_sweep"])
    lines = table_lines((tmp_path / "out" / "reduction_sweep.md").read_text())
    header = "| row | top-1 err (%) | top-5 err (%) | params (M) | MFLOPs | flip-TTA top-1 err (%) | Δ top-1 vs"
    assert lines["row"].startswith(header)
    assert lines["16"].startswith("| 16 | 22.20 ± 0.28 (n=2) | 6.00 ± 0.00 (n=2) |")
    assert lines["16"].split(" | ")[5] == "21.10 ± 0.14 (n=2)"
    assert lines["8"].split(" | ")[1] == "23.00 (n=1)" and lines["8"].split(" | ")[5] == "off"  # trained without TTA
    # With no run under TTA the column is absent: test_report pins those headers.
