"""Recipe parts from timm (trainer=timm_a3) and rows that select a recipe as a whole."""

import subprocess
import sys

import pytest
import torch
from helpers import write_folder
from timm.loss import BinaryCrossEntropy
from timm.optim import Lamb
from torch import nn

from senet_ablate import ConfigError
from senet_ablate.config import apply_row, compose_config
from senet_ablate.data.build import SeededPerImage
from senet_ablate.data.imagefolder import Augmentation, imagefolder_datasets, train_eval_transforms
from senet_ablate.engine.loss import BatchMixer, build_loss, check_pairs_stay_on_one_process
from senet_ablate.engine.optim import build_optimizer
from senet_ablate.records.store import iter_records
from senet_ablate.runs.checks import check_run
from senet_ablate.runs.run import run_job

A3 = compose_config(["trainer=timm_a3"]).trainer


def test_timm_a3_is_resnet_strikes_backs_table_1_with_timms_parts():
    assert (A3.epochs, A3.batch_size, A3.lr, A3.weight_decay, A3.warmup_epochs) == (100, 2048, 8e-3, 0.02, 5)
    assert (A3.train_image_size, A3.eval_crop_pct, A3.randaugment) == (160, 0.95, "rand-m6-mstd0.5-inc1")
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    optimizer = build_optimizer(model, A3)
    assert isinstance(optimizer, Lamb) and optimizer.param_groups[0]["lr"] == 8e-3
    decays = sorted((group["weight_decay"], len(group["params"])) for group in optimizer.param_groups)
    assert decays == [(0.0, 3), (0.02, 1)]  # only the conv weight decays, as in timm's train.py
    loss = build_loss(A3)
    assert isinstance(loss, BinaryCrossEntropy) and loss.target_threshold == 0.2 and loss.smoothing == 0.0


def test_mixing_is_timms_and_repeats_per_seed():
    mixer = BatchMixer(A3, num_classes=10)
    images, labels = torch.randn(8, 3, 16, 16), torch.arange(8)
    mixed, targets = mixer(images, labels, seed=3)
    again, same_targets = mixer(images, labels, seed=3)
    assert torch.equal(mixed, again) and torch.equal(targets, same_targets)
    assert targets.shape == (8, 10) and torch.allclose(targets.sum(1), torch.ones(8))
    assert not torch.equal(mixer(images, labels, seed=4)[1], targets)
    odd_images, odd_labels = images[:7], labels[:7]
    assert mixer(odd_images, odd_labels, seed=3) == (odd_images, odd_labels)  # Mixup pairs images
    plain = compose_config().trainer
    assert mixer.mixup is not None and BatchMixer(plain, 10).mixup is None
    assert isinstance(build_loss(plain), nn.CrossEntropyLoss)


@pytest.mark.parametrize("processes", [2, 4])
def test_each_process_mixing_its_slice_mixes_the_global_batch_as_one_process_does(processes):
    """Seeds 0-7 draw both Mixup and CutMix (timm's switch_prob 0.5). Before the fix, image i was
    paired with the last image of its own slice, so 2 processes mixed other pairs than 1."""
    mixer = BatchMixer(A3, num_classes=10)
    images, labels = torch.randn(8, 3, 16, 16), torch.arange(8)
    share = len(labels) // processes
    for seed in range(8):
        whole, whole_targets = mixer(images.clone(), labels, seed)
        slices = [
            mixer(images[r * share : (r + 1) * share].clone(), labels[r * share : (r + 1) * share], seed)
            for r in range(processes)
        ]
        assert torch.equal(torch.cat([mixed for mixed, _ in slices]), whole), seed
        assert torch.equal(torch.cat([targets for _, targets in slices]), whole_targets), seed
    assert not torch.equal(whole, images)  # it did mix
    partner = whole_targets[0].topk(2).indices.tolist()
    assert sorted(partner) == [0, 1]  # image 0's soft target: its own class and its neighbour's


def test_mixing_refuses_an_odd_slice_per_process():
    check_pairs_stay_on_one_process(A3, 2)  # 2048 / 2: even
    with pytest.raises(
        ConfigError, match=r"trainer.batch_size=6 .*an even number of images per process .*pairs images \(here 3\)"
    ):
        check_pairs_stay_on_one_process(compose_config(["trainer=timm_a3", "trainer.batch_size=6"]).trainer, 2)


def test_a3_augmentation_trains_small_and_evaluates_large_with_randaugment_seeded_per_image(tmp_path):
    augmentation = Augmentation(32, train_image_size=24, eval_crop_pct=0.95, randaugment="rand-m9-mstd0.5-inc1")
    train_transform, eval_transform = train_eval_transforms(augmentation)
    assert any("RandAugment" in type(t).__name__ for t in train_transform.transforms)
    assert eval_transform.transforms[0].size == [34]  # 32 / 0.95, then a centre crop of 32
    train, val = imagefolder_datasets(str(write_folder(tmp_path)), augmentation, 2)
    assert train[0][0].shape == (3, 24, 24) and train[0][0].dtype == torch.uint8 and val[0][0].shape == (3, 32, 32)
    seeded = SeededPerImage(train)
    assert torch.equal(seeded[(7, 1)][0], seeded[(7, 1)][0]) and not torch.equal(seeded[(7, 1)][0], seeded[(8, 1)][0])


