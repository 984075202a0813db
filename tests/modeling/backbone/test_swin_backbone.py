"""Swin backbone: output shapes, registry names, APE, freezing, padding, config validation."""
import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.modeling.backbone import ShapeSpec, SwinBackbone, build_backbone

torch.set_num_threads(1)

TINY_SWIN = dict(embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4], window_size=4, drop_path_rate=0.1)


def _swin_cfg(name: str = "D2SwinTransformer", freeze_at: int = 0, **swin):
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.BACKBONE.FREEZE_AT = freeze_at
    cfg.MODEL.SWIN.EMBED_DIM = 16
    cfg.MODEL.SWIN.DEPTHS = [2, 2, 2, 2]
    cfg.MODEL.SWIN.NUM_HEADS = [1, 2, 2, 4]
    cfg.MODEL.SWIN.WINDOW_SIZE = 4
    for key, value in swin.items():
        assert key in cfg.MODEL.SWIN, key
        setattr(cfg.MODEL.SWIN, key, value)
    return cfg


@pytest.mark.parametrize("name", ["D2SwinTransformer", "build_swin_backbone"])
@pytest.mark.parametrize("size", [(64, 96), (96, 64)])
def test_output_shapes_match_output_shape(name, size):
    backbone = build_backbone(_swin_cfg(name))
    assert isinstance(backbone, SwinBackbone)
    height, width = size
    with torch.no_grad():
        outputs = backbone(torch.randn(2, 3, height, width))
    expected = {f"res{i + 2}": ShapeSpec(channels=16 * 2**i, stride=4 * 2**i) for i in range(4)}
    assert backbone.output_shape() == expected
    assert backbone.size_divisibility == 32
    for name_, spec in expected.items():
        assert outputs[name_].shape == (2, spec.channels, height // spec.stride, width // spec.stride)


def test_outputs_are_layer_normalised_per_pixel():
    backbone = build_backbone(_swin_cfg())
    with torch.no_grad():
        res3 = backbone(torch.randn(1, 3, 64, 64))["res3"]
    # Fresh LayerNorms (unit weight, zero bias): every pixel has zero mean and variance
    # s / (s + eps), s being its variance before the norm (eps = 1e-5).
    per_pixel = res3.permute(0, 2, 3, 1)
    assert torch.allclose(per_pixel.mean(-1), torch.zeros(1), atol=1e-5)
    variance = per_pixel.var(-1, unbiased=False)
    assert (variance <= 1.0 + 1e-5).all() and (variance > 0.99).all()


def test_window_larger_than_feature_map_and_ape():
    # Window 12 as in the 384 configs, on a 64x64 input: every stage is smaller than a window.
    backbone = build_backbone(_swin_cfg(WINDOW_SIZE=12, APE=True, PRETRAIN_IMG_SIZE=384))
    assert backbone.absolute_pos_embed.shape == (1, 16, 96, 96)
    outputs = backbone(torch.randn(1, 3, 64, 64))
    assert outputs["res5"].shape == (1, 128, 2, 2)
    # A random projection: the plain sum of a LayerNorm output has zero gradient.
    (outputs["res5"] * torch.randn_like(outputs["res5"])).sum().backward()
    assert backbone.absolute_pos_embed.grad.abs().sum() > 0


def test_input_not_divisible_by_patch_is_padded():
    backbone = SwinBackbone(**TINY_SWIN)
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 62, 66))
    assert outputs["res2"].shape[-2:] == (16, 17)
    assert outputs["res5"].shape[-2:] == (2, 3)


def test_patch_norm_off_and_out_features_subset():
    backbone = build_backbone(_swin_cfg(PATCH_NORM=False, OUT_FEATURES=["res2", "res4"]))
    assert isinstance(backbone.patch_embed.norm, torch.nn.Identity)
    assert len(backbone.stages) == 3 and len(backbone.downsamples) == 2
    assert list(backbone(torch.randn(1, 3, 32, 32))) == ["res2", "res4"]


def test_freeze_at_freezes_patch_embedding_and_leading_stages():
    backbone = build_backbone(_swin_cfg(freeze_at=3))
    assert not any(p.requires_grad for p in backbone.patch_embed.parameters())
    assert not any(p.requires_grad for p in backbone.stages[0].parameters())
    assert not any(p.requires_grad for p in backbone.stages[1].parameters())
    assert not any(p.requires_grad for p in backbone.downsamples[1].parameters())
    assert all(p.requires_grad for p in backbone.stages[2].parameters())
    assert all(p.requires_grad for p in backbone.output_norms.parameters())


def test_gradients_reach_every_parameter():
    # No stochastic depth: a dropped residual branch would leave its block without gradient.
    backbone = SwinBackbone(**dict(TINY_SWIN, drop_path_rate=0.0))
    outputs = backbone(torch.randn(1, 3, 64, 64))
    weights = {name: torch.randn_like(value) for name, value in outputs.items()}
    sum((outputs[name] * weights[name]).sum() for name in outputs).backward()
    no_grad = [name for name, p in backbone.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert no_grad == []


def test_qkv_bias_off():
    backbone = build_backbone(_swin_cfg(QKV_BIAS=False))
    assert backbone.stages[0][0].attn.qkv.bias is None


def test_original_relative_position_index_layout_loads():
    backbone = SwinBackbone(**TINY_SWIN)
    state = backbone.state_dict()
    key = "stages.1.1.attn.relative_position_index"
    window_area = 4 * 4
    flat = state[key].clone()
    state[key] = flat.view(window_area, window_area)  # Swin's original [W*W, W*W] buffer
    backbone.load_state_dict(state, strict=True)
    assert torch.equal(backbone.stages[1][1].attn.relative_position_index, flat)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"DEPTHS": [2, 2, 2]}, "MODEL.SWIN.DEPTHS"),
        ({"NUM_HEADS": [3, 2, 2, 4]}, "MODEL.SWIN.NUM_HEADS"),
        ({"OUT_FEATURES": ["p3"]}, "MODEL.SWIN.OUT_FEATURES"),
    ],
)
def test_bad_config_is_rejected_with_the_key_name(overrides, message):
    with pytest.raises(ValueError, match=message):
        build_backbone(_swin_cfg(**overrides))
