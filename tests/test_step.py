"""The training step (engine/trainer.py's TrainStep): what the trainer did by hand, and the one step that the
trainer, the planner's probe and the benchmark all run."""

import copy
import time
from types import SimpleNamespace

import pytest
import torch
from helpers import TINY, load_script
from torch import nn

from senet_ablate.base.distributed import DistributedContext
from senet_ablate.config import compose_config
from senet_ablate.data.build import build_loaders
from senet_ablate.engine.optim import build_optimizer, fused_kernel, load_optimizer_state
from senet_ablate.engine.trainer import Trainer, TrainStep
from senet_ablate.models import Classifier
from senet_ablate.models.build import build_model
from senet_ablate.plan import PROBE_STEPS, probe_images_per_second


def tiny(classes: int = 5) -> nn.Module:
    layers = [nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, classes)]
    return nn.Sequential(*layers)


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


def test_a_step_is_the_hand_written_scaled_step_and_accumulates_as_the_trainer_did():
    """A CPU GradScaler that grows at every finite step stands in for fp16's (CUDA's cannot be
    enabled without a GPU): 3 steps, the last of 2 accumulated micro-batches, then a step whose
    gradients are not finite, which the scaler skips and halves its scale for."""
    model = tiny()
    reference, criterion = copy.deepcopy(model), nn.CrossEntropyLoss(label_smoothing=0.1)
    step = TrainStep(model, sgd(model), criterion, torch.device("cpu"), amp=True)
    step.scaler = torch.amp.GradScaler("cpu", growth_interval=1)
    optimizer, scaler = sgd(reference), torch.amp.GradScaler("cpu", growth_interval=1)
    batches = [(torch.randn(4, 3, 8, 8), torch.randint(5, (4,))) for _ in range(4)]

    def by_hand(micro_batches):
        losses = []
        for images, labels in micro_batches:
            loss = criterion(reference(images), labels)
            scaler.scale(loss / len(micro_batches)).backward()
            losses.append(loss.detach())
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return losses

    for images, labels in batches[:2]:
        assert torch.equal(step(images, labels), by_hand([(images, labels)])[0])
    losses = [step.backward(images, labels, accumulate=2)[1] for images, labels in batches[2:]]
    step.update()
    assert all(map(torch.equal, losses, by_hand(batches[2:])))
    assert step.scaler.get_scale() == scaler.get_scale() == 2**16 * 2**3  # grown at each of the 3 steps
    assert all(map(torch.equal, model.state_dict().values(), reference.state_dict().values()))
    assert all(p.grad is None for p in model.parameters())
    before = copy.deepcopy(model.state_dict())
    assert not torch.isfinite(step(torch.full((4, 3, 8, 8), float("inf")), batches[0][1]))
    assert step.scaler.get_scale() == 2**18  # halved, and the optimiser step skipped
    params = dict(model.named_parameters())
    assert all(torch.equal(params[name], before[name]) for name in params)


@pytest.fixture
def updates(monkeypatch):
    """The type of the network of every optimiser step: each goes through TrainStep.update, so a
    caller with a step of its own records none."""
    stepped = []
    update = TrainStep.update
    monkeypatch.setattr(TrainStep, "update", lambda self: stepped.append(type(self.network)) or update(self))
    return stepped


def test_the_trainer_runs_the_shared_step(updates):
    cfg = compose_config([*TINY, "data.image_size=8", "data.train_size=8", "trainer.batch_size=4"])
    device, dist = torch.device("cpu"), DistributedContext()
    Trainer(cfg, build_model(cfg), build_loaders(cfg, dist, device), device, dist, None).train_one_epoch(0)
    assert len(updates) == 2  # 8 images in batches of 4


def test_the_planners_probe_runs_the_shared_step(updates):
    probe_images_per_second(compose_config([*TINY, "data.image_size=8"]), batch=2)
    assert len(updates) == 1 + PROBE_STEPS  # a warm-up step, then the timed ones


def test_the_benchmark_runs_the_shared_step(updates, monkeypatch):
    benchmark = load_script("benchmark")
    monkeypatch.setattr(benchmark, "MODELS", {"tiny": (lambda: tiny(1000), True)})
    sizes = dict(batch_size=2, image_size=8, steps=2, warmup=1, repeats=2)
    args = SimpleNamespace(
        device="cpu", amp=True, amp_dtype="auto", channels_last=False, compile=False, models=["tiny"], **sizes
    )
    assert list(benchmark.model_rows(args)) == ["tiny"]
    assert updates == [nn.Sequential] * (1 + 2 * 2)  # warm-up, then 2 repeats of 2 steps


