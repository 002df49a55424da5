"""scripts/fast_cifar_evidence.py's pure parts: the experiment file it writes per E (its rows, its
claims, their family), the sweep it runs, the digits it writes as CIFAR-10 batches the product's
reader accepts, and the summary it builds from the reports' figures (hand-made here). Nothing is
trained."""

import math

import pytest
from helpers import load_script
from scipy import stats

from senet_ablate.config import compose_config
from senet_ablate.data.cifar import read_batch
from senet_ablate.report.family import family


@pytest.fixture(scope="module")
def evidence():
    return load_script("fast_cifar_evidence")


def test_each_e_is_one_experiment_file_of_eight_rows_and_the_recipe_claims_in_one_family_of_12(evidence, tmp_path):
    (tmp_path / "conf" / "exp").mkdir(parents=True)
    (tmp_path / "conf" / "exp" / "fast_cifar_digits_e4.yaml").write_text(evidence.experiment(4))
    cfg = compose_config([f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "+exp=fast_cifar_digits_e4"])
    rows = {row.label: list(row.set) for row in cfg.exp.rows}
    assert list(rows) == [
        f"{model} + {form}"
        for form in ("cifar_paper 4 ep", "cifar_paper 16 ep", "cifar_fast 4 ep", "cifar_fast b128 4 ep")
        for model in ("ResNet-20", "SE-ResNet-20")
    ]
    assert rows["ResNet-20 + cifar_paper 16 ep"] == ["trainer=cifar_paper", "trainer.epochs=16", "se.enabled=false"]
    fast = ["trainer=cifar_fast", "trainer.epochs=4", "trainer.warmup_epochs=1", "data.flip=alternate"]
    assert rows["SE-ResNet-20 + cifar_fast 4 ep"] == [*fast, "se.enabled=true"]
    assert rows["SE-ResNet-20 + cifar_fast b128 4 ep"] == [
        *fast,
        "trainer.batch_size=128",
        "trainer.ema_decay=0.91",
        "se.enabled=true",
    ]
    assert (cfg.exp.reference, cfg.exp.margin) == ("pairs", 1.0)
    pairs = family(cfg.exp.reference, list(rows), list(cfg.exp.claims))
    assert len(pairs) == 12
    assert ("SE-ResNet-20 + cifar_paper 16 ep", "ResNet-20 + cifar_paper 16 ep") in pairs  # SE − vanilla, per recipe
    assert ("ResNet-20 + cifar_fast b128 4 ep", "ResNet-20 + cifar_paper 4 ep") in pairs  # the recipe claims
    relations = {(claim.relation, claim.than[0].split(" + ")[1]) for claim in cfg.exp.claims}
    assert relations == {("better", "cifar_paper 4 ep"), ("not_worse", "cifar_paper 16 ep")}
    assert "trainer.warmup_epochs=2" in evidence.experiment(6)  # a quarter of E, at least one
    assert "trainer.warmup_epochs=1" in evidence.experiment(2)


def test_one_sweep_per_e_reads_the_digits_through_the_device_loader_on_the_cpu(evidence, tmp_path):
    given = evidence.sweep_overrides(tmp_path / "conf", tmp_path / "d", tmp_path / "r", 3, 6)
    assert given == [
        f"hydra.searchpath=[file://{(tmp_path / 'conf').resolve()}]",
        "+exp=fast_cifar_digits_e6",
        "seed=0,1,2",
        "data=cifar10",
        f"data.root={(tmp_path / 'd').resolve()}",
        "data.loader=gpu",
        "trainer.device=cpu",
        "trainer.progress=false",
        f"results_dir={(tmp_path / 'r').resolve()}",
    ]
    assert evidence.parse_args(["--epochs", "2,6"]).epochs == [2, 6]
    with pytest.raises(SystemExit):
        evidence.parse_args(["--epochs", "1,4"])


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


def _cell(mean, std=1.0, n=3):
    return {"mean": mean, "std": std if mean is not None else None, "n": n if mean is not None else 0}


def _report(e, top1, claims=(), delta=(-0.5, -4.0, 3.0, "unresolved")):
    """A hand-made report of E: `top1` maps a row label to (mean, sd, n); every SE row carries
    `delta` against its vanilla row; `claims` as the report checks them."""
    rows = []
    for label, (mean, std, n) in top1.items():
        fast = "cifar_fast" in label
        rows.append(
            {
                "label": label,
                "runs": [{"run_id": f"{label}/{seed}"} for seed in range(n)],
                "top1_err": _cell(mean, std, n),
                "tta_top1_err": _cell(mean - 1.0 if fast else None, 1.0, n),
                "vs_reference": dict(zip(("delta", "low", "high", "verdict"), delta, strict=True))
                if label.startswith("SE-")
                else None,
            }
        )
    return {"sections": [{"rows": rows, "statistics": {"claims": list(claims)}}]}


def _claim(says, relation, verdict, delta, low, high, equivalence=(None, None)):
    comparison = {"delta": delta, "low": low, "high": high}
    comparison |= {"equivalence_low": equivalence[0], "equivalence_high": equivalence[1]}
    return {"says": says, "relation": relation, "verdict": verdict, "seeds": 3, "comparisons": [comparison]}


