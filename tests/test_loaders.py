"""The GPU-resident CIFAR loader (run here on the CPU device) against torchvision's transforms,
and the loader choice as part of a run's identity."""

import signal
import sys

import pytest
import torch
from helpers import load_script, write_cifar
from torchvision.transforms import v2

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data.build import Normalize, build_loaders
from senet_ablate.data.facts import CIFAR_MEAN_STD
from senet_ablate.data.gpu_cifar import PAD, crop_flip, draw_crop_flip
from senet_ablate.engine.machine import for_device
from senet_ablate.records.store import run_id
from senet_ablate.runs.run import run_job

CPU = torch.device("cpu")
DRAWS = 20_000


def _coordinates_image() -> torch.Tensor:
    """A uint8 (3, 32, 32) image whose channel 0 holds row + 1 and channel 1 column + 1, so a
    crop's offset and flip can be read back from its pixels (the zero padding reads 0)."""
    rows = torch.arange(1, 33, dtype=torch.uint8)[:, None].expand(32, 32)
    return torch.stack([rows, rows.T, torch.zeros_like(rows)])


def _read_crop(images: torch.Tensor) -> torch.Tensor:
    """(top, left, flipped) of each 32x32 crop of the padded coordinates image, from its centre
    pixels: the centre row and column always lie inside the unpadded image, whatever the offset."""
    images = images.long()
    flipped = images[:, 1, 16, 16] < images[:, 1, 16, 15]
    top = images[:, 0, 16, 16] - 13
    left = images[:, 1, 16, 16] - 13 + flipped.long()
    return torch.stack([top, left, flipped.long()], dim=1)


def _histogram(crops: torch.Tensor) -> torch.Tensor:
    """Counts of the 9 x 9 x 2 (top, left, flipped) outcomes."""
    cells = crops[:, 0] * 18 + crops[:, 1] * 2 + crops[:, 2]
    return torch.bincount(cells, minlength=162).double()