def test_every_shared_step_on_cuda_lets_cudnn_time_its_algorithms(monkeypatch):
    """The trainer alone set it: the benchmark's model table and the planner's probe timed other kernels."""
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    model = tiny()
    TrainStep(model, sgd(model), nn.CrossEntropyLoss(), torch.device("cpu"), amp=False)
    assert torch.backends.cudnn.benchmark is False  # CPU runs: nothing to tune
    TrainStep(model, sgd(model), nn.CrossEntropyLoss(), torch.device("cuda"), amp=False)  # builds without a GPU
    assert torch.backends.cudnn.benchmark is True


def test_sgd_is_fused_where_its_parameters_are_on_cuda():
    """fp16's GradScaler reads found_inf on the host at every step of an unfused optimiser."""
    on_cuda, on_cpu = SimpleNamespace(device=torch.device("cuda")), torch.zeros(1)
    assert fused_kernel([on_cuda, on_cuda]) is True
    assert fused_kernel([on_cuda, on_cpu]) is None and fused_kernel([on_cpu]) is None
    cfg = compose_config(TINY)
    optimizer = build_optimizer(tiny(), cfg.trainer)
    assert optimizer.param_groups[0]["fused"] is None  # on the CPU: torch's default kernel
    saved_on_cuda = copy.deepcopy(optimizer.state_dict())
    saved_on_cuda["param_groups"][0]["fused"] = True  # torch would take this for the CPU run
    load_optimizer_state(optimizer, saved_on_cuda)
    assert optimizer.param_groups[0]["fused"] is None


def test_the_benchmarks_cifar_projection_compiles_with_compile():
    benchmark = load_script("benchmark")
    for compile_on in (False, True):
        args = SimpleNamespace(device="cpu", compile=compile_on, projection_steps=3)
        assert benchmark.cifar_projection_config(args).trainer.compile is compile_on


def test_the_benchmarks_loader_epochs_are_timed_after_their_first_batch():
    """The image-folder comparison timed epochs of 4 batches whole: mostly the workers' start."""
    benchmark = load_script("benchmark")

    def batches():
        time.sleep(0.5)  # the epoch's start: workers, prefetching
        for _ in range(4):
            yield torch.zeros(4, 3, 2, 2), torch.zeros(4, dtype=torch.long)

    epoch = type("Epoch", (), {"__iter__": lambda self: batches()})()
    loaders = SimpleNamespace(set_epoch=lambda seed: None, train=epoch)
    assert benchmark.epoch_rate(loaders, 0, torch.device("cpu")) > 12 / 0.25  # 12 images after the first 4


def test_evaluation_runs_the_body_in_the_training_precision_and_only_the_head_in_float32():
    """Evaluation ran wholly in float32 to keep bf16 logits from tying: the whole model paid for the head.
    CPU autocast in bfloat16 stands in for CUDA's."""
    cfg = compose_config([*TINY, "data.image_size=8", "data.train_size=8", "data.val_size=4", "trainer.batch_size=4"])
    device, dist = torch.device("cpu"), DistributedContext()
    trainer = Trainer(cfg, build_model(cfg), build_loaders(cfg, dist, device), device, dist, None)
    trainer.step.dtype = torch.bfloat16
    dtypes = {}
    first_conv = next(module for module in trainer.model.modules() if isinstance(module, nn.Conv2d))
    first_conv.register_forward_hook(lambda module, args, out: dtypes.__setitem__("body", out.dtype))
    trainer.model.fc.register_forward_hook(lambda module, args, out: dtypes.__setitem__("logits", out.dtype))
    assert isinstance(trainer.model.fc, Classifier)
    trainer.evaluate()
    assert dtypes == {"body": torch.bfloat16, "logits": torch.float32}
    trainer.network.train()
    with trainer.step.autocast():
        trainer.network(torch.randn(2, 3, 8, 8))
    assert dtypes["logits"] == torch.bfloat16  # training: the head as before, its loss in float32 anyway
