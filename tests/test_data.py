"""Datasets: what identifies them (fingerprints), unreadable images, and augmentations that do
not depend on the number of loader workers.

conftest.py's autouse `_private_cache` points SENET_ABLATE_CACHE_DIR at a fresh folder for every
test, so no test reads a fingerprint cached by another (or by the user)."""

import io
import logging
import os
import re
import shutil
import unicodedata
from functools import partial

import numpy as np
import pytest
import torch
from helpers import TINY, write_cifar, write_folder
from PIL import Image
from torch.utils.data import DataLoader

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data import build_loaders, dataset_fingerprint
from senet_ablate.data import fingerprint as fingerprint_module
from senet_ablate.data.imagefolder import (
    Augmentation,
    CheckedImages,
    CorruptImage,
    collate_skipping_none,
    imagefolder_datasets,
    load_image,
)
from senet_ablate.engine.trainer import NoImagesLeft, Trainer
from senet_ablate.models.build import build_model
from senet_ablate.records.store import run_id
from senet_ablate.runs.run import run_job

RUN = [*TINY, "trainer.epochs=1"]  # and a dataset: each test adds data=imagefolder or data=cifar10


def forget_fingerprints():
    """Drop the in-process memo, as a new process starts: the per-file hash cache is what is left."""
    fingerprint_module._folder_listed.cache_clear()
    fingerprint_module._places_listed.cache_clear()


def folder_data(root, *extra):
    return compose_config(["data=imagefolder", f"data.root={root}", "data.num_classes=2", *extra]).data


def test_image_folders_differing_in_content_differ_and_a_moved_copy_does_not(tmp_path):
    first = dataset_fingerprint(folder_data(write_folder(tmp_path / "a", seed=0)))
    assert dataset_fingerprint(folder_data(write_folder(tmp_path / "b", seed=0, per_class=5))) != first
    shutil.copytree(tmp_path / "a", tmp_path / "mnt" / "elsewhere")
    assert dataset_fingerprint(folder_data(tmp_path / "mnt" / "elsewhere")) == first
    shutil.move(tmp_path / "a", tmp_path / "moved")
    assert dataset_fingerprint(folder_data(tmp_path / "moved")) == first


def test_symlinked_split_and_class_folders_are_followed(tmp_path):
    """As ImageFolder follows them: a root assembled from links to another copy is that copy."""
    original = write_folder(tmp_path / "original")
    linked = tmp_path / "linked"
    (linked / "val").mkdir(parents=True)
    (linked / "train").symlink_to(original / "train", target_is_directory=True)
    for folder in (original / "val").iterdir():
        (linked / "val" / folder.name).symlink_to(folder, target_is_directory=True)
    assert dataset_fingerprint(folder_data(linked)) == dataset_fingerprint(folder_data(original))


def add_image(root):
    shutil.copy(root / "val" / "cat" / "0.png", root / "val" / "cat" / "extra.png")


def remove_image(root):
    (root / "train" / "dog" / "1.png").unlink()


def rename_image(root):
    (root / "train" / "dog" / "1.png").rename(root / "train" / "dog" / "renamed.png")


def rename_class(root):
    for split in ("train", "val"):
        (root / split / "dog").rename(root / split / "wolf")


@pytest.mark.parametrize("change", [add_image, remove_image, rename_image, rename_class])
def test_a_changed_listing_changes_the_cached_fingerprint(tmp_path, change):
    root = write_folder(tmp_path / "images")
    before = dataset_fingerprint(folder_data(root))
    change(root)
    assert dataset_fingerprint(folder_data(root)) != before


def test_files_imagefolder_does_not_load_do_not_count(tmp_path):
    root = write_folder(tmp_path / "images")
    before = dataset_fingerprint(folder_data(root))
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"finder")
    (root / "val" / "notes.txt").write_text("where the images come from")
    assert dataset_fingerprint(folder_data(root)) == before


def test_same_names_and_sizes_with_other_pixels_are_other_data_and_other_runs(tmp_path):
    """The issue's case: two folders of equal-sized BMPs, one of them noise, shared a run id."""
    first, second = (write_folder(tmp_path / name, seed=seed, suffix="bmp") for name, seed in (("a", 0), ("b", 1)))
    sizes = {path.relative_to(first): path.stat().st_size for path in first.rglob("*.bmp")}
    assert sizes == {path.relative_to(second): path.stat().st_size for path in second.rglob("*.bmp")}
    prints = [dataset_fingerprint(folder_data(root)) for root in (first, second)]
    assert prints[0] != prints[1]
    cfgs = [
        compose_config([*RUN, "data=imagefolder", f"data.root={root}", "data.num_classes=2"])
        for root in (first, second)
    ]
    assert run_id(cfgs[0], prints[0]) != run_id(cfgs[1], prints[1])


