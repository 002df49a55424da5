"""Sorting ImageNet's raw validation images into class folders from the devkit (torchvision's
parser), on a fake devkit of a few classes: the layout it makes, that the trainer's image-folder
checks then accept it, and that it is safe in a shared folder (no link followed, nothing replaced,
resumable)."""

import io
import os
import tarfile

import numpy as np
import pytest
import scipy.io
import torchvision.datasets.imagenet
from PIL import Image

from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data import build_datasets
from senet_ablate.data.imagefolder import list_splits
from senet_ablate.data.sort_imagenet import main as sort_imagenet

WNIDS = ["n01440764", "n01443537", "n01484850"]
TRUTH = [2, 1, 3, 3, 1, 2]  # the devkit's ILSVRC2012_IDs, line i for image i; IDs 1-3 are the leaf classes above


def jpeg(seed: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (12, 10, 3), dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


def name(number: int) -> str:
    return f"ILSVRC2012_val_{number:08d}.JPEG"


def add_member(archive: tarfile.TarFile, member_name: str, data: bytes) -> None:
    member = tarfile.TarInfo(member_name)
    member.size = len(data)
    archive.addfile(member, io.BytesIO(data))


@pytest.fixture
def devkit(tmp_path, monkeypatch):
    """A devkit archive laid out as ImageNet's: data/meta.mat (synsets, one of them not a leaf) and
    the ground truth, one ID a line. torchvision checks the real archive's MD5; it is not this one's."""
    monkeypatch.setattr(torchvision.datasets.imagenet, "_verify_archive", lambda *args: None)
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "wordnet_height", "num_train_images"]
    synsets = [(index + 1, wnid, f"class {index}", "a gloss", 0, 0, 1) for index, wnid in enumerate(WNIDS)]
    synsets.append((1001, "n00001740", "entity", "the root", 3, 19, 0))
    table = np.array(synsets, dtype=[(field, object) for field in fields])
    meta = io.BytesIO()
    scipy.io.savemat(meta, {"synsets": table})
    path = tmp_path / "ILSVRC2012_devkit_t12.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        add_member(archive, "ILSVRC2012_devkit_t12/data/meta.mat", meta.getvalue())
        truth = "".join(f"{index}\n" for index in TRUTH).encode()
        add_member(archive, "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", truth)
    return path


@pytest.fixture
def root(tmp_path):
    """An ImageNet root: train/ sorted by class, val/ as ImageNet ships it (flat)."""
    root = tmp_path / "imagenet"
    for wnid in WNIDS:
        (root / "train" / wnid).mkdir(parents=True)
        (root / "train" / wnid / f"{wnid}_1.JPEG").write_bytes(jpeg(0))
    (root / "val").mkdir()
    for number in range(1, len(TRUTH) + 1):
        (root / "val" / name(number)).write_bytes(jpeg(number))
    return root


def expected_layout(root) -> dict[str, bytes]:
    return {f"{WNIDS[label - 1]}/{name(number)}": jpeg(number) for number, label in enumerate(TRUTH, start=1)}


def layout(folder) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def test_a_raw_validation_folder_is_sorted_by_the_devkit_and_then_accepted(root, devkit, capsys):
    sort_imagenet([f"val={root}/val", f"devkit={devkit}"])
    assert layout(root / "val") == expected_layout(root)
    assert capsys.readouterr().out == f"{root}/val: 6 images in 3 class folders (6 placed now)\n"
    cfg = compose_config(["data=imagenet", f"data.root={root}", "data.num_classes=3", "data.image_size=8"])
    assert [len(split) for split in build_datasets(cfg)] == [3, 6]  # what a run checks and loads
    train, val = list_splits(str(root))
    assert val.classes == WNIDS
    labels = {os.path.basename(path): label for path, label in val.samples}
    assert labels == {name(number): label - 1 for number, label in enumerate(TRUTH, start=1)}