@pytest.mark.slow  # trains a run
def test_timm_a3_trains_a_step_on_an_image_folder_on_cpu(tmp_path):
    cfg = compose_config(
        [
            "trainer=timm_a3",
            "model=resnet20",
            "data=imagefolder",
            f"data.root={write_folder(tmp_path / 'data')}",
            "data.num_classes=2",
            "data.image_size=32",
            "trainer.train_image_size=24",
            "trainer.batch_size=4",
            "trainer.epochs=1",
            "trainer.warmup_epochs=0",
            "trainer.max_steps_per_epoch=1",
            "trainer.device=cpu",
            "trainer.progress=false",
            "data.num_workers=0",
            f"results_dir={tmp_path / 'results'}",
        ]
    )
    record = run_job(cfg)
    assert record["status"] == "completed", record["error"]
    assert record["config"]["trainer"]["optimizer"] == "lamb" and record["epochs"][0]["train_loss"] > 0


@pytest.mark.parametrize(
    "overrides,key",
    [
        (["trainer=timm_a3", "data=synthetic"], "trainer.randaugment"),
        (["trainer=timm_a3", "data=cifar10", "model=resnet20", "trainer.randaugment=null"], "trainer.eval_crop_pct"),
        (["trainer.optimizer=lamm"], "trainer.optimizer"),
        (["trainer.bce_target_threshold=0.2"], "trainer.bce_target_threshold"),
        (["trainer.randaugment=bogus"], "trainer.randaugment"),
        (["trainer.interpolation=nearest"], "trainer.interpolation"),
    ],
)
def test_recipe_parts_that_cannot_apply_are_refused_naming_the_key(overrides, key):
    with pytest.raises(ConfigError) as error:
        check_run(compose_config(overrides))
    assert error.value.key == key


def test_a_row_selects_its_recipe_and_the_typed_keys_still_win():
    cfg = compose_config(["+exp=recipe_sweep", "trainer.epochs=2", "trainer=imagenet_paper", "se.reduction=8"])
    a3 = apply_row(cfg, "SE-ResNet-50 + timm A3")
    assert (a3.trainer.optimizer, a3.trainer.lr, a3.trainer.epochs) == ("lamb", 8e-3, 2)
    assert (a3.se.enabled, a3.se.reduction, a3.exp.row) == (True, 8, "SE-ResNet-50 + timm A3")
    paper = apply_row(cfg, "ResNet-50 + SE paper recipe")
    assert (paper.trainer.schedule, paper.trainer.plateau_drops, paper.trainer.epochs) == ("plateau", 3, 2)
    assert not paper.se.enabled


def test_the_cifar_form_pairs_resnet110_with_and_without_se_under_each_recipe():
    """cifar_recipe_sweep: each SE row beside its own vanilla row, both under the same whole preset."""
    cfg = compose_config(["+exp=cifar_recipe_sweep", "trainer.epochs=2"])
    rows = {row.label: apply_row(cfg, row.label) for row in cfg.exp.rows}
    recipe = {
        label: (row.se.enabled, row.trainer.batch_size, row.trainer.schedule, row.trainer.ema_decay, row.trainer.epochs)
        for label, row in rows.items()
    }
    assert recipe == {
        "ResNet-110 + paper recipe": (False, 128, "multistep", 0.0, 2),
        "SE-ResNet-110 + paper recipe": (True, 128, "multistep", 0.0, 2),
        "ResNet-110 + cifar_fast": (False, 512, "onecycle", 0.99, 2),
        "SE-ResNet-110 + cifar_fast": (True, 512, "onecycle", 0.99, 2),
    }
    assert {(row.model.name, row.data.name) for row in rows.values()} == {("resnet110", "cifar10")}
    assert compose_config(["+exp=cifar_recipe_sweep"]).trainer.epochs == 164  # the file's own: the paper's


@pytest.mark.slow
def test_the_cli_runs_a_row_with_its_recipe_under_the_typed_keys(tmp_path):
    """Through Hydra's app: the row's preset is composed under the command line's own overrides."""
    args = [
        "+exp=recipe_sweep",
        "exp.row=ResNet-50 + timm A3",
        "model=resnet20",
        "data=synthetic",
        "data.train_size=8",
        "data.val_size=4",
        "trainer.epochs=1",
        "trainer.warmup_epochs=0",
        "trainer.max_steps_per_epoch=1",
        "trainer.batch_size=4",
        "trainer.device=cpu",
        "trainer.randaugment=null",
        "trainer.eval_crop_pct=null",
        "trainer.interpolation=bilinear",
        "trainer.train_image_size=16",
        f"results_dir={tmp_path}",
    ]
    result = subprocess.run([sys.executable, "-m", "senet_ablate", *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = iter_records(tmp_path)
    trainer = record["config"]["trainer"]
    assert (record["status"], record["label"]) == ("completed", "ResNet-50 + timm A3")
    assert (trainer["optimizer"], trainer["loss"], trainer["epochs"], trainer["train_image_size"]) == (
        "lamb",
        "bce",
        1,
        16,
    )
