"""scripts/fast_cifar_evidence.py's pure parts (issue 37): which runs it trains and how, the digits
it writes as CIFAR-10 batches the product's reader accepts, and the summary table it builds from a
report's figures (hand-made here). Nothing is trained."""

import math

import pytest
from helpers import load_script
from scipy import stats

from senet_ablate.data.cifar import read_batch


@pytest.fixture(scope="module")
def evidence():
    return load_script("fast_cifar_evidence")


def test_each_e_trains_the_fast_recipe_at_e_and_the_paper_recipe_at_e_and_4e_each_setting_once(evidence):
    assert evidence.runs([2, 3]) == [
        ("cifar_fast", 2),
        ("cifar_paper", 2),
        ("cifar_paper", 8),
        ("cifar_fast", 3),
        ("cifar_paper", 3),
        ("cifar_paper", 12),
    ]
    assert evidence.runs([1, 4]) == [
        ("cifar_fast", 1),
        ("cifar_paper", 1),
        ("cifar_paper", 4),
        ("cifar_fast", 4),
        ("cifar_paper", 16),
    ]


def test_both_recipes_read_the_digits_through_the_device_loader_and_only_the_fast_one_alternates_flips(
    evidence, tmp_path
):
    def overrides(recipe, epochs):
        return evidence.sweep_overrides(tmp_path / "conf", tmp_path / "d", tmp_path / "r", 3, recipe, epochs)

    fast, paper = overrides("cifar_fast", 8), overrides("cifar_paper", 8)
    for given in (fast, paper):
        assert {"data=cifar10", "data.loader=gpu", "seed=0,1,2", "trainer.epochs=8", "+exp=fast_cifar_digits"} <= set(
            given
        )
        assert f"hydra.searchpath=[file://{(tmp_path / 'conf').resolve()}]" in given
    assert "trainer=cifar_fast" in fast and "trainer=cifar_paper" in paper
    assert set(fast) - set(paper) == {"trainer=cifar_fast", "data.flip=alternate", "trainer.warmup_epochs=2"}
    assert "trainer.warmup_epochs=1" in overrides("cifar_fast", 2)  # a quarter of E, at least one


def test_the_digits_are_written_as_cifar10_batches_the_products_reader_accepts(evidence, tmp_path):
    root = tmp_path / "digits"
    assert evidence.write_digits_cifar(root) == {"train": 1437, "val": 360}
    folder = root / "cifar-10-batches-py"
    train = [read_batch(folder / name, b"labels", 10) for name in evidence.TRAIN_FILES]
    images, labels = read_batch(folder / "test_batch", b"labels", 10)
    assert sum(len(batch_labels) for _, batch_labels in train) == 1437 and len(labels) == 360
    assert images.shape == (360, 3, 32, 32) and sorted(set(labels.tolist())) == list(range(10))
    assert (images[:, 0] == images[:, 1]).all() and (images[:, 0] == images[:, 2]).all()  # grey, in 3 planes
    assert images.max() == 255 and images.min() == 0
    assert evidence.write_digits_cifar(root) == {"train": 1437, "val": 360}  # written before: reused
    with pytest.raises(SystemExit, match="not written by this script"):
        evidence.write_digits_cifar(folder)


def _row(label, top1, tta, delta=None):
    """A row of a report section's JSON, with the keys the summary reads."""
    mean, std, n = top1
    row = {
        "label": label,
        "top1_err": {"mean": mean, "std": std, "n": n},
        "tta_top1_err": {"mean": tta, "std": 1.0 if tta is not None else None, "n": n if tta is not None else 0},
        "vs_reference": None,
    }
    if delta is not None:
        row["vs_reference"] = dict(zip(("delta", "low", "high", "verdict"), delta, strict=True))
    return row


def _section(schedule, epochs, vanilla, se, tta=(None, None), delta=(0.0, -1.0, 1.0, "unresolved")):
    return {
        "setting": {
            "trainer.schedule": schedule,
            "trainer.epochs": epochs,
            "trainer.batch_size": 512 if schedule == "onecycle" else 128,
            "trainer.ema_decay": 0.99 if schedule == "onecycle" else 0.0,
        },
        "rows": [_row("ResNet-20", vanilla, tta[0]), _row("SE-ResNet-20", se, tta[1], delta)],
    }


