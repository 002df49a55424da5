"""Datasets: what identifies them (fingerprints), unreadable images, and augmentations that do
not depend on the number of loader workers."""

import pickle
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from senet_ablate.config import compose_config
from senet_ablate.data import fingerprint as fingerprint_module
from senet_ablate.data.fingerprint import dataset_fingerprint
from senet_ablate.data.imagefolder import CorruptImage, collate_skipping_none, imagefolder_datasets
from senet_ablate.errors import ConfigError
from senet_ablate.run import run_job

TINY = ["model=resnet20", "trainer=smoke", "trainer.device=cpu", "trainer.progress=false", "trainer.epochs=1"]


def write_folder(root, seed=0, per_class=4, classes=("cat", "dog")):
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for label in classes:
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(folder / f"{index}.png")
    return root


def write_cifar(root, seed=0, images=20):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (images, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, images)),
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle)
    return root


def folder_data(root, *extra):
    return compose_config(["data=imagefolder", f"data.root={root}", "data.num_classes=2", *extra]).data


def test_image_folders_differing_in_content_differ_and_a_moved_copy_does_not(tmp_path):
    first = dataset_fingerprint(folder_data(write_folder(tmp_path / "a", seed=0)))
    assert dataset_fingerprint(folder_data(write_folder(tmp_path / "b", seed=0, per_class=5))) != first
    shutil.copytree(tmp_path / "a", tmp_path / "mnt" / "elsewhere")
    assert dataset_fingerprint(folder_data(tmp_path / "mnt" / "elsewhere")) == first
    shutil.move(tmp_path / "a", tmp_path / "moved")
    assert dataset_fingerprint(folder_data(tmp_path / "moved")) == first


def test_an_added_file_changes_the_fingerprint_though_it_is_cached(tmp_path):
    root = write_folder(tmp_path / "images")
    before = dataset_fingerprint(folder_data(root))
    shutil.copy(root / "val" / "cat" / "0.png", root / "val" / "cat" / "extra.png")
    assert dataset_fingerprint(folder_data(root)) != before


def test_the_cache_spares_the_scan_of_every_file(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "images")
    first = dataset_fingerprint(folder_data(root))
    monkeypatch.setattr(fingerprint_module, "_folder_listing", lambda *args: pytest.fail("rescanned every file"))
    assert dataset_fingerprint(folder_data(root)) == first


def test_a_damaged_or_unwritable_cache_only_costs_a_rescan(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "images")
    first = dataset_fingerprint(folder_data(root))
    for cache_file in fingerprint_module.cache_dir().rglob("*.json"):
        cache_file.write_text("{not json")
    assert dataset_fingerprint(folder_data(root)) == first
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    monkeypatch.setenv("SENET_ABLATE_CACHE_DIR", str(blocked))
    assert dataset_fingerprint(folder_data(root)) == first


def test_cifar_fingerprint_is_its_bytes_not_its_path(tmp_path):
    data = compose_config(["data=cifar10", f"data.root={write_cifar(tmp_path / 'one', seed=0)}"]).data
    same = compose_config(["data=cifar10", f"data.root={write_cifar(tmp_path / 'two', seed=0)}"]).data
    other = compose_config(["data=cifar10", f"data.root={write_cifar(tmp_path / 'three', seed=1)}"]).data
    assert dataset_fingerprint(data) == dataset_fingerprint(same) != dataset_fingerprint(other)


def test_synthetic_fingerprint_is_the_generators_version():
    data = compose_config(["data=synthetic"]).data
    assert dataset_fingerprint(data) == dataset_fingerprint(compose_config(["data=synthetic", "seed=3"]).data)
    assert len(dataset_fingerprint(data)) == 16


def test_missing_datasets_name_data_root(tmp_path):
    with pytest.raises(ConfigError, match="data.root=.*expected .*/train with one folder per class"):
        dataset_fingerprint(folder_data(tmp_path))
    with pytest.raises(ConfigError, match="data.root=.*data.download=true or data=synthetic"):
        dataset_fingerprint(compose_config(["data=cifar10", f"data.root={tmp_path}"]).data)


