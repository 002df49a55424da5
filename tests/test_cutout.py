"""Cutout (DeVries & Taylor 2017) in both CIFAR loaders: the square against the reference code's
clipping, the centres' distribution and the clipped area, the same squares from either loader and
any number of processes, an exact resume, and the config checks."""

import pytest
import torch
from helpers import write_cifar

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.base.errors import ConfigError
from senet_ablate.config import compose_config
from senet_ablate.data.build import GlobalBatchSampler, build_loaders
from senet_ablate.data.cutout import CutoutBatches, cut_out
from senet_ablate.runs.checks import check_run

CPU = torch.device("cpu")


def _reference_mask(height: int, width: int, row: int, column: int, length: int) -> torch.Tensor:
    """The reference implementation's square: clip(centre -+ length // 2) on each axis."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    top, bottom = max(row - length // 2, 0), min(row + length // 2, height)
    left, right = max(column - length // 2, 0), min(column + length // 2, width)
    mask[top:bottom, left:right] = True
    return mask


@pytest.mark.parametrize("length", [16, 8])
def test_the_square_is_the_reference_codes_clipped_at_the_border(length):
    centres = torch.tensor([[0, 0], [31, 31], [16, 16], [3, 29], [31, 0], [8, 7]])
    images = torch.randn(len(centres), 3, 32, 32) + 10  # no pixel is 0 before the cut
    out = cut_out(images, centres, length)
    for image, cut, (row, column) in zip(images, out, centres.tolist(), strict=True):
        mask = _reference_mask(32, 32, row, column, length)
        assert torch.equal(cut == 0, mask.expand(3, -1, -1))
        torch.testing.assert_close(cut[:, ~mask], image[:, ~mask], rtol=0, atol=0)


def _exact_mean_area(length: int, size: int = 32) -> float:
    """E[clipped area] for a centre uniform over the pixels: rows and columns are independent."""
    covered = [min(c + length // 2, size) - max(c - length // 2, 0) for c in range(size)]
    return (sum(covered) / size) ** 2


def test_centres_are_uniform_over_the_pixels_and_the_clipped_area_is_as_expected():
    count, length = 8192, 16
    sampler = GlobalBatchSampler(count, count, 0, 1, torch.Generator())
    sampler.set_epoch(3)
    batches = [(torch.ones(count, 1, 32, 32), torch.zeros(count))]
    ((images, _),) = list(CutoutBatches(batches, sampler, length, CPU))
    mask = images[:, 0] == 0
    rows, columns = mask.any(dim=2), mask.any(dim=1)  # (N, 32) covered rows, covered columns
    for covered in (rows, columns):
        first = covered.float().argmax(dim=1)
        last = 31 - covered.flip(1).float().argmax(dim=1)
        centre = torch.where(first > 0, first + length // 2, last + 1 - length // 2)  # a clip cuts one side only
        counts = torch.bincount(centre, minlength=32).double()
        assert len(counts) == 32
        assert ((counts - count / 32) ** 2 / (count / 32)).sum() < 61.1  # chi-square, 31 dof, p = 0.001
    area = mask.flatten(1).sum(1).double()
    assert area.max() == length**2 and area.min() == (length // 2) ** 2  # clipped at a corner: a quarter
    assert area.mean() == pytest.approx(_exact_mean_area(length), rel=0.01)


def _squares(loader) -> list[torch.Tensor]:
    """Per step, where the batch's images are 0 in every channel (random data is never exactly the mean)."""
    return [(images == 0).all(dim=1) for images, _ in loader.train]


def test_both_loaders_cut_the_same_squares_for_any_number_of_processes_and_on_resume(tmp_path):
    root = write_cifar(tmp_path / "cifar", images=12)  # 60 training images: 3 steps of 16
    common = ["model=resnet20", "data=cifar10", f"data.root={root}", "trainer=smoke", "trainer.device=cpu"]
    common += ["trainer.batch_size=16", "data.num_workers=0", "data.cutout=8"]

    def squares(loader: str, rank: int = 0, world: int = 1, start_step: int = 0) -> list[torch.Tensor]:
        loaders = build_loaders(
            compose_config([*common, f"data.loader={loader}"]), DistributedContext(rank, world), CPU
        )
        loaders.set_epoch(5, start_step)
        return _squares(loaders)

    gpu, dataloader = squares("gpu"), squares("dataloader")
    halves = [squares("gpu", rank, 2) for rank in (0, 1)]
    assert len(gpu) == len(dataloader) == len(halves[0]) == 3
    for step, mask in enumerate(gpu):
        assert torch.equal(mask, dataloader[step])
        areas = mask.flatten(1).sum(1)
        assert areas.max() <= 64 and areas.min() >= 16  # 8 x 8, or clipped to at least 4 x 4
        assert torch.equal(torch.cat([halves[0][step], halves[1][step]]), mask)
    assert torch.equal(squares("dataloader", start_step=2)[0], dataloader[2])
    assert not torch.equal(gpu[0], gpu[1])
    without = build_loaders(compose_config([*common[:-1], "data.loader=gpu"]), DistributedContext(0, 1), CPU)
    without.set_epoch(5)
    assert not any(mask.any() for mask in _squares(without))


def test_cutout_is_refused_outside_cifar_and_beyond_the_image():
    with pytest.raises(ConfigError, match="data.cutout=16 .*only cifar10, cifar100 have Cutout"):
        check_run(compose_config(["data=imagenet", "data.cutout=16"]))
    for size in (-1, 33):
        with pytest.raises(ConfigError, match=f"data.cutout={size} .*must be 0 <= cutout <= 32"):
            check_run(compose_config(["data=cifar100", f"data.cutout={size}"]))
    check_run(compose_config(["data=cifar100", "data.cutout=8"]))
