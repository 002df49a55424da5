"""Shake-Shake models and the shake regularisation: sizes against Gastaldi 2017, the autograd
semantics of the shaken combination, its modes as config keys, and determinism under the trainer."""

import signal

import pytest
import torch
from helpers import write_cifar

from senet_ablate import ConfigError, create_model, models
from senet_ablate.config import compose_config
from senet_ablate.models.checks import check_model
from senet_ablate.models.shake import ShakeBasicBlock, ShakeNet
from senet_ablate.models.shake_mix import ShakeMode, global_batch, shake_combine
from senet_ablate.runs.checks import check_run
from senet_ablate.runs.run import run_job


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name,data,params_m",
    [
        # Gastaldi 2017's CIFAR-10 comparison: 26 2x96d, 26.2M (ours 26,192,922)
        ("shake_shake26_2x96d", "cifar10", 26.2),
        # its CIFAR-100 table gives 34.4M, ResNeXt-29 8x64d's figure (Xie et al., Table 7), which is
        # counted with a 10-way classifier: ours 34,437,450 so, 34,529,700 with CIFAR-100's 100-way FC
        ("shake_even29_2x4x64d", "cifar10", 34.4),
        ("shake_even29_2x4x64d", "cifar100", 34.53),
    ],
)
def test_shake_models_have_the_shake_shake_papers_sizes(name, data, params_m):
    model = create_model([f"model={name}", f"data={data}", "se.enabled=false"])
    assert _params(model) / 1e6 == pytest.approx(params_m, abs=0.05)


def test_se_sits_once_per_block_on_the_combined_branches_before_the_shortcut():
    model = create_model(["model=shake_shake26_2x96d", "data=cifar10", "se.reduction=16"])
    blocks = [m for m in model.modules() if isinstance(m, ShakeBasicBlock)]
    assert len(blocks) == 12 and all(block.se is not None and block.se_position == "standard" for block in blocks)
    assert [block.se.fc1.in_channels for block in blocks[::4]] == [96, 192, 384]
    assert [block.se.fc1.out_channels for block in blocks[::4]] == [6, 12, 24]


def test_the_forward_uses_alpha_and_the_backward_beta():
    torch.manual_seed(0)
    first = torch.randn(3, 2, 2, 2, requires_grad=True)
    second = torch.randn(3, 2, 2, 2, requires_grad=True)
    mode = ShakeMode("shake", "shake", "image")
    torch.manual_seed(7)
    alpha, beta = mode.coefficients(first)  # the draws shake_combine makes after the same seed
    torch.manual_seed(7)
    out = shake_combine(first, second, mode, training=True)
    torch.testing.assert_close(out, alpha * first + (1 - alpha) * second)
    upstream = torch.randn_like(out)
    out.backward(upstream)
    torch.testing.assert_close(first.grad, beta * upstream)
    torch.testing.assert_close(second.grad, (1 - beta) * upstream)
    assert not torch.allclose(alpha, beta) and alpha.unique().numel() == 3  # independent, one per image


@pytest.mark.parametrize(
    "mode,alpha_is_half,beta_is",
    [
        (("even", "even", "image"), True, "half"),
        (("shake", "keep", "batch"), False, "alpha"),
        (("shake", "even", "image"), False, "half"),
    ],
)
def test_modes_and_levels(mode, alpha_is_half, beta_is):
    alpha, beta = ShakeMode(*mode).coefficients(torch.zeros(4, 3, 2, 2))
    assert alpha.shape == beta.shape == ((4, 1, 1, 1) if mode[2] == "image" else (1, 1, 1, 1))
    assert torch.all(alpha == 0.5) == alpha_is_half
    assert torch.equal(beta, alpha if beta_is == "alpha" else torch.full_like(beta, 0.5))


def test_evaluation_averages_the_branches_and_draws_nothing():
    first, second = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    state = torch.get_rng_state()
    out = shake_combine(first, second, ShakeMode("shake", "shake", "image"), training=False)
    torch.testing.assert_close(out, (first + second) / 2)
    assert torch.equal(torch.get_rng_state(), state)


def test_a_shaken_model_is_deterministic_given_the_seed_and_random_while_training():
    model = ShakeNet(ShakeBasicBlock, 4, 1, (8, 16, 16), ShakeMode("shake", "shake", "image"))
    images = torch.randn(2, 3, 8, 8)
    outputs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        outputs.append(model(images))
    assert torch.equal(outputs[0], outputs[1]) and not torch.allclose(outputs[0], outputs[2])
    model.eval()
    assert torch.equal(model(images), model(images))