def test_a_sort_killed_half_way_is_finished_by_the_same_command(root, devkit, capsys):
    """Killed between link() and unlink(): image 1 is in its class folder and still flat (one
    file, two names); image 2 was moved; the rest were not touched."""
    for number in (1, 2):
        folder = root / "val" / WNIDS[TRUTH[number - 1] - 1]
        folder.mkdir()
        os.link(root / "val" / name(number), folder / name(number))
    (root / "val" / name(2)).unlink()
    sort_imagenet([f"val={root}/val", f"devkit={devkit}"])
    assert layout(root / "val") == expected_layout(root)
    assert all(path.stat().st_nlink == 1 for path in (root / "val").rglob("*.JPEG"))
    assert capsys.readouterr().out.endswith("(4 placed now)\n")
    sort_imagenet([f"val={root}/val", f"devkit={devkit}"])  # sorted: nothing to do
    assert layout(root / "val") == expected_layout(root)


def test_links_planted_in_a_shared_folder_are_refused_never_followed(root, devkit, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "val" / WNIDS[1]).symlink_to(elsewhere)  # where image 1's class folder goes
    with pytest.raises(ConfigError, match=f"{root}/val/{WNIDS[1]}.* a symbolic link or a file where a class folder"):
        sort_imagenet([f"val={root}/val", f"devkit={devkit}"])
    assert list(elsewhere.iterdir()) == [] and (root / "val" / name(1)).read_bytes() == jpeg(1)

    (root / "val" / WNIDS[1]).unlink()
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (root / "val" / name(4)).unlink()
    (root / "val" / name(4)).symlink_to(secret)  # a flat "image" that is a link
    with pytest.raises(ConfigError, match=f"{name(4)}'.* a symbolic link where an image is read or goes"):
        sort_imagenet([f"val={root}/val", f"devkit={devkit}"])
    assert secret.read_text() == "not yours" and (root / "val" / name(4)).is_symlink()


def test_a_different_file_where_an_image_goes_is_kept_not_replaced(root, devkit):
    folder = root / "val" / WNIDS[TRUTH[0] - 1]
    folder.mkdir()
    (folder / name(1)).write_bytes(b"someone's file")
    with pytest.raises(ConfigError, match=f"{folder / name(1)}'.* is not the image {name(1)} beside"):
        sort_imagenet([f"val={root}/val", f"devkit={devkit}"])
    assert (folder / name(1)).read_bytes() == b"someone's file" and (root / "val" / name(1)).read_bytes() == jpeg(1)


def test_the_validation_tar_is_sorted_member_by_member_and_a_stray_member_refused(root, devkit, tmp_path, capsys):
    tar = tmp_path / "ILSVRC2012_img_val.tar"
    with tarfile.open(tar, "w") as archive:
        for number in range(1, len(TRUTH) + 1):
            add_member(archive, name(number), jpeg(number))
    out = tmp_path / "sorted"
    sort_imagenet([f"val={out}", f"devkit={devkit}", f"tar={tar}"])
    assert layout(out) == expected_layout(root)
    sort_imagenet([f"val={out}", f"devkit={devkit}", f"tar={tar}"])  # again: nothing rewritten
    assert capsys.readouterr().out.splitlines()[-1].endswith("(0 placed now)")

    with tarfile.open(tar, "a") as archive:
        add_member(archive, f"../{name(1)}", b"escapes")
    with pytest.raises(ConfigError, match=rf"'\.\./{name(1)}' is not one of its 6 validation images"):
        sort_imagenet([f"val={tmp_path}/other", f"devkit={devkit}", f"tar={tar}"])
    linked = tmp_path / "linked.tar"
    with tarfile.open(linked, "w") as archive:
        member = tarfile.TarInfo(name(1))
        member.type, member.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(member)
    with pytest.raises(ConfigError, match=f"'{name(1)}' is not one of its 6 validation images"):
        sort_imagenet([f"val={tmp_path}/linked", f"devkit={devkit}", f"tar={linked}"])
    assert layout(tmp_path / "linked") == {}


def test_a_devkit_that_is_not_imagenets_is_one_line(tmp_path):
    fake = tmp_path / "ILSVRC2012_devkit_t12.tar.gz"
    fake.write_bytes(b"not the devkit")
    with pytest.raises(ConfigError, match="its MD5 is not fa75699e90414af021442c21a62c3abf, that of ImageNet's"):
        sort_imagenet([f"val={tmp_path}", f"devkit={fake}"])