def test_the_same_images_written_twice_elsewhere_are_the_same_data(tmp_path):
    """Content, not modification times or paths: a copy made without -p has new times."""
    prints = {dataset_fingerprint(folder_data(write_folder(tmp_path / name, seed=0))) for name in ("a", "b")}
    assert len(prints) == 1


def test_an_image_rewritten_in_place_changes_the_fingerprint(tmp_path):
    """Same name, same size, new pixels and a new modification time: no folder's time changes."""
    root = write_folder(tmp_path / "images", suffix="bmp")
    first = dataset_fingerprint(folder_data(root))
    image, folder_time = root / "train" / "cat" / "0.bmp", (root / "train" / "cat").stat().st_mtime_ns
    size, time = image.stat().st_size, image.stat().st_mtime_ns
    Image.fromarray(np.zeros((36, 40, 3), dtype=np.uint8)).save(image)
    os.utime(image, ns=(time + 10**9, time + 10**9))
    assert image.stat().st_size == size and (root / "train" / "cat").stat().st_mtime_ns == folder_time
    forget_fingerprints()  # the next start
    assert dataset_fingerprint(folder_data(root)) != first


def test_file_hashes_are_cached_by_size_and_time_and_a_process_stats_once(tmp_path, monkeypatch, caplog):
    root = write_folder(tmp_path / "images")
    hashed, sha256 = [], fingerprint_module._sha256
    monkeypatch.setattr(fingerprint_module, "_sha256", lambda path: hashed.append(path.name) or sha256(path))
    listed, file_hashes = [], fingerprint_module.file_hashes
    monkeypatch.setattr(fingerprint_module, "file_hashes", lambda *args: listed.append(1) or file_hashes(*args))
    with caplog.at_level(logging.INFO, logger=fingerprint_module.__name__):
        first = dataset_fingerprint(folder_data(root))
    assert len(hashed) == 16 and len(listed) == 2  # 2 splits x 2 classes x 4 images
    assert "hashing 8 files" in caplog.text and "first fingerprint of this folder" in caplog.text
    assert dataset_fingerprint(folder_data(root)) == first and len(listed) == 2  # memoised: nothing stat-ed
    forget_fingerprints()
    assert dataset_fingerprint(folder_data(root)) == first and len(hashed) == 16 and len(listed) == 4
    touched = root / "val" / "dog" / "3.png"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    forget_fingerprints()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=fingerprint_module.__name__):
        assert dataset_fingerprint(folder_data(root)) == first  # read again; the same bytes
    assert hashed[16:] == ["3.png"] and "hashing 1 files" in caplog.text and "1 new or changed" in caplog.text


def test_a_damaged_or_unwritable_cache_only_costs_a_rehash(tmp_path, monkeypatch, caplog):
    root = write_folder(tmp_path / "images")
    first = dataset_fingerprint(folder_data(root))
    cache_files = list(fingerprint_module.cache_dir().rglob("*.json"))
    assert len(cache_files) == 2  # train/ and val/
    for damage in ("{not json", "[]", '{"version": 3}', '{"version": 3, "folder": 1, "files": 2}'):
        cache_files[0].write_text(damage)
        forget_fingerprints()
        assert dataset_fingerprint(folder_data(root)) == first
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    monkeypatch.setenv("SENET_ABLATE_CACHE_DIR", str(blocked))
    forget_fingerprints()
    with caplog.at_level(logging.DEBUG, logger=fingerprint_module.__name__):
        assert dataset_fingerprint(folder_data(root)) == first
    assert "cannot cache the file hashes" in caplog.text


def test_hidden_folders_are_not_classes(tmp_path):
    """Jupyter leaves .ipynb_checkpoints wherever a notebook was opened; torchvision's
    find_classes took it for a class and make_dataset then raised FileNotFoundError."""
    root = write_folder(tmp_path / "images")
    first = dataset_fingerprint(folder_data(root))
    for split in ("train", "val"):
        (root / split / ".ipynb_checkpoints").mkdir()
    forget_fingerprints()
    assert dataset_fingerprint(folder_data(root)) == first
    train, val = imagefolder_datasets(str(root), Augmentation(32), 2)
    assert {label for _, label in train.samples} == {0, 1} and len(val) == 8