@pytest.mark.parametrize("opened", [global_batch, models.global_batch], ids=["shake_mix", "trainers_hook"])
@pytest.mark.parametrize("level", ["image", "batch"])
def test_processes_shaking_their_slices_draw_what_one_process_draws_for_the_global_batch(level, opened):
    """Every process seeds its RNG alike. Before the fix, a per-image draw gave image i of every
    slice the same coefficients; now each process draws for the global batch and keeps its slice.
    (Compared at the combination: a whole model's BatchNorm would see other statistics per slice.)
    The trainer opens the models' `global_batch`, which opens shake_mix's through its hook."""
    mode = ShakeMode("shake", "shake", level)
    first, second = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    upstream = torch.randn(6, 3, 4, 4)

    def combine(offset: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The output and first-branch gradient of images [offset, offset + count) of the 6."""
        torch.manual_seed(3)
        mine = first[offset : offset + count].clone().requires_grad_()
        with opened(offset, 6):
            out = shake_combine(mine, second[offset : offset + count], mode, training=True)
        out.backward(upstream[offset : offset + count])
        return out.detach(), mine.grad

    whole = combine(0, 6)
    slices = [combine(offset, 2) for offset in (0, 2, 4)]  # 3 processes of 2 images
    assert torch.equal(torch.cat([out for out, _ in slices]), whole[0])
    assert torch.equal(torch.cat([grad for _, grad in slices]), whole[1])  # beta too
    torch.manual_seed(3)
    outside = shake_combine(first, second, mode, training=True)
    assert torch.equal(outside, whole[0])  # outside global_batch, the batch is the global one


def test_config_keys_override_the_models_default_mode_and_are_refused_elsewhere():
    model = create_model(["model=shake_even29_2x4x64d", "data=cifar100", "model.shake_backward=shake"])
    assert model.layer1[0].shake == ShakeMode("shake", "shake", "image")
    assert create_model(["model=shake_even29_2x4x64d", "data=cifar100"]).layer1[0].shake.backward == "even"
    with pytest.raises(ConfigError, match="model.shake_level='pixel' .*choose one of image, batch"):
        check_model(compose_config(["model=shake_shake26_2x96d", "model.shake_level=pixel"]))
    with pytest.raises(ConfigError, match="model.shake_forward='even' .*resnet110 has no shaken branches"):
        check_model(compose_config(["model=resnet110", "model.shake_forward=even"]))
    with pytest.raises(ConfigError, match="model.zero_init_residual=True"):
        check_model(compose_config(["model=shake_shake26_2x96d", "model.zero_init_residual=true"]))


@pytest.mark.parametrize(
    "preset,model,data,cutout,recipe",
    [
        ("shake_shake_cifar10", "shake_shake26_2x96d", "cifar10", 16, (128, 0.2, 1e-4)),
        ("shake_even_cifar100", "shake_even29_2x4x64d", "cifar100", 8, (32, 0.025, 5e-4)),
    ],
)
def test_trainer_presets_hold_the_shake_shake_papers_recipes(preset, model, data, cutout, recipe):
    overrides = [f"trainer={preset}", f"model={model}", f"data={data}", f"data.cutout={cutout}"]
    cfg = compose_config(overrides)
    check_run(cfg)
    check_model(cfg)
    trainer = cfg.trainer
    assert (trainer.batch_size, trainer.lr, trainer.weight_decay) == pytest.approx(recipe)
    assert (trainer.epochs, trainer.schedule, trainer.nesterov, trainer.momentum) == (1800, "cosine", True, 0.9)
    assert compose_config([*overrides, "trainer.batch_size=256"]).trainer.lr == pytest.approx(
        recipe[1] * 256 / recipe[0]
    )


@pytest.fixture
def shake_tiny():
    """A shaken model small enough to train for a few steps in a test: one 8/16/16-wide block per stage."""
    from senet_ablate.models import MODELS, register_model
    from senet_ablate.models.registry import NO_3X3

    @register_model("cifar", (2, 3, 4), NO_3X3, residual=False, shake=ShakeMode("shake", "shake", "image"))
    def shake_tiny(shake, **kwargs):
        return ShakeNet(ShakeBasicBlock, 4, 1, (8, 16, 16), shake, **kwargs)

    yield shake_tiny
    del MODELS["shake_tiny"]


@pytest.mark.slow  # trains a run
def test_a_shaken_run_with_cutout_is_deterministic_and_resumes_exactly(
    shake_tiny, tmp_path, monkeypatch, signal_at_heartbeat
):
    root = write_cifar(tmp_path / "cifar", images=8)  # 40 training images: 5 steps of 8
    keys = ("train_loss", "val_loss", "top1_err", "lr")
    results = {}
    for name in ("whole", "split"):
        cfg = compose_config(
            ["model=shake_tiny", "data=cifar10", f"data.root={root}", "data.loader=gpu", "data.cutout=8"]
            + ["trainer=smoke", "trainer.device=cpu", "trainer.progress=false", "trainer.batch_size=8"]
            + ["trainer.epochs=1", f"results_dir={tmp_path / name}"]
        )
        if name == "split":
            signal_at_heartbeat(3, signal.SIGUSR1)
            assert run_job(cfg)["status"] == "interrupted"
            monkeypatch.undo()
        record = run_job(cfg)
        assert record["status"] == "completed"
        results[name] = [{key: epoch[key] for key in keys} for epoch in record["epochs"]]
    assert results["whole"] == results["split"]  # bit for bit on the CPU, though every step draws alphas and squares