def test_the_summary_and_the_claims_are_read_off_each_es_report(evidence):
    e2 = {
        "ResNet-20 + cifar_paper 2 ep": (40.0, 4.0, 3),
        "SE-ResNet-20 + cifar_paper 2 ep": (38.0, 3.0, 3),
        "ResNet-20 + cifar_paper 8 ep": (10.0, 2.0, 3),
        "SE-ResNet-20 + cifar_paper 8 ep": (9.0, 0.5, 3),
        "ResNet-20 + cifar_fast 2 ep": (12.0, 1.5, 3),
        "SE-ResNet-20 + cifar_fast 2 ep": (11.5, 0.5, 3),
        "ResNet-20 + cifar_fast b128 2 ep": (20.0, 1.0, 2),
        "SE-ResNet-20 + cifar_fast b128 2 ep": (19.0, 1.0, 1),
    }
    claims = [
        _claim("R + fast is better than R + paper", "better", "holds", -28.0, -35.1, -20.9),
        _claim("R + fast is not worse than R + paper 8", "not_worse", "unresolved", 2.0, -3.5, 7.5, (-2.0, 6.0)),
    ]
    reports = {8: _report(8, {}), 2: _report(2, e2, claims)}  # E=8: nothing run yet
    summary = evidence.summary_rows(reports)
    assert [(line["epochs"], line["form"]) for line in summary] == [
        (2, "cifar_paper 2 ep"),
        (2, "cifar_paper 8 ep"),
        (2, "cifar_fast 2 ep"),
        (2, "cifar_fast b128 2 ep"),
        (8, "cifar_paper 8 ep"),
        (8, "cifar_paper 32 ep"),
        (8, "cifar_fast 8 ep"),
        (8, "cifar_fast b128 8 ep"),
    ]  # by E, then in the experiment file's order
    half = stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)
    mean, (low, high), n = summary[1]["ResNet-20/top1_err"]
    assert (mean, n) == (10.0, 3) and low == pytest.approx(10 - half) and high == pytest.approx(10 + half)
    table = evidence.summary_table(summary)
    assert table[4] == (
        "| 2 | `cifar_fast 2 ep` | 12.00 [8.27, 15.73] | 11.50 [10.26, 12.74] | -0.50 [-4.00, +3.00] unresolved "
        "| 11.00 [8.52, 13.48] | 10.50 [8.02, 12.98] |"
    )
    assert table[2].endswith("| – | – |")  # flip TTA is the fast recipe's alone
    assert "| 19.00 (n=1) |" in table[5]  # one seed: no interval
    assert table[6] == "| 8 | `cifar_paper 8 ep` | n/a | n/a | n/a | – | – |"
    assert evidence.claim_lines(reports) == [
        "E=2: R + fast is better than R + paper: **holds** (Δ -28.00 [-35.10, -20.90]; 3 seeds)",
        "E=2: R + fast is not worse than R + paper 8: **unresolved** (Δ +2.00 [-3.50, +7.50], 90% [-2.00, +6.00]; "
        "3 seeds)",
    ]
    assert evidence.verdict_count(reports) == (
        "better than `cifar_paper` at E: 1 holds, 0 contradicted, 0 unresolved, of 1; "
        "not worse than `cifar_paper` at 4E: 0 holds, 0 contradicted, 1 unresolved, of 1"
    )
    lacking = evidence.missing(summary, 3)
    assert lacking[0] == "E=2, `cifar_fast b128 2 ep`: ResNet-20 2 of 3 seeds, SE-ResNet-20 1 of 3 seeds"
    assert lacking[1] == "E=8, `cifar_paper 8 ep`: ResNet-20 0 of 3 seeds, SE-ResNet-20 0 of 3 seeds"
    assert len(lacking) == 5
    two = {"sections": _report(2, e2)["sections"] * 2}
    with pytest.raises(SystemExit, match="2 settings"):
        evidence.summary_rows({2: two})


def test_the_steps_are_counted_as_the_trainers_sampler_counts_them(evidence):
    def record(schedule, batch, decay, epochs):
        return {
            "config": {"trainer": {"schedule": schedule, "batch_size": batch, "ema_decay": decay, "epochs": epochs}}
        }

    records = [record("onecycle", 512, 0.99, 4), record("onecycle", 512, 0.99, 2), record("multistep", 128, 0.0, 8)]
    records.append(record("onecycle", 128, 0.91, 2))
    assert evidence.steps_reading(records, 1437) == [  # the sampler drops the last partial batch
        "`cifar_fast` batch 128: 11 optimiser steps an epoch (1408 of 1437 images); the weights' average (decay "
        "0.91) spans about 1 / (1 − 0.91) = 11 steps, and its shortest run here has 22 steps in all.",
        "`cifar_fast` batch 512: 2 optimiser steps an epoch (1024 of 1437 images); the weights' average (decay "
        "0.99) spans about 1 / (1 − 0.99) = 100 steps, and its shortest run here has 4 steps in all.",
        "`cifar_paper` batch 128: 11 optimiser steps an epoch (1408 of 1437 images).",
    ]
    with pytest.raises(KeyError):
        evidence.recipe_of({"schedule": "cosine", "batch_size": 128})