def _chi_square_critical(dof: int, z: float = 3.09) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile at normal quantile `z` (3.09: p = 0.001)."""
    k = 2 / (9 * dof)
    return dof * (1 - k + z * k**0.5) ** 3


def test_the_gpu_augmentation_draws_torchvisions_crop_offsets_and_flips():
    torch.manual_seed(0)
    transform = v2.Compose([v2.RandomCrop(32, padding=PAD), v2.RandomHorizontalFlip()])
    image = _coordinates_image()
    theirs = _read_crop(torch.stack([transform(image) for _ in range(DRAWS)]))
    offsets, flips = draw_crop_flip(DRAWS, PAD, torch.Generator().manual_seed(0))
    ours = _read_crop(crop_flip(image.expand(DRAWS, -1, -1, -1), offsets, flips, PAD))

    # what was read back from the pixels is what was drawn
    assert torch.equal(ours, torch.cat([offsets, flips[:, None].long()], dim=1))
    for crops in (ours, theirs):  # every outcome of the 162 equally likely: chi-square vs uniform
        counts = _histogram(crops)
        assert counts.min() > 0
        assert ((counts - DRAWS / 162) ** 2 / (DRAWS / 162)).sum() < _chi_square_critical(161)
    # and the two samples from one distribution: chi-square test of homogeneity
    both = _histogram(ours) + _histogram(theirs)
    expected = both / 2
    statistic = (((_histogram(ours) - expected) ** 2 + (_histogram(theirs) - expected) ** 2) / expected).sum()
    assert statistic < _chi_square_critical(161)


def test_each_crop_is_the_padded_image_cut_at_its_offset_and_mirrored_if_flipped():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    offsets = torch.tensor([[0, 0], [8, 8], [0, 8], [3, 5], [8, 0], [4, 4]])
    flips = torch.tensor([False, True, False, True, True, False])
    out = crop_flip(images, offsets, flips, PAD)
    padded = torch.nn.functional.pad(images, (PAD,) * 4)
    for image, crop, (top, left), flip in zip(padded, out, offsets.tolist(), flips, strict=True):
        expected = image[:, top : top + 32, left : left + 32]
        torch.testing.assert_close(crop, expected.flip(-1) if flip else expected, rtol=0, atol=0)
    assert out.dtype == torch.uint8


def test_normalisation_on_the_device_equals_torchvisions():
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    mean, std = CIFAR_MEAN_STD["cifar10"]
    reference = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)])(images)
    torch.testing.assert_close(Normalize(CIFAR_MEAN_STD["cifar10"], CPU)(images), reference)


def _cifar_cfg(root, *extra):
    return compose_config(
        [
            "model=resnet20",
            "data=cifar10",
            f"data.root={root}",
            "trainer=smoke",
            "trainer.device=cpu",
            "trainer.progress=false",
            "trainer.batch_size=16",
            *extra,
        ]
    )


def test_the_gpu_loaders_ranks_make_up_the_single_process_batch_with_the_same_augmentation(tmp_path):
    root = write_cifar(tmp_path / "cifar", images=12)  # 60 training images: 3 steps of 16, 12 dropped
    cfg = _cifar_cfg(root, "data.loader=gpu")
    loaders = [build_loaders(cfg, DistributedContext(rank, world), CPU) for rank, world in ((0, 1), (0, 2), (1, 2))]
    for loader in loaders:
        loader.set_epoch(5)
    single, *ranks = [list(loader.train) for loader in loaders]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 3
    for step, (images, labels) in enumerate(single):
        assert images.dtype == torch.float32 and images.shape == (16, 3, 32, 32)
        torch.testing.assert_close(torch.cat([ranks[0][step][0], ranks[1][step][0]]), images, rtol=0, atol=0)
        assert torch.equal(torch.cat([ranks[0][step][1], ranks[1][step][1]]), labels)
    val = [torch.cat([labels for _, labels in loader.val]) for loader in loaders]
    assert len(val[0]) == 12 and sorted(torch.cat(val[1:]).tolist()) == sorted(val[0].tolist())

    loaders[0].set_epoch(5, start_step=2)  # resumed at step 2: exactly the batch of step 2
    ((images, labels),) = list(loaders[0].train)
    assert torch.equal(images, single[2][0]) and torch.equal(labels, single[2][1])
    loaders[0].set_epoch(6)
    assert not torch.equal(next(iter(loaders[0].train))[0], single[0][0])


RESULT_KEYS = ("train_loss", "train_top1_err", "val_loss", "top1_err", "top5_err", "val_images", "lr")


@pytest.mark.slow  # trains a run
def test_a_gpu_loader_run_is_deterministic_and_resumes_exactly(tmp_path, monkeypatch, signal_at_heartbeat):
    root = write_cifar(tmp_path / "cifar", images=16)  # 80 training images: 5 steps of 16
    runs = {}
    for name in ("first", "second", "split"):
        cfg = _cifar_cfg(root, "data.loader=gpu", "trainer.epochs=2", f"results_dir={tmp_path / name}")
        if name == "split":
            signal_at_heartbeat(3, signal.SIGUSR1)
            stopped = run_job(cfg)
            assert stopped["status"] == "interrupted" and stopped["interrupted_at"]["step"] == 3
            monkeypatch.undo()
        runs[name] = run_job(cfg)
    results = {name: [{key: epoch[key] for key in RESULT_KEYS} for epoch in runs[name]["epochs"]] for name in runs}
    assert runs["first"]["status"] == "completed" and runs["first"]["config"]["data"]["loader"] == "gpu"
    assert results["first"] == results["second"] == results["split"]  # bit for bit on the CPU
    assert runs["split"]["run_id"] == runs["first"]["run_id"]


def test_auto_means_gpu_for_cifar_on_cuda_only_and_the_loader_is_part_of_the_id(tmp_path):
    root = write_cifar(tmp_path / "cifar")
    cifar = _cifar_cfg(root)
    assert for_device(cifar, "cuda").data.loader == "gpu"
    assert for_device(cifar, "cpu").data.loader == "dataloader"
    assert for_device(_cifar_cfg(root, "data.loader=dataloader"), "cuda").data.loader == "dataloader"
    synthetic = compose_config(["data=synthetic"])
    assert for_device(synthetic, "cuda").data.loader == "dataloader"
    ids = {run_id(for_device(_cifar_cfg(root, f"data.loader={kind}"), "cpu"), "data") for kind in ("gpu", "dataloader")}
    assert len(ids) == 2


def test_the_gpu_loader_is_refused_for_data_that_is_not_cifar():
    from senet_ablate.runs.checks import check_run

    with pytest.raises(ConfigError, match="data.loader='gpu'.*only cifar10, cifar100 fit on the device"):
        check_run(compose_config(["data=imagenet", "data.loader=gpu"]))
    with pytest.raises(ConfigError, match="data.loader='dala'.*choose one of auto, gpu, dataloader, dali"):
        check_run(compose_config(["data=imagenet", "data.loader=dala"]))


def test_the_benchmark_writes_each_measurement_as_it_goes_and_a_failure_loses_nothing_else(tmp_path, monkeypatch):
    """The CUDA benchmark died on DALI's error and wrote nothing: figures were written only at the end."""
    benchmark = load_script("benchmark")
    out = tmp_path / "benchmarks.md"
    monkeypatch.setattr(sys, "argv", ["benchmark.py", "--device", "cpu", "--out", str(out)])
    seen_before_projections = []

    def models_failing_on_cuda(args):
        raise RuntimeError("CUDA error: an illegal memory access\nmore")

    def projections(args):
        seen_before_projections.append(out.read_text())
        return ["a projection"]

    monkeypatch.setattr(
        benchmark,
        "MEASUREMENTS",
        {
            "models": models_failing_on_cuda,
            "cifar_loaders": lambda args: {"ours, data.loader=gpu": 3000.0, "torchvision DataLoader": 1000.0},
            "folder_loaders": lambda args: {
                "data.loader=dataloader": 100.0,
                "data.loader=dali": "failed: DaliFailure: x",
            },
            "projections": projections,
        },
    )
    benchmark.main()
    assert "| ours, data.loader=gpu | 3000 | 3.0x |" in seen_before_projections[0]  # written before the next one ran
    assert "### Projections\n\nNot measured yet." in seen_before_projections[0]
    text = out.read_text()
    assert "### Training step\n\nFailed: `RuntimeError: CUDA error: an illegal memory access`" in text
    assert "| data.loader=dali | failed: DaliFailure: x | |" in text and "- a projection" in text


def test_the_benchmark_replaces_its_own_section_and_keeps_the_others(tmp_path):
    benchmark = load_script("benchmark")
    out = tmp_path / "benchmarks.md"
    benchmark.write_section(out, "## CPU · batch 8\n\nfirst\n")
    benchmark.write_section(out, "## H100 · batch 256\n\ngpu\n")
    benchmark.write_section(out, "## CPU · batch 8\n\nsecond\n")
    text = out.read_text()
    assert text.startswith("# Benchmarks\n") and text.count("## CPU · batch 8") == 1
    assert "second" in text and "first" not in text and "## H100 · batch 256\n\ngpu" in text