def test_two_datasets_of_one_config_are_two_runs(tmp_path):
    """The issue's case: the second folder was 'skipped' as the first one's completed run."""
    common = [
        *TINY,
        "data=imagefolder",
        "data.num_classes=2",
        "data.image_size=32",
        "data.num_workers=0",
        "trainer.batch_size=4",
        f"results_dir={tmp_path / 'results'}",
    ]
    first = run_job(compose_config([*common, f"data.root={write_folder(tmp_path / 'a', seed=0)}"]))
    second = run_job(compose_config([*common, f"data.root={write_folder(tmp_path / 'b', seed=1, per_class=5)}"]))
    assert first["run_id"] != second["run_id"] and first["data_fingerprint"] != second["data_fingerprint"]
    assert second["status"] == "completed" and len(second["epochs"]) == 1
    shutil.copytree(tmp_path / "a", tmp_path / "a-copy")
    again = run_job(compose_config([*common, f"data.root={tmp_path / 'a-copy'}"]))
    assert again == first  # the same data elsewhere is the same, completed run


def break_images(root):
    broken = [
        root / "train" / "cat" / "truncated.png",
        root / "train" / "dog" / "empty.jpg",
        root / "val" / "cat" / "text.jpg",
    ]
    broken[0].write_bytes((root / "train" / "cat" / "0.png").read_bytes()[:120])
    broken[1].write_bytes(b"")
    broken[2].write_text("not an image")
    return broken


def test_an_unreadable_image_is_named(tmp_path):
    root = write_folder(tmp_path / "images")
    broken = break_images(root)
    train, _ = imagefolder_datasets(str(root), 32, 2)
    index = next(i for i, (path, _) in enumerate(train.samples) if path == str(broken[0]))
    with pytest.raises(CorruptImage, match=f"unreadable image {broken[0]} .*set data.skip_corrupt=true"):
        train[index]


def test_skip_corrupt_leaves_unreadable_images_out_of_their_batches(tmp_path):
    root = write_folder(tmp_path / "images")
    break_images(root)
    train, val = imagefolder_datasets(str(root), 32, 2, skip_corrupt=True)
    for dataset, readable in ((train, 8), (val, 8)):
        batches = list(DataLoader(dataset, batch_size=4, collate_fn=collate_skipping_none))
        assert sum(len(labels) for _, labels in batches) == readable
        assert all(images.shape[1:] == (3, 32, 32) for images, labels in batches if len(labels))


def test_skipped_images_are_counted_in_the_record_and_a_failure_names_the_file(tmp_path):
    root = write_folder(tmp_path / "images", per_class=8)
    broken = break_images(root)
    common = [
        *TINY,
        "data=imagefolder",
        f"data.root={root}",
        "data.num_classes=2",
        "data.image_size=32",
        "data.num_workers=0",
        "trainer.batch_size=6",
        f"results_dir={tmp_path / 'results'}",
    ]
    failed = run_job(compose_config(common))
    assert failed["status"] == "failed" and any(str(path) in failed["error"] for path in broken)
    skipped = run_job(compose_config([*common, "data.skip_corrupt=true"]))
    assert skipped["status"] == "completed"
    # 2 unreadable training images (batches of 6 read all 18) and 1 in validation
    assert skipped["skipped_images"] == skipped["epochs"][0]["skipped_images"] == 3


def test_worker_count_changes_no_result(tmp_path):
    """`data.num_workers` is outside the run id: augmentations are seeded per image, not per worker."""
    root = write_cifar(tmp_path / "cifar", images=40)
    records = []
    for workers in (0, 2):
        cfg = compose_config(
            [
                *TINY,
                "data=cifar10",
                f"data.root={root}",
                f"data.num_workers={workers}",
                "trainer.batch_size=50",
                f"results_dir={tmp_path / str(workers)}",
            ]
        )
        records.append(run_job(cfg))
    assert records[0]["run_id"] == records[1]["run_id"]
    assert records[0]["epochs"][0]["train_loss"] == records[1]["epochs"][0]["train_loss"]
    assert records[0]["top1_err"] == records[1]["top1_err"]


def test_augmentation_is_a_function_of_epoch_seed_and_index(tmp_path):
    from senet_ablate.data.build import SeededPerImage

    root = write_cifar(tmp_path / "cifar")
    data = compose_config(["data=cifar10", f"data.root={root}"]).data
    from senet_ablate.data.cifar import cifar_datasets

    train = SeededPerImage(cifar_datasets(data.name, data.root, False)[0])
    train.epoch_seed = 7
    first = train[3][0]
    train[5]  # anything drawn in between
    torch.testing.assert_close(train[3][0], first)
    train.epoch_seed = 8
    assert not torch.equal(train[3][0], first)
