"""Places-365 from a tiny copy in torchvision's on-disk layout (the paper's Table 6)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data import dataset_fingerprint
from senet_ablate.runs.checks import check_run
from senet_ablate.runs.run import run_job

TRAIN = [("/a/airfield/00000001.jpg", 0), ("/a/airfield/00000002.jpg", 0), ("/b/bakery/00000001.jpg", 2)] * 2
VAL = [("Places365_val_00000001.jpg", 2), ("Places365_val_00000002.jpg", 0)]


def write_meta(root: Path, variant: str = "challenge", train=TRAIN, val=VAL) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "categories_places365.txt").write_text("".join(f"/c/class{i} {i}\n" for i in range(365)))
    unique_train = list(dict.fromkeys(train))
    (root / f"places365_train_{variant}.txt").write_text("".join(f"{name} {label}\n" for name, label in unique_train))
    (root / "places365_val.txt").write_text("".join(f"{name} {label}\n" for name, label in val))


def write_images(folder: Path, names, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for name, _ in names:
        path = folder / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path, format="JPEG")


def write_places(root: Path, variant: str = "challenge") -> Path:
    write_meta(root, variant)
    write_images(root / f"data_large_{variant}", TRAIN)
    write_images(root / "val_large", VAL, seed=1)
    return root


def _cfg(root, *extra):
    return compose_config(
        [
            "model=resnet20",
            "data=places365",
            f"data.root={root}",
            "data.image_size=32",
            "data.num_workers=0",
            "trainer=smoke",
            "trainer.epochs=1",
            "trainer.batch_size=3",
            "trainer.device=cpu",
            "trainer.progress=false",
            *extra,
        ]
    )


@pytest.mark.slow  # trains a run
def test_a_places365_run_trains_on_the_file_lists_images(tmp_path):
    root = write_places(tmp_path / "places")
    record = run_job(_cfg(root, f"results_dir={tmp_path / 'results'}"))
    assert record["status"] == "completed"
    assert record["epochs"][0]["val_images"] == 2 and record["data_fingerprint"]


def test_the_fingerprint_is_the_file_lists_and_images_not_the_path(tmp_path):
    root = write_places(tmp_path / "places")
    first = dataset_fingerprint(_cfg(root).data)
    shutil.copytree(root, tmp_path / "copy")
    assert dataset_fingerprint(_cfg(tmp_path / "copy").data) == first
    relabelled = tmp_path / "relabelled"
    shutil.copytree(root, relabelled)
    write_meta(relabelled, val=[(VAL[0][0], 5), VAL[1]])  # one validation image's label changed
    assert dataset_fingerprint(_cfg(relabelled).data) != first
    replaced = tmp_path / "replaced"
    shutil.copytree(root, replaced)
    write_images(replaced / "val_large", VAL[:1], seed=2)  # one image, same name, other pixels
    assert dataset_fingerprint(_cfg(replaced).data) != first


def test_a_listed_image_that_is_missing_is_named(tmp_path):
    root = write_places(tmp_path / "places")
    missing = root / "data_large_challenge" / "b" / "bakery" / "00000001.jpg"
    missing.unlink()
    with pytest.raises(ConfigError) as refused:
        dataset_fingerprint(_cfg(root).data)
    assert refused.value.key == "data.root"
    assert refused.value.allowed == f"{missing}, named in {root}/places365_train_challenge.txt, is missing"


def test_a_missing_copy_names_the_file_and_bad_keys_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="data.root=.* no Places-365 at .*categories_places365.txt"):
        dataset_fingerprint(_cfg(tmp_path / "nothing").data)
    with pytest.raises(ConfigError, match="data.variant='hard'.*choose one of challenge, standard"):
        check_run(_cfg(tmp_path, "data.variant=hard"))
    with pytest.raises(ConfigError, match="data.small=True.*only data=places365"):
        check_run(compose_config(["data=imagenet", "data.small=true"]))


@pytest.mark.slow  # trains a run
def test_download_goes_through_torchvisions_places365(tmp_path, monkeypatch):
    """torchvision's Places365 fetches the devkit and the image archives (faked here: no network
    in tests) and renames the training folder; then we read what it left."""
    source = write_places(tmp_path / "source", variant="standard")
    fetched = []

    def fake_download(url, root, md5=None):
        fetched.append(url.rsplit("/", 1)[-1])
        root = Path(root)
        if "filelist" in url:
            write_meta(root, "standard")
        elif "train_large" in url:
            shutil.copytree(source / "data_large_standard", root / "data_large")  # the archive's folder name
        else:
            shutil.copytree(source / "val_large", root / "val_large")

    monkeypatch.setattr("torchvision.datasets.places365.download_and_extract_archive", fake_download)
    cfg = _cfg(tmp_path / "downloaded", "data.variant=standard", "data.download=true", f"results_dir={tmp_path / 'r'}")
    assert dataset_fingerprint(cfg.data) == dataset_fingerprint(_cfg(source, "data.variant=standard").data)
    assert "train_large_places365standard.tar" in fetched and "val_large.tar" in fetched
    assert run_job(cfg)["status"] == "completed"
