"""External weight names: fabricated detectron2 / Mask2Former / OV-AVSS pickles with real names
and shapes convert onto our backbone and pixel-decoder modules with nothing left unmapped."""
import pickle

import pytest

import numpy as np
import torch
from torch import nn

from ov_avss.checkpoint.name_map import convert_external_names, map_external_names
from ov_avss.config import get_cfg
from ov_avss.audio.vggish_params import EMBEDDING_SIZE as AUDIO_DIM
from ov_avss.modeling.backbone import ResNetBackbone, SwinBackbone
from ov_avss.modeling.pixel_decoder import build_pixel_decoder
from ov_avss.utils.registry import Registry

torch.set_num_threads(1)
RNG = np.random.default_rng(0)


def _array(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _norm(prefix, channels, stats=True):
    names = ["weight", "bias"] + (["running_mean", "running_var"] if stats else [])
    return {f"{prefix}.{name}": _array(channels) for name in names}


def detectron2_resnet50_names():
    """detectron2's R-50 layout (BottleneckBlock, FrozenBN, stride in the 3x3 conv)."""
    weights = {"backbone.stem.conv1.weight": _array(64, 3, 7, 7)}
    weights.update(_norm("backbone.stem.conv1.norm", 64))
    in_channels = 64
    for stage, num_blocks in zip(range(2, 6), [3, 4, 6, 3]):
        mid, out = 64 * 2 ** (stage - 2), 256 * 2 ** (stage - 2)
        for block in range(num_blocks):
            prefix = f"backbone.res{stage}.{block}"
            if block == 0:
                weights[f"{prefix}.shortcut.weight"] = _array(out, in_channels, 1, 1)
                weights.update(_norm(f"{prefix}.shortcut.norm", out))
            for conv, shape in (("conv1", (mid, in_channels, 1, 1)), ("conv2", (mid, mid, 3, 3)), ("conv3", (out, mid, 1, 1))):
                weights[f"{prefix}.{conv}.weight"] = _array(*shape)
                weights.update(_norm(f"{prefix}.{conv}.norm", shape[0]))
            in_channels = out
    return weights


def _original_relative_position_index(window):
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return relative[..., 0] * (2 * window - 1) + relative[..., 1]  # [W*W, W*W]


def mask2former_swin_names(embed_dim, depths, num_heads, window):
    """Mask2Former D2SwinTransformer layout."""
    weights = {"backbone.patch_embed.proj.weight": _array(embed_dim, 3, 4, 4), "backbone.patch_embed.proj.bias": _array(embed_dim)}
    weights.update(_norm("backbone.patch_embed.norm", embed_dim, stats=False))
    for layer, (depth, heads) in enumerate(zip(depths, num_heads)):
        dim = embed_dim * 2**layer
        for block in range(depth):
            prefix = f"backbone.layers.{layer}.blocks.{block}"
            weights.update(_norm(f"{prefix}.norm1", dim, stats=False))
            weights.update(_norm(f"{prefix}.norm2", dim, stats=False))
            weights[f"{prefix}.attn.relative_position_bias_table"] = _array((2 * window - 1) ** 2, heads)
            weights[f"{prefix}.attn.relative_position_index"] = _original_relative_position_index(window)
            weights[f"{prefix}.attn.qkv.weight"] = _array(3 * dim, dim)
            weights[f"{prefix}.attn.qkv.bias"] = _array(3 * dim)
            weights[f"{prefix}.attn.proj.weight"] = _array(dim, dim)
            weights[f"{prefix}.attn.proj.bias"] = _array(dim)
            weights[f"{prefix}.mlp.fc1.weight"] = _array(4 * dim, dim)
            weights[f"{prefix}.mlp.fc1.bias"] = _array(4 * dim)
            weights[f"{prefix}.mlp.fc2.weight"] = _array(dim, 4 * dim)
            weights[f"{prefix}.mlp.fc2.bias"] = _array(dim)
        if layer < 3:
            weights[f"backbone.layers.{layer}.downsample.reduction.weight"] = _array(2 * dim, 4 * dim)
            weights.update(_norm(f"backbone.layers.{layer}.downsample.norm", 4 * dim, stats=False))
        weights.update(_norm(f"backbone.norm{layer}", dim, stats=False))
    return weights


def mask2former_pixel_decoder_names(in_channels, conv_dim, mask_dim, layers, heads, points, ffn, fusion_dim):
    """Mask2Former MSDeformAttnPixelDecoder (+ OV-AVSS vl_layer), in_channels res2..res5."""
    prefix = "sem_seg_head.pixel_decoder"
    weights = {}
    for index, channels in enumerate(reversed(in_channels[1:])):  # res5, res4, res3
        weights[f"{prefix}.input_proj.{index}.0.weight"] = _array(conv_dim, channels, 1, 1)
        weights[f"{prefix}.input_proj.{index}.0.bias"] = _array(conv_dim)
        weights.update(_norm(f"{prefix}.input_proj.{index}.1", conv_dim, stats=False))
    weights[f"{prefix}.transformer.level_embed"] = _array(3, conv_dim)
    for layer in range(layers):
        p = f"{prefix}.transformer.encoder.layers.{layer}"
        for name, (rows, cols) in {
            "self_attn.sampling_offsets": (heads * 3 * points * 2, conv_dim),
            "self_attn.attention_weights": (heads * 3 * points, conv_dim),
            "self_attn.value_proj": (conv_dim, conv_dim),
            "self_attn.output_proj": (conv_dim, conv_dim),
            "linear1": (ffn, conv_dim),
            "linear2": (conv_dim, ffn),
        }.items():
            weights[f"{p}.{name}.weight"] = _array(rows, cols)
            weights[f"{p}.{name}.bias"] = _array(rows)
        weights.update(_norm(f"{p}.norm1", conv_dim, stats=False))
        weights.update(_norm(f"{p}.norm2", conv_dim, stats=False))
    vl = f"{prefix}.transformer.encoder.vl_layer.b_attn"
    weights.update(_norm(f"{vl}.layer_norm_v", conv_dim, stats=False))
    # The audio side of the fusion is VGGish-wide (128), as in the release.
    weights.update(_norm(f"{vl}.layer_norm_l", AUDIO_DIM, stats=False))
    for name, width in (("v_proj", conv_dim), ("l_proj", AUDIO_DIM), ("values_v_proj", conv_dim), ("values_l_proj", AUDIO_DIM)):
        weights[f"{vl}.attn.{name}.weight"] = _array(fusion_dim, width)
        weights[f"{vl}.attn.{name}.bias"] = _array(fusion_dim)
    for name, width in (("out_v_proj", conv_dim), ("out_l_proj", AUDIO_DIM)):
        weights[f"{vl}.attn.{name}.weight"] = _array(width, fusion_dim)
        weights[f"{vl}.attn.{name}.bias"] = _array(width)
    weights[f"{vl}.gamma_v"] = _array(conv_dim)
    weights[f"{vl}.gamma_l"] = _array(AUDIO_DIM)
    weights[f"{prefix}.adapter_1.weight"] = _array(conv_dim, in_channels[0], 1, 1)
    weights.update(_norm(f"{prefix}.adapter_1.norm", conv_dim, stats=False))
    weights[f"{prefix}.layer_1.weight"] = _array(conv_dim, conv_dim, 3, 3)
    weights.update(_norm(f"{prefix}.layer_1.norm", conv_dim, stats=False))
    weights[f"{prefix}.mask_features.weight"] = _array(mask_dim, conv_dim, 1, 1)
    weights[f"{prefix}.mask_features.bias"] = _array(mask_dim)
    return weights


class _Model(nn.Module):
    """The attribute paths of the meta-architecture: backbone, pixel_decoder."""

    def __init__(self, backbone, pixel_decoder):
        super().__init__()
        self.backbone = backbone
        self.pixel_decoder = pixel_decoder


def _round_trip_pickle(weights, tmp_path):
    path = tmp_path / "model_final.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"model": weights, "__author__": "test"}, handle)
    with open(path, "rb") as handle:
        return pickle.load(handle)["model"]


def _load_and_check(model, external):
    converted, unmapped = convert_external_names(external, model.state_dict().keys())
    assert unmapped == []
    assert len(converted) == len(external)
    tensors = {name: torch.as_tensor(value) for name, value in converted.items()}
    result = model.load_state_dict(tensors, strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys == []
    own = model.state_dict()
    # convert_external_names keeps the order of the keys.
    for (external_name, value), our_name in zip(external.items(), converted):
        assert np.array_equal(own[our_name].numpy().reshape(value.shape), value), (external_name, our_name)


def _tiny_pixel_decoder(input_shape, convs_dim=32, layers=2):
    cfg = get_cfg()
    head = cfg.MODEL.SEM_SEG_HEAD
    head.CONVS_DIM, head.MASK_DIM, head.TRANSFORMER_ENC_LAYERS = convs_dim, 24, layers
    head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS, head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS = 4, 2
    head.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD = 64
    head.AV_FUSION_EMBED_DIM = 64
    head.MSDA_IMPL = "pytorch"
    return build_pixel_decoder(cfg, input_shape, AUDIO_DIM)


def test_resnet50_and_pixel_decoder_weights_map_completely(tmp_path):
    backbone = ResNetBackbone(depth=50, norm="FrozenBN", out_features=["res2", "res3", "res4", "res5"])
    decoder = _tiny_pixel_decoder(backbone.output_shape())
    model = _Model(backbone, decoder)
    external = detectron2_resnet50_names()
    external.update(mask2former_pixel_decoder_names([256, 512, 1024, 2048], 32, 24, 2, 4, 2, 64, 64))
    external = _round_trip_pickle(external, tmp_path)
    _load_and_check(model, external)
    backbone_keys = [k for k in model.state_dict() if k.startswith("backbone.")]
    assert len(backbone_keys) == sum(k.startswith("backbone.") for k in external)


def test_swin_weights_map_completely(tmp_path):
    config = dict(embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4], window=4)
    backbone = SwinBackbone(
        embed_dim=16, depths=config["depths"], num_heads=config["num_heads"], window_size=config["window"]
    )
    model = _Model(backbone, nn.Identity())
    external = _round_trip_pickle(mask2former_swin_names(**config), tmp_path)
    _load_and_check(model, external)
    assert len(model.state_dict()) == len(external)
    # The converted model runs.
    with torch.no_grad():
        assert backbone(torch.randn(1, 3, 64, 64))["res5"].shape == (1, 128, 2, 2)


def test_own_names_pass_through_and_unknown_names_are_reported():
    backbone = ResNetBackbone(depth=18, norm="FrozenBN", out_features=["res2"])
    own_keys = [f"backbone.{k}" for k in backbone.state_dict()]
    state = {key: 0 for key in own_keys}
    state["backbone.fpn_lateral2.weight"] = 1
    converted, unmapped = convert_external_names(state, own_keys)
    assert unmapped == ["backbone.fpn_lateral2.weight"]
    assert set(converted) == set(state)


def test_map_external_names_drops_rebuilt_constants_and_reports_collisions():
    own_keys = ["backbone.stem.bn1.weight", "backbone.stem.conv1.weight", "criterion.empty_weight"]
    state = {
        "backbone.stem.conv1.norm.weight": 1,  # detectron2's name of backbone.stem.bn1.weight
        "backbone.stem.bn1.weight": 2,  # ... and ours: both map onto one name
        "backbone.stem.conv1.weight": 3,
        "criterion.empty_weight": 4,  # a model key here: kept
        "clip_adapter.pixel_mean": 5,  # a release constant this model rebuilds: dropped
    }
    mapping = map_external_names(state, own_keys)
    assert list(mapping.dropped) == ["clip_adapter.pixel_mean"] and "CLIP" in mapping.dropped["clip_adapter.pixel_mean"]
    assert mapping.collisions == {"backbone.stem.bn1.weight": ["backbone.stem.conv1.norm.weight", "backbone.stem.bn1.weight"]}
    assert mapping.state_dict == {"backbone.stem.bn1.weight": 1, "backbone.stem.conv1.weight": 3, "criterion.empty_weight": 4}
    assert mapping.unmapped == []


def test_an_architecture_s_own_names_apply_to_its_models_only(monkeypatch):
    """Rules registered for a meta-architecture come before the shared ones, for that
    architecture only; its constants are dropped with their reason; names register once."""
    from ov_avss.checkpoint import name_map

    monkeypatch.setattr(name_map, "_ARCHITECTURE_NAMES", Registry("CHECKPOINT_NAMES"))
    name_map.register_architecture_names(
        "Family", [(r"sem_seg_head\.predictor\.(.+)", r"frame_decoder.\1")], {"family_criterion.empty_weight": "rebuilt"}
    )
    state = {
        "sem_seg_head.predictor.query_feat.weight": 1,
        "sem_seg_head.pixel_decoder.transformer.level_embed": 2,
        "family_criterion.empty_weight": 3,
    }
    ours = ["frame_decoder.query_feat.weight", "pixel_decoder.level_embed"]
    mapping = map_external_names(state, ours, architecture="Family")
    assert mapping.state_dict == {"frame_decoder.query_feat.weight": 1, "pixel_decoder.level_embed": 2}
    assert mapping.unmapped == [] and mapping.dropped == {"family_criterion.empty_weight": "rebuilt"}
    # Another architecture gets the shared map only: the predictor goes to the OV-AVSS decoder.
    other = map_external_names(state, ours, architecture="Other")
    assert "transformer_decoder.query_feat.weight" in other.state_dict
    assert other.unmapped == ["family_criterion.empty_weight"]
    with pytest.raises(ValueError, match="'Family' are already registered"):
        name_map.register_architecture_names("Family", [])


def test_an_architecture_s_rules_may_compute_names_and_drop_key_patterns(monkeypatch):
    """A replacement may be a function of the match (a stage number shifted, a library's own
    renaming); dropped patterns drop every key they fullmatch, with why, unless the model has it."""
    from ov_avss.checkpoint import name_map

    monkeypatch.setattr(name_map, "_ARCHITECTURE_NAMES", Registry("CHECKPOINT_NAMES"))
    name_map.register_architecture_names(
        "Family",
        [(r"stage([1-4])\.(.+)", lambda match: f"stages.{int(match.group(1)) - 1}.{match.group(2)}")],
        dropped_patterns={r"branch2\..+": "never called"},
    )
    state = {"stage1.conv.weight": 1, "stage4.norm.bias": 2, "branch2.conv.weight": 3, "branch2.kept": 4}
    ours = ["stages.0.conv.weight", "stages.3.norm.bias", "branch2.kept"]
    mapping = map_external_names(state, ours, architecture="Family")
    assert mapping.state_dict == {"stages.0.conv.weight": 1, "stages.3.norm.bias": 2, "branch2.kept": 4}
    assert mapping.dropped == {"branch2.conv.weight": "never called"} and mapping.unmapped == []
    assert map_external_names(state, ours, architecture="Other").dropped == {}
