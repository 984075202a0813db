"""ResNet backbone: output shapes, registry names, freezing, config validation."""
import pytest
import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from ov_avss.config import get_cfg
from ov_avss.modeling.backbone import ResNetBackbone, ShapeSpec, build_backbone

torch.set_num_threads(1)


def _resnet_cfg(depth: int, freeze_at: int = 0, **resnets):
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    cfg.MODEL.BACKBONE.FREEZE_AT = freeze_at
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64 if depth in (18, 34) else 256
    for key, value in resnets.items():
        assert key in cfg.MODEL.RESNETS, key
        setattr(cfg.MODEL.RESNETS, key, value)
    return cfg


@pytest.mark.parametrize(
    "depth, channels", [(18, [64, 128, 256, 512]), (50, [256, 512, 1024, 2048])]
)
def test_output_shapes_match_output_shape(depth, channels):
    backbone = build_backbone(_resnet_cfg(depth))
    images = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        outputs = backbone(images)
    expected = {
        f"res{i + 2}": ShapeSpec(channels=channels[i], stride=4 * 2**i) for i in range(4)
    }
    assert backbone.output_shape() == expected
    assert list(outputs) == ["res2", "res3", "res4", "res5"]
    for name, spec in expected.items():
        assert outputs[name].shape == (2, spec.channels, 64 // spec.stride, 96 // spec.stride)


def test_out_features_subset_builds_only_needed_stages():
    backbone = build_backbone(_resnet_cfg(18, OUT_FEATURES=["res3"]))
    assert not hasattr(backbone, "res4") and not hasattr(backbone, "res5")
    outputs = backbone(torch.randn(1, 3, 32, 32))
    assert list(outputs) == ["res3"] and outputs["res3"].shape == (1, 128, 4, 4)


def test_res5_dilation_keeps_stride_16():
    backbone = build_backbone(_resnet_cfg(50, RES5_DILATION=2))
    assert backbone.output_shape()["res5"] == ShapeSpec(2048, 16)
    with torch.no_grad():
        assert backbone(torch.randn(1, 3, 64, 64))["res5"].shape == (1, 2048, 4, 4)


def test_frozen_bn_has_no_trainable_norm_parameters():
    backbone = build_backbone(_resnet_cfg(18, NORM="FrozenBN"))
    assert isinstance(backbone.stem.bn1, FrozenBatchNorm2d)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in backbone.modules())
    # Only convolution weights are parameters; the frozen norms hold buffers.
    assert all(name.endswith("weight") and ".bn" not in name for name, _ in backbone.named_parameters())
    assert all(p.requires_grad for p in backbone.parameters())


@pytest.mark.parametrize("freeze_at", [0, 1, 2, 3, 5])
def test_freeze_at_freezes_stem_and_leading_stages(freeze_at):
    backbone = build_backbone(_resnet_cfg(18, NORM="BN", freeze_at=freeze_at))
    backbone.train()
    stages = ["stem", "res2", "res3", "res4", "res5"]
    for index, stage in enumerate(stages):
        module = getattr(backbone, stage)
        frozen = index < freeze_at
        assert all(p.requires_grad != frozen for p in module.parameters()), stage
        # Frozen stages use frozen statistics; trainable stages keep BatchNorm.
        has_batchnorm = any(isinstance(m, nn.BatchNorm2d) for m in module.modules())
        assert has_batchnorm != frozen, stage

    before = backbone.stem.bn1.running_mean.clone()
    backbone(torch.randn(2, 3, 32, 32) * 5 + 3)
    stem_stats_changed = not torch.equal(before, backbone.stem.bn1.running_mean)
    assert stem_stats_changed == (freeze_at == 0)


def test_gradients_reach_trainable_stages_only():
    backbone = build_backbone(_resnet_cfg(18, freeze_at=2))
    outputs = backbone(torch.randn(1, 3, 32, 32))
    sum(o.sum() for o in outputs.values()).backward()
    assert backbone.stem.conv1.weight.grad is None
    assert backbone.res2[0].conv1.weight.grad is None
    assert backbone.res3[0].conv1.weight.grad is not None
    assert backbone.res3[0].conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"DEPTH": 42}, "MODEL.RESNETS.DEPTH"),
        ({"NORM": "GN"}, "MODEL.RESNETS.NORM"),
        ({"RES2_OUT_CHANNELS": 256}, "MODEL.RESNETS.RES2_OUT_CHANNELS"),
        ({"STRIDE_IN_1X1": True}, "MODEL.RESNETS.STRIDE_IN_1X1"),
        ({"OUT_FEATURES": ["res6"]}, "MODEL.RESNETS.OUT_FEATURES"),
    ],
)
def test_bad_config_is_rejected_with_the_key_name(overrides, message):
    cfg = _resnet_cfg(18)
    for key, value in overrides.items():
        setattr(cfg.MODEL.RESNETS, key, value)
    with pytest.raises(ValueError, match=message):
        build_backbone(cfg)


def test_bad_input_shape_is_rejected():
    backbone = ResNetBackbone(depth=18, norm="FrozenBN", out_features=["res2"])
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        backbone(torch.randn(1, 1, 32, 32))