def test_a_class_folder_without_images_is_named(tmp_path):
    root = write_folder(tmp_path / "images")
    for name in ("cat", "dog"):
        shutil.rmtree(root / "val" / name)
        (root / "val" / name).mkdir()
    (root / "val" / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(ConfigError) as refused:
        dataset_fingerprint(folder_data(root))
    assert refused.value.key == "data.root" and refused.value.value == str(root)
    assert refused.value.allowed == (
        f"class folders with no images: {root}/val/cat, {root}/val/dog "
        "(images end in .jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp): add images or remove the folders"
    )


def test_a_flat_validation_folder_is_named_as_imagenets_raw_layout(tmp_path):
    root = write_folder(tmp_path / "images")
    for path in (root / "val").glob("*/*.png"):
        path.rename(root / "val" / f"{path.parent.name}_{path.name}")
    for name in ("cat", "dog"):
        (root / "val" / name).rmdir()
    with pytest.raises(ConfigError) as refused:
        dataset_fingerprint(folder_data(root))
    assert refused.value.key == "data.root"
    assert refused.value.allowed == (
        f"{root}/val holds 8 images but no class folders, like ImageNet's raw validation layout: for ImageNet's, "
        f"run `python -m senet_ablate.data.sort_imagenet val={root}/val devkit=<ILSVRC2012_devkit_t12.tar.gz>`; "
        f"sort others into one folder per class, {root}/val/<class>/"
    )


def test_a_validation_folder_with_neither_classes_nor_images_says_to_sort_them(tmp_path):
    root = write_folder(tmp_path / "images")
    shutil.rmtree(root / "val")
    (root / "val").mkdir()
    with pytest.raises(ConfigError) as refused:
        dataset_fingerprint(folder_data(root))
    assert refused.value.allowed == (
        f"{root}/val has no class folders: sort the images into one folder per class, {root}/val/<class>/"
    )


def cifar_data(root):
    return compose_config(["data=cifar10", f"data.root={root}"]).data


def test_cifar_fingerprint_is_its_bytes_not_its_path(tmp_path):
    first = dataset_fingerprint(cifar_data(write_cifar(tmp_path / "one", seed=0)))
    shutil.copytree(tmp_path / "one", tmp_path / "copy")
    assert dataset_fingerprint(cifar_data(tmp_path / "copy")) == first
    assert dataset_fingerprint(cifar_data(write_cifar(tmp_path / "same-size", seed=1))) != first
    assert dataset_fingerprint(cifar_data(write_cifar(tmp_path / "larger", seed=0, images=21))) != first


def test_synthetic_fingerprint_is_the_generators_version(monkeypatch):
    data = compose_config(["data=synthetic"]).data
    first = dataset_fingerprint(data)
    assert first == dataset_fingerprint(compose_config(["data=synthetic", "seed=3"]).data)
    assert len(first) == 16 and int(first, 16) >= 0
    monkeypatch.setattr(fingerprint_module, "GENERATOR_VERSION", fingerprint_module.GENERATOR_VERSION + 1)
    assert dataset_fingerprint(data) != first


def test_missing_datasets_name_data_root(tmp_path):
    with pytest.raises(ConfigError, match="data.root=.*expected .*/train with one folder per class"):
        dataset_fingerprint(folder_data(tmp_path))
    (tmp_path / "train").mkdir()
    with pytest.raises(ConfigError, match="data.root=.*expected .*/val with one folder per class"):
        dataset_fingerprint(folder_data(tmp_path))
    with pytest.raises(ConfigError, match="data.root=.*data.download=true or data=synthetic"):
        dataset_fingerprint(cifar_data(tmp_path))


@pytest.mark.slow  # trains a run
def test_two_datasets_of_one_config_are_two_runs(tmp_path):
    """The issue's case: the second folder was 'skipped' as the first one's completed run."""
    common = [
        *RUN,
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


def truncated_jpeg(path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])  # a valid header, half the pixels


UNREADABLE = {
    "truncated.png": lambda path: path.write_bytes((path.parent / "0.png").read_bytes()[:120]),
    "truncated.jpg": truncated_jpeg,
    "empty.jpg": lambda path: path.write_bytes(b""),
    "text.jpg": lambda path: path.write_text("not an image"),
}


@pytest.mark.parametrize("name", UNREADABLE)
def test_an_unreadable_image_is_named(tmp_path, name):
    root = write_folder(tmp_path / "images")
    path = root / "train" / "cat" / name
    UNREADABLE[name](path)
    train, _ = imagefolder_datasets(str(root), Augmentation(32), 2)
    index = train.samples.index((str(path), 0))
    with pytest.raises(CorruptImage, match=f"unreadable image {re.escape(str(path))} .*set data.skip_corrupt=true"):
        train[index]


@pytest.mark.slow  # starts a loader worker process
def test_an_unreadable_image_is_named_from_a_loader_worker(tmp_path):
    root = write_folder(tmp_path / "images")
    (broken,) = [path for path in break_images(root) if path.parts[-3] == "val"]
    _, val = imagefolder_datasets(str(root), Augmentation(32), 2)
    with pytest.raises(CorruptImage, match=f"(?s)worker process.*unreadable image {re.escape(str(broken))}"):
        list(DataLoader(val, batch_size=4, num_workers=1))


def test_skip_corrupt_leaves_unreadable_images_out_of_their_batches(tmp_path, caplog):
    root = write_folder(tmp_path / "images")
    broken = break_images(root)
    train, val = imagefolder_datasets(str(root), Augmentation(32), 2, skip_corrupt=True)
    with caplog.at_level(logging.WARNING):
        for dataset, readable in ((train, 8), (val, 8)):
            batches = list(DataLoader(dataset, batch_size=4, collate_fn=partial(collate_skipping_none, side=32)))
            assert sum(len(labels) for _, labels in batches) == readable
            assert all(images.shape[1:] == (3, 32, 32) for images, labels in batches if len(labels))
    assert all(f"skipping unreadable image {path}" in caplog.text for path in broken)


def test_collate_skipping_none_drops_the_skipped_images():
    image = torch.zeros(3, 4, 4)
    images, labels = collate_skipping_none([None, (image, 1), None, (image + 1, 0)], side=4)
    assert images.shape == (2, 3, 4, 4) and labels.tolist() == [1, 0]
    # None left: no images, shaped as the split's (a DDP process runs the model on them)
    images, labels = collate_skipping_none([None, None], side=4)
    assert labels.numel() == 0 and labels.dtype == torch.long
    assert images.shape == (0, 3, 4, 4) and images.dtype == torch.uint8


def test_val_must_have_the_training_classes(tmp_path):
    """Labels are class indices: a val/ without `cat` would label its dogs as cats."""
    root = write_folder(tmp_path / "images")
    shutil.rmtree(root / "val" / "cat")
    with pytest.raises(
        ConfigError, match="data.root=.*val must have the class folders of .*train: only in train: 'cat'$"
    ):
        imagefolder_datasets(str(root), Augmentation(32), 2)


def test_a_class_mismatch_names_the_classes_and_a_unicode_normalisation_twin(tmp_path):
    """NFC and NFD spellings of 'Über' look the same on screen; ascii() shows them apart."""
    root = write_folder(tmp_path / "images", classes=("a", "b", "c", "d", "e", "f", "g"), per_class=1)
    shutil.rmtree(root / "val" / "a")  # 6 classes only in val, 2 only in train
    for index in range(6):
        (root / "val" / f"v{index}").mkdir()
    (root / "train" / unicodedata.normalize("NFC", "Über")).mkdir()
    (root / "val" / unicodedata.normalize("NFD", "Über")).mkdir()
    with pytest.raises(ConfigError) as refused:
        dataset_fingerprint(folder_data(root))
    assert refused.value.allowed == (
        f"{root}/val must have the class folders of {root}/train: only in train: 'a', '\\xdcber'; "
        "only in val: 'U\\u0308ber', 'v0', 'v1', 'v2', 'v3' and 2 more; "
        "'\\xdcber' and 'U\\u0308ber' (NFC vs NFD) differ only in Unicode normalisation: rename one of each pair"
    )


GREY = np.random.default_rng(0).integers(0, 16_000, (24, 32)).astype(np.uint16)  # true 8-bit mean ~31


@pytest.mark.parametrize(
    "name, pixels, mode",
    [
        ("grey16.png", GREY, "I;16"),
        ("big-endian16.tif", GREY.astype(">u2"), "I;16B"),
        ("int32.tif", GREY.astype(np.int32), "I"),
    ],
)
def test_images_wider_than_8_bits_are_scaled_not_clipped(tmp_path, name, pixels, mode):
    """PIL's convert('RGB') clipped a 16-bit PNG of mean 31 to 98.8% white."""
    Image.fromarray(pixels).save(tmp_path / name)
    with Image.open(tmp_path / name) as opened:
        assert opened.mode == mode
    loaded = np.asarray(load_image(str(tmp_path / name)))
    assert loaded.shape == (24, 32, 3) and loaded.dtype == np.uint8
    assert abs(loaded.mean() - GREY.mean() / 257) < 1
    assert loaded.max() == round(GREY.max() / 257)


def test_floating_point_images_are_refused_and_can_be_skipped(tmp_path):
    path = tmp_path / "depth.tif"
    Image.fromarray(np.ones((8, 8), dtype=np.float32)).save(path)
    with pytest.raises(CorruptImage, match=f"^unreadable image {re.escape(str(path))} \\(mode F .*skip_corrupt=true"):
        load_image(str(path))
    assert CheckedImages([(str(path), 0)], transform=None, skip_corrupt=True)[0] is None


@pytest.mark.slow  # trains a run
def test_skipped_images_are_counted_in_the_record_and_a_failure_names_the_file(tmp_path):
    root = write_folder(tmp_path / "images", per_class=8)
    broken = break_images(root)
    common = [
        *RUN,
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


@pytest.mark.slow  # trains a run
def test_worker_count_changes_no_result(tmp_path):
    """`data.num_workers` is outside the run id: augmentations are seeded per image, not per worker."""
    root = write_cifar(tmp_path / "cifar", images=40)
    records = []
    for workers in (0, 2):
        cfg = compose_config(
            [
                *RUN,
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
    first = train[7, 3][0]
    train[7, 5]  # anything drawn in between
    torch.testing.assert_close(train[7, 3][0], first)
    assert not torch.equal(train[8, 3][0], first)


def unreadable_split(root, split):
    """Replace every image of `split` by bytes no decoder reads."""
    for path in (root / split).rglob("*.png"):
        path.write_text("not an image")


def trainer_on(root, tmp_path):
    cfg = compose_config([*RUN, *folder_options(root), "data.skip_corrupt=true", f"results_dir={tmp_path}"])
    device, dist = torch.device("cpu"), DistributedContext()
    loaders = build_loaders(cfg, dist, device)
    return Trainer(cfg, build_model(cfg), loaders, device, dist, tmp_path / "checkpoint.pt")


def folder_options(root):
    return [
        "data=imagefolder",
        f"data.root={root}",
        "data.num_classes=2",
        "data.image_size=32",
        "data.num_workers=0",
        "trainer.batch_size=4",
    ]


@pytest.mark.parametrize("split", ["train", "val"])
def test_a_split_with_no_readable_image_is_a_named_error(tmp_path, split):
    root = write_folder(tmp_path / "images")  # 2 classes x 4 images per split
    unreadable_split(root, split)
    trainer = trainer_on(root, tmp_path)
    trainer.loaders.set_epoch(0)
    step = trainer.evaluate if split == "val" else lambda: trainer.train_one_epoch(0)
    with pytest.raises(NoImagesLeft) as error:
        step()
    where = "validation" if split == "val" else "training (epoch 1)"
    assert str(error.value) == (
        f"all 8 {where} images were unreadable and skipped (data.skip_corrupt=true): check data.root={root}"
    )


@pytest.mark.slow  # trains a run
def test_a_run_with_no_readable_image_fails_with_one_log_line(tmp_path, caplog):
    root = write_folder(tmp_path / "images")
    unreadable_split(root, "train")
    cfg = compose_config([*RUN, *folder_options(root), "data.skip_corrupt=true", f"results_dir={tmp_path / 'r'}"])
    with caplog.at_level(logging.ERROR):
        record = run_job(cfg)
    message = (
        f"all 8 training (epoch 1) images were unreadable and skipped (data.skip_corrupt=true): check data.root={root}"
    )
    assert record["status"] == "failed" and record["error"] == message
    (logged,) = [entry for entry in caplog.records if entry.levelno >= logging.ERROR]
    assert logged.getMessage() == f"run {record['run_id']} failed: {message}" and logged.exc_info is None
