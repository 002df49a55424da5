"""Our SE-ResNets as torchvision Faster R-CNN + FPN backbones (the paper's COCO table)."""

import pytest
import torch

from senet_ablate import ConfigError
from senet_ablate.integrations.detection import detection_backbone, faster_rcnn


def _coco_style_batch():
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(3, 96, 112, generator=generator), torch.rand(3, 80, 96, generator=generator)]
    targets = [
        {"boxes": torch.tensor([[10.0, 12.0, 60.0, 70.0]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[5.0, 5.0, 40.0, 30.0], [30.0, 20.0, 90.0, 75.0]]), "labels": torch.tensor([2, 1])},
    ]
    return images, targets


def test_one_faster_rcnn_training_step_on_an_se_resnet50_backbone():
    torch.manual_seed(0)
    model = faster_rcnn(["model=resnet50", "model.stride_in_1x1=false"], num_classes=3, min_size=96, max_size=128)
    model.train()
    se_weight = model.backbone.body.layer4[0].se.fc1.weight
    before = se_weight.detach().clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    losses = model(*_coco_style_batch())
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    optimizer.step()
    assert not torch.equal(se_weight, before)  # SE of the trained stages learns
    assert all(p.grad is None for p in model.backbone.body.layer1.parameters())  # stem and stage 2 frozen

    model.eval()
    with torch.no_grad():
        (detections, _) = model(_coco_style_batch()[0])
    assert set(detections) == {"boxes", "labels", "scores"}


def test_the_backbone_gives_fpn_levels_at_strides_4_to_64_and_refuses_other_models():
    backbone = detection_backbone(["model=resnet50", "se.enabled=false"]).eval()
    with torch.no_grad():
        features = backbone(torch.rand(1, 3, 128, 128))
    assert {name: tuple(f.shape[-2:]) for name, f in features.items()} == {
        "0": (32, 32),
        "1": (16, 16),
        "2": (8, 8),
        "3": (4, 4),
        "pool": (2, 2),
    }
    assert all(f.shape[1] == 256 for f in features.values())
    with pytest.raises(ConfigError, match="model.name='resnet20' .* an ImageNet ResNet"):
        detection_backbone(["model=resnet20", "data=cifar10"])


def test_the_backbone_starts_from_an_imagenet_runs_checkpoint(tmp_path):
    from senet_ablate import create_model
    from senet_ablate.engine.checkpoint import save_checkpoint

    trained = create_model(["model=resnet50", "se.reduction=8"])
    with torch.no_grad():
        trained.layer3[2].se.fc2.weight.mul_(3.0)
    save_checkpoint(tmp_path / "checkpoint.pt", {"model": trained.state_dict(), "history": []})
    backbone = detection_backbone(["model=resnet50", "se.reduction=8"], checkpoint=tmp_path / "checkpoint.pt")
    assert torch.equal(backbone.body.layer3[2].se.fc2.weight, trained.layer3[2].se.fc2.weight)
    assert torch.equal(backbone.body.layer1[0].bn1.running_var, trained.layer1[0].bn1.running_var)
    with pytest.raises(ConfigError, match="checkpoint=.* no readable checkpoint of this model there"):
        detection_backbone(["model=resnet50"], checkpoint=tmp_path / "missing.pt")
    with pytest.raises(ConfigError, match="checkpoint=.* no readable checkpoint of this model there"):
        detection_backbone(["model=resnet50"], checkpoint=tmp_path / "checkpoint.pt")  # r=16, not 8: other weights
