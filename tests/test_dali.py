"""`data.loader=dali` on the CPU device (DALI's CPU operators): the same windows, flips, order and
labels as the DataLoader path, pixel values within resampling noise of torchvision's, exact
resume and sharding; and when it is refused."""

import importlib.util
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data.build import build_loaders
from senet_ablate.data.dali import DaliFailure, eval_cut, import_dali, read_image, train_cut
from senet_ablate.data.imagefolder import CorruptImage
from senet_ablate.engine.machine import for_device
from senet_ablate.runs.checks import check_run
from senet_ablate.runs.run import run_job

CPU = torch.device("cpu")
SIZES = [(80, 60), (50, 90), (64, 64), (120, 45)]  # (width, height): landscape, portrait, square, wide
GREY_LEVEL = 1 / (255 * 0.224)  # one uint8 step, in normalised units (ImageNet's std ~ 0.224)
needs_dali = pytest.mark.skipif(
    importlib.util.find_spec("nvidia") is None or importlib.util.find_spec("nvidia.dali") is None,
    reason="NVIDIA DALI is not installed (pip install 'senet-ablate[dali]'; the dev extra has it on Linux x86_64)",
)


def write_smooth_folder(root, suffix="png", per_class=5):
    """Gradient images of several shapes (JPEGs with an EXIF orientation, which PIL ignores;
    "png16": 16-bit greyscale PNGs of the first channel): resampling differences between DALI and
    torchvision stay within a grey level on them, so the comparison can be tight."""
    for split in ("train", "val"):
        for label, phase in (("cat", 0), ("dog", 1)):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                width, height = SIZES[(index + phase) % len(SIZES)]
                y, x = np.mgrid[0:height, 0:width]
                channels = [x * 255 // width, y * 255 // height, (x + y + 60 * phase) * 255 // (width + height + 60)]
                image = Image.fromarray(np.stack(channels, -1).astype(np.uint8))
                if suffix == "png16":
                    image = Image.fromarray((channels[0] * 257).astype(np.uint16))  # mode I;16
                exif = Image.Exif()
                exif[0x0112] = 6 if index == 0 else 1  # EXIF orientation "rotate 90", which PIL ignores
                path = folder / f"{index}.{suffix.removesuffix('16')}"
                image.save(path, **({"exif": exif} if suffix == "jpg" else {}))
    return root


def folder_cfg(root, *extra):
    common = ["data=imagefolder", f"data.root={root}", "data.num_classes=2", "data.image_size=32"]
    cfg = compose_config([*common, "trainer.batch_size=4", "trainer.device=cpu", "data.num_workers=0", *extra])
    check_run(cfg)
    return cfg


def batches(cfg, seed=7, start_step=0, rank=0, world_size=1):
    loaders = build_loaders(cfg, DistributedContext(rank=rank, world_size=world_size), CPU)
    loaders.set_epoch(seed, start_step)
    return list(loaders.train), list(loaders.val)


@needs_dali
@pytest.mark.parametrize("suffix, interpolation", [("png", "bilinear"), ("jpg", "bicubic"), ("png16", "bilinear")])
def test_dali_cuts_the_dataloader_paths_windows_and_flips(tmp_path, suffix, interpolation):
    """png16: DALI scales 16-bit greyscale to 8 bits, as the DataLoader path's load_image does."""
    root = write_smooth_folder(tmp_path / "images", suffix)
    extra = [f"trainer.interpolation={interpolation}", "trainer.eval_crop_pct=0.8"]
    reference = batches(folder_cfg(root, "data.loader=dataloader", *extra))
    dali = batches(folder_cfg(root, "data.loader=dali", *extra))
    for split in (0, 1):  # train (random windows and flips), then val (resize + centre crop)
        assert len(dali[split]) == len(reference[split]) > 1
        for (ours, our_labels), (theirs, their_labels) in zip(dali[split], reference[split], strict=True):
            assert ours.shape == theirs.shape and ours.dtype == torch.float32
            assert torch.equal(our_labels, their_labels)
            difference = (ours - theirs).abs()
            assert difference.mean() < 0.5 * GREY_LEVEL
            assert difference.max() < (8 if suffix == "jpg" else 2) * GREY_LEVEL  # a wrong window or flip: ~100


@needs_dali
def test_dali_repeats_resumes_mid_epoch_and_shards_like_one_process(tmp_path):
    cfg = folder_cfg(write_smooth_folder(tmp_path / "images"), "data.loader=dali")
    loaders = build_loaders(cfg, DistributedContext(), CPU)
    loaders.set_epoch(3)
    next(iter(loaders.train))  # a pass left after one batch leaves nothing behind in the pipeline
    loaders.set_epoch(3)
    trainers_stream = torch.get_rng_state()
    whole = list(loaders.train)
    assert len(whole) == 2
    assert torch.equal(torch.get_rng_state(), trainers_stream)  # windows come from a generator of DALI's own
    (resumed,), _ = batches(cfg, seed=3, start_step=1)
    assert torch.equal(resumed[0], whole[1][0]) and torch.equal(resumed[1], whole[1][1])
    loaders.set_epoch(4)
    assert not torch.equal(next(iter(loaders.train))[0], whole[0][0])  # another epoch, other windows
    halves = [batches(cfg, seed=3, rank=rank, world_size=2) for rank in (0, 1)]
    for step, (images, labels) in enumerate(whole):
        assert torch.equal(torch.cat([half[0][step][0] for half in halves]), images)
        assert torch.equal(torch.cat([half[0][step][1] for half in halves]), labels)
    assert sum(len(labels) for half in halves for _, labels in half[1]) == 10  # every val image once


@needs_dali
@pytest.mark.slow  # trains a run
def test_a_dali_run_trains_and_records_its_loader(tmp_path):
    root = write_smooth_folder(tmp_path / "images")
    overrides = ["model=resnet20", "trainer=smoke", "trainer.epochs=1", "trainer.progress=false"]
    overrides.append(f"results_dir={tmp_path / 'results'}")
    record = run_job(folder_cfg(root, "data.loader=dali", *overrides))
    assert record["status"] == "completed" and len(record["epochs"]) == 1
    assert record["config"]["data"]["loader"] == "dali"


@needs_dali
def test_a_file_dali_cannot_decode_is_named(tmp_path):
    root = write_smooth_folder(tmp_path / "images", "jpg")
    broken = root / "val" / "cat" / "1.jpg"
    broken.write_bytes(broken.read_bytes()[:-200])  # a header PIL reads, a scan that ends early
    loaders = build_loaders(folder_cfg(root, "data.loader=dali"), DistributedContext(), CPU)
    with pytest.raises(CorruptImage, match=rf"^unreadable image {broken} \(DALI could not decode it\)"):
        list(loaders.val)


@needs_dali
def test_the_pipelines_may_bind_their_outputs_to_the_training_stream(tmp_path):
    """On CUDA, DaliBatches takes each batch with share_outputs(cuda_stream=the training stream), which
    DALI allows only under its dynamic executor (exec_dynamic=False refused every CUDA batch)."""
    loaders = build_loaders(
        folder_cfg(write_smooth_folder(tmp_path / "images"), "data.loader=dali"), DistributedContext(), CPU
    )
    assert loaders.train.pipe.exec_dynamic and loaders.val.pipe.exec_dynamic


@needs_dali
@pytest.mark.skipif(torch.cuda.is_available(), reason="the stand-in stream fails only where CUDA does")
def test_a_dali_failure_that_names_no_image_is_not_blamed_on_the_images(tmp_path):
    """A stand-in stream (the CUDA default stream's handle, 0) on this CUDA-less machine: DALI
    fails for want of a CUDA driver, on no file in particular. Before the fix this was reported as
    a CorruptImage, and the error itself was "Asynchronous outputs require legacy execution model"."""
    loaders = build_loaders(
        folder_cfg(write_smooth_folder(tmp_path / "images"), "data.loader=dali"), DistributedContext(), CPU
    )
    loaders.train.stream = 0
    loaders.set_epoch(1)
    with pytest.raises(DaliFailure, match=r"^DALI failed in its pipeline on the batch of .*: CUDA") as failed:
        next(iter(loaders.train))
    assert not isinstance(failed.value, CorruptImage) and "Asynchronous outputs" not in str(failed.value)


def test_the_training_cut_draws_what_torchvisions_transforms_draw():
    """train_cut against the DataLoader path's v2 transforms, seeded as SeededPerImage seeds them:
    the window read back from a coordinates image cropped without resizing (size = the window).
    A 200x8 strip makes RandomResizedCrop fall back to its centred window."""
    generator = torch.Generator()
    for seed in range(300):
        width, height = [*SIZES, (200, 8), (8, 200)][seed % (len(SIZES) + 2)]
        (left, top, crop_width, crop_height), flip = train_cut(seed, width, height, generator)
        image = torch.arange(width * height, dtype=torch.float32).view(1, height, width)
        torch.manual_seed(seed)
        crop = v2.RandomResizedCrop((crop_height, crop_width), interpolation=v2.InterpolationMode.NEAREST)
        out = v2.Compose([crop, v2.RandomHorizontalFlip()])(image)[0]
        expected = image[0, top : top + crop_height, left : left + crop_width]
        assert torch.equal(out, expected.flip(1) if flip else expected), seed


def test_the_evaluation_cut_is_torchvisions_resize_and_centre_crop():
    for width, height in [*SIZES, (500, 375), (333, 500)]:
        (new_width, new_height), (left, top) = eval_cut(width, height, 224, 0.875)
        image = torch.zeros(1, height, width)
        resized = v2.Resize(256)(image)
        assert resized.shape[1:] == (new_height, new_width)
        marked = torch.zeros(1, new_height, new_width)
        marked[0, top, left] = 1
        assert v2.CenterCrop(224)(marked)[0, 0, 0] == 1


def test_an_unreadable_file_is_named_before_dali_sees_it(tmp_path):
    path = tmp_path / "text.jpg"
    path.write_text("not an image")
    with pytest.raises(CorruptImage, match=f"unreadable image {path}"):
        read_image(str(path))


def test_auto_never_picks_dali_and_dali_is_only_for_image_folders(tmp_path):
    imagenet = compose_config(["data=imagenet"])
    assert for_device(imagenet, "cuda").data.loader == "dataloader"
    assert for_device(compose_config(["data=imagenet", "data.loader=dali"]), "cuda").data.loader == "dali"
    for data in ("cifar10", "synthetic"):
        with pytest.raises(ConfigError, match="data.loader='dali' is not allowed: only image folders"):
            check_run(compose_config([f"data={data}", "data.loader=dali"]))
    with pytest.raises(ConfigError, match="data.skip_corrupt=True .*dali cannot skip images"):
        check_run(compose_config(["data=imagenet", "data.loader=dali", "data.skip_corrupt=true"]))
    with pytest.raises(ConfigError, match="trainer.randaugment='rand-m6' .*dali has none"):
        check_run(compose_config(["data=imagenet", "data.loader=dali", "trainer.randaugment=rand-m6"]))


def test_without_dali_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nvidia.dali", None)  # import nvidia.dali now raises ImportError
    message = r"data.loader='dali' is not allowed: NVIDIA DALI is not installed: pip install 'senet-ablate\[dali\]'"
    with pytest.raises(ConfigError, match=message) as refused:
        import_dali()
    assert "\n" not in str(refused.value)
    cfg = folder_cfg(write_smooth_folder(tmp_path / "images", per_class=1), "data.loader=dali")
    with pytest.raises(ConfigError, match=message):
        build_loaders(cfg, DistributedContext(), CPU)
