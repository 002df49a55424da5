"""`data.augment` for image folders: ImageNet's crop, CIFAR's pad-and-crop for small images, or none."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data.imagefolder import Augmentation, train_eval_transforms
from senet_ablate.records.store import iter_records, run_id
from senet_ablate.runs.checks import check_run

IMAGE = np.arange(32 * 32 * 3, dtype=np.int64).reshape(32, 32, 3) % 251  # every pixel tells where it was


def crops_of_the_padded_image(image: np.ndarray, pad: int = 4) -> list[np.ndarray]:
    """Every 32x32 crop of `image` zero-padded by `pad`, and each flipped: what CIFAR's augmentation may give."""
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    crops = [padded[top : top + 32, left : left + 32] for top in range(2 * pad + 1) for left in range(2 * pad + 1)]
    return crops + [crop[:, ::-1] for crop in crops]


def test_cifar_augmentation_pads_4_px_crops_and_flips_and_evaluates_the_whole_image():
    train, evaluation = train_eval_transforms(Augmentation(32, augment="cifar"))
    image = Image.fromarray(IMAGE.astype(np.uint8))
    allowed = crops_of_the_padded_image(IMAGE)
    torch.manual_seed(0)
    outputs = [train(image).permute(1, 2, 0).numpy() for _ in range(40)]
    for output in outputs:
        assert any(np.array_equal(output, crop) for crop in allowed)
    assert len({output.tobytes() for output in outputs}) > 10  # random: many of the 162 crops drawn
    assert any((output[:4] == 0).all() or (output[-4:] == 0).all() for output in outputs)  # a full 4 px of padding
    unflipped = allowed[: len(allowed) // 2]
    assert any(not any(np.array_equal(output, crop) for crop in unflipped) for output in outputs)  # some flipped
    assert np.array_equal(evaluation(image).permute(1, 2, 0).numpy(), IMAGE)  # the whole image, unchanged


def test_no_augmentation_trains_on_what_is_evaluated():
    train, evaluation = train_eval_transforms(Augmentation(32, augment="none"))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    torch.manual_seed(0)
    assert torch.equal(train(image), evaluation(image)) and train(image).shape == (3, 32, 32)


def test_imagenet_augmentation_crops_at_random_scales():
    train, _ = train_eval_transforms(Augmentation(32))
    image = Image.fromarray(IMAGE.astype(np.uint8))
    torch.manual_seed(0)
    outputs = [train(image).permute(1, 2, 0).numpy() for _ in range(20)]
    allowed = crops_of_the_padded_image(IMAGE)
    assert any(not any(np.array_equal(output, crop) for crop in allowed) for output in outputs)  # resized crops


def folder(*overrides):
    return compose_config(["data=imagefolder", "data.root=/x", "data.num_classes=2", "data.image_size=32", *overrides])


def test_augment_is_refused_where_it_does_not_apply_and_is_part_of_the_run_id():
    with pytest.raises(ConfigError, match="data.augment='imagenet' is not allowed: data=cifar10 is augmented as cifar"):
        check_run(compose_config(["data=cifar10", "data.augment=imagenet"]))
    with pytest.raises(ConfigError, match="data.augment='cifar' is not allowed: data.loader=dali augments as imagenet"):
        check_run(folder("data.loader=dali", "data.augment=cifar"))
    with pytest.raises(ConfigError, match="trainer.eval_crop_pct=0.9 is not allowed: data.augment=cifar trains"):
        check_run(folder("data.augment=cifar", "trainer.eval_crop_pct=0.9"))
    with pytest.raises(ConfigError, match="data.augment='flip' is not allowed: choose one of imagenet, cifar, none"):
        check_run(folder("data.augment=flip"))
    check_run(folder("data.augment=cifar"))
    assert run_id(folder("data.augment=cifar"), "f") != run_id(folder(), "f")


@pytest.mark.slow
def test_a_32_px_image_folder_trains_with_cifar_augmentation_from_the_command_line(tmp_path):
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("val", 4)):
        for label in ("cat", "dog"):
            (tmp_path / "images" / split / label).mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / "images" / split / label / f"{index}.png")
    command = [sys.executable, "-m", "senet_ablate", "model=resnet20", "data=imagefolder", "data.augment=cifar"]
    command += [f"data.root={tmp_path / 'images'}", "data.num_classes=2", "data.image_size=32", "trainer=smoke"]
    command += ["trainer.device=cpu", "trainer.epochs=1", "trainer.batch_size=8", f"results_dir={tmp_path / 'results'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (record,) = iter_records(tmp_path / "results")
    assert record["status"] == "completed" and record["config"]["data"]["augment"] == "cifar"
    assert record["epochs"][0]["val_images"] == 8