def test_the_summary_reads_each_recipe_and_epochs_off_the_reports_sections(evidence):
    report = {
        "sections": [  # the report's order: newest setting first
            _section("multistep", 8, (10.0, 2.0, 3), (9.0, 0.5, 3), delta=(-1.0, -5.5, 3.5, "unresolved")),
            _section("multistep", 2, (40.0, 4.0, 3), (38.0, 3.0, 3)),
            _section("onecycle", 2, (12.0, 1.5, 3), (11.5, 0.5, 3), tta=(11.0, 10.0), delta=(-0.5, -4.0, 3.0, "x")),
            _section("onecycle", 12, (5.0, 1.0, 3), (5.0, 1.0, 3), tta=(5.0, 5.0)),
        ]
    }
    summary = evidence.summary_rows(report)
    assert [(line["recipe"], line["epochs"]) for line in summary] == [
        ("cifar_fast", 2),
        ("cifar_fast", 12),
        ("cifar_paper", 2),
        ("cifar_paper", 8),
    ]  # by recipe, then epochs
    half = stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)
    mean, (low, high), n = summary[3]["ResNet-20/top1_err"]
    assert (mean, n) == (10.0, 3) and low == pytest.approx(10 - half) and high == pytest.approx(10 + half)
    table = evidence.summary_table(summary)
    assert table[2] == (
        "| `cifar_fast` | 2 | 12.00 [8.27, 15.73] | 11.50 [10.26, 12.74] | -0.50 [-4.00, +3.00] x "
        "| 11.00 [8.52, 13.48] | 10.00 [7.52, 12.48] |"
    )
    assert table[4].endswith("| – | – |")  # flip TTA is the fast recipe's alone
    assert f"| 10.00 [{10 - half:.2f}, {10 + half:.2f}] |" in table[5]
    said = evidence.fast_against_paper(summary, [2])
    assert said == [
        "`cifar_fast` at 2 − `cifar_paper` at 2 epochs: ResNet-20 -28.00 (intervals apart); "
        "SE-ResNet-20 -26.50 (intervals apart).",
        "`cifar_fast` at 2 − `cifar_paper` at 8 epochs: ResNet-20 +2.00 (intervals overlap); "
        "SE-ResNet-20 +2.50 (intervals apart).",
    ]
    assert evidence.steps_reading(report, 1437) == [  # the sampler drops the last partial batch
        "`cifar_fast`: batch 512, 2 optimiser steps an epoch (1024 of 1437 images); its weight average (decay 0.99) "
        "spans about 1 / (1 − 0.99) = 100 steps, and its shortest run here has 4 steps in all.",
        "`cifar_paper`: batch 128, 11 optimiser steps an epoch (1408 of 1437 images).",
    ]
    assert evidence.against_longer(summary, [2]) == (
        "Does `cifar_fast` at E epochs match `cifar_paper` at 4E on this data? Under `cifar_fast`, ResNet-20 at 2 "
        "epochs matches `cifar_paper` at 8; SE-ResNet-20 at 2 epochs falls short of `cifar_paper` at 8 (by the 95% "
        "intervals of the means)."
    )
    assert evidence.missing(summary, evidence.runs([2]), 3) == []
    short = [{**summary[0], "SE-ResNet-20/top1_err": (11.5, None, 1)}]
    assert evidence.missing(short, [("cifar_fast", 2), ("cifar_fast", 3)], 3) == [
        "`cifar_fast` at 2 epochs: SE-ResNet-20 1 of 3 seeds",
        "`cifar_fast` at 3 epochs: no section in the report (not run, or one row only)",
    ]
    assert evidence.summary_table(short)[2].startswith("| `cifar_fast` | 2 | 12.00 [8.27, 15.73] | 11.50 (n=1) |")
    with pytest.raises(ValueError, match="neither recipe"):
        evidence.summary_rows({"sections": [_section("cosine", 2, (1.0, 1.0, 3), (1.0, 1.0, 3))]})
