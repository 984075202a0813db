"""MSDeformAttnPixelDecoderAV and its audio-visual fusion block, on tiny models."""
import math

import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.modeling.backbone import ShapeSpec
from ov_avss.modeling.pixel_decoder import (
    AudioVisualBiAttention,
    MSDeformAttnPixelDecoderAV,
    PositionEmbeddingSine,
    build_pixel_decoder,
)

torch.set_num_threads(1)

# Width of the per-frame audio embeddings (VGGish's).
AUDIO_DIM = 128
# A ResNet-18-like pyramid.
INPUT_SHAPE = {
    "res2": ShapeSpec(16, 4),
    "res3": ShapeSpec(24, 8),
    "res4": ShapeSpec(40, 16),
    "res5": ShapeSpec(48, 32),
}


def _tiny_cfg(name="MSDeformAttnPixelDecoderAV", fusion=True, encoder_layers=2):
    cfg = get_cfg()
    head = cfg.MODEL.SEM_SEG_HEAD
    head.PIXEL_DECODER_NAME = name
    head.CONVS_DIM = 32
    head.MASK_DIM = 24
    head.TRANSFORMER_ENC_LAYERS = encoder_layers
    head.DEFORMABLE_TRANSFORMER_ENCODER_N_HEADS = 4
    head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS = 2
    head.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD = 64
    head.AV_FUSION_ENABLED = fusion
    head.AV_FUSION_NHEADS = 4
    head.AV_FUSION_EMBED_DIM = 64
    head.AV_FUSION_DROPOUT = 0.0
    head.MSDA_IMPL = "pytorch"
    return cfg


def _inputs(batch=2, height=64, width=96, seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = {
        name: torch.randn(batch, spec.channels, height // spec.stride, width // spec.stride, generator=generator)
        for name, spec in INPUT_SHAPE.items()
    }
    return features, torch.randn(batch, AUDIO_DIM, generator=generator)


@pytest.mark.parametrize("name", ["MSDeformAttnPixelDecoderAV", "MSDeformAttnPixelDecoderAVBi"])
def test_output_shapes_and_attributes(name):
    decoder = build_pixel_decoder(_tiny_cfg(name), INPUT_SHAPE, AUDIO_DIM)
    assert isinstance(decoder, MSDeformAttnPixelDecoderAV)
    assert (decoder.convs_dim, decoder.mask_dim, decoder.num_feature_levels) == (32, 24, 3)
    features, audio = _inputs()
    mask_features, multi_scale, audio_tokens = decoder.forward_features(features, audio)
    assert mask_features.shape == (2, 24, 16, 24)
    assert [tuple(f.shape) for f in multi_scale] == [(2, 32, 2, 3), (2, 32, 4, 6), (2, 32, 8, 12)]
    assert audio_tokens.shape == (2, AUDIO_DIM)


def test_fusion_block_starts_with_configured_layer_scale():
    cfg = _tiny_cfg()
    cfg.MODEL.SEM_SEG_HEAD.AV_FUSION_LAYER_SCALE_INIT = 0.25
    decoder = build_pixel_decoder(cfg, INPUT_SHAPE, AUDIO_DIM)
    assert torch.equal(decoder.av_fusion.visual_gamma, torch.full((32,), 0.25))
    assert torch.equal(decoder.av_fusion.audio_gamma, torch.full((AUDIO_DIM,), 0.25))
    default = build_pixel_decoder(_tiny_cfg(), INPUT_SHAPE, AUDIO_DIM)
    assert torch.allclose(default.av_fusion.visual_gamma, torch.full((32,), 1 / 6))


def test_gradients_reach_every_parameter_and_the_inputs():
    torch.manual_seed(0)
    decoder = build_pixel_decoder(_tiny_cfg(), INPUT_SHAPE, AUDIO_DIM)
    # Deformable DETR initialises the offset and attention-weight matrices to zero, so at
    # initialisation the queries (and with them the level embedding) get no gradient; move
    # away from that point as one optimiser step would.
    with torch.no_grad():
        for layer in decoder.encoder_layers:
            layer.self_attn.sampling_offsets.weight.normal_(std=0.01)
            layer.self_attn.attention_weights.weight.normal_(std=0.01)
    features, audio = _inputs()
    for tensor in list(features.values()) + [audio]:
        tensor.requires_grad_(True)
    mask_features, multi_scale, audio_tokens = decoder.forward_features(features, audio)
    # Random projections: plain sums of normalised outputs would have zero gradient.
    outputs = [mask_features, *multi_scale, audio_tokens]
    loss = sum((output * torch.randn_like(output)).sum() for output in outputs)
    loss.backward()
    no_grad = [n for n, p in decoder.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert no_grad == []
    for name, tensor in features.items():
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0, name
    assert audio.grad.abs().sum() > 0


def test_audio_changes_visual_output_and_visual_changes_audio_tokens():
    decoder = build_pixel_decoder(_tiny_cfg(), INPUT_SHAPE, AUDIO_DIM).eval()
    features, audio = _inputs(seed=1)
    other_features, other_audio = _inputs(seed=2)
    with torch.no_grad():
        mask_a, multi_a, tokens_a = decoder.forward_features(features, audio)
        mask_b, multi_b, tokens_b = decoder.forward_features(features, other_audio)
        _, _, tokens_c = decoder.forward_features(other_features, audio)
    assert not torch.allclose(mask_a, mask_b, atol=1e-4)
    assert all(not torch.allclose(a, b, atol=1e-4) for a, b in zip(multi_a, multi_b))
    assert not torch.allclose(tokens_a, tokens_c, atol=1e-4)


def test_without_fusion_audio_tokens_ignore_vision_and_vision_ignores_audio():
    decoder = build_pixel_decoder(_tiny_cfg(fusion=False), INPUT_SHAPE, AUDIO_DIM).eval()
    assert decoder.av_fusion is None
    features, audio = _inputs(seed=1)
    other_features, other_audio = _inputs(seed=2)
    with torch.no_grad():
        mask_a, _, tokens_a = decoder.forward_features(features, audio)
        mask_b, _, _ = decoder.forward_features(features, other_audio)
        _, _, tokens_c = decoder.forward_features(other_features, audio)
    assert torch.equal(mask_a, mask_b)
    assert torch.equal(tokens_a, tokens_c)


def test_frames_are_decoded_independently():
    decoder = build_pixel_decoder(_tiny_cfg(), INPUT_SHAPE, AUDIO_DIM).eval()
    features, audio = _inputs(batch=3)
    with torch.no_grad():
        batched = decoder.forward_features(features, audio)
        single = decoder.forward_features({k: v[1:2] for k, v in features.items()}, audio[1:2])
    assert torch.allclose(batched[0][1:2], single[0], atol=1e-5)
    assert torch.allclose(batched[2][1:2], single[2], atol=1e-5)


def test_runs_in_float32_under_autocast():
    decoder = build_pixel_decoder(_tiny_cfg(encoder_layers=1), INPUT_SHAPE, AUDIO_DIM)
    features, audio = _inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mask_features, multi_scale, audio_tokens = decoder.forward_features(
            {k: v.bfloat16() for k, v in features.items()}, audio.bfloat16()
        )
    assert mask_features.dtype == torch.float32
    assert all(f.dtype == torch.float32 for f in multi_scale)
    assert audio_tokens.dtype == torch.float32


def test_bad_inputs_are_rejected():
    decoder = build_pixel_decoder(_tiny_cfg(encoder_layers=1), INPUT_SHAPE, AUDIO_DIM)
    features, audio = _inputs()
    with pytest.raises(ValueError, match="audio_embeddings"):
        decoder.forward_features(features, audio[:1])
    with pytest.raises(KeyError, match="res2"):
        decoder.forward_features({k: v for k, v in features.items() if k != "res2"}, audio)
    cfg = _tiny_cfg()
    cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM = 40
    with pytest.raises(ValueError, match="CONVS_DIM"):
        build_pixel_decoder(cfg, INPUT_SHAPE, AUDIO_DIM)
    cfg = _tiny_cfg()
    cfg.MODEL.SEM_SEG_HEAD.IN_FEATURES = ["res2", "res3", "res4", "res5", "res6"]
    with pytest.raises(ValueError, match="res6"):
        build_pixel_decoder(cfg, INPUT_SHAPE, AUDIO_DIM)


def test_bi_attention_shares_one_attention_matrix():
    torch.manual_seed(0)
    block = AudioVisualBiAttention(visual_dim=8, audio_dim=8, embed_dim=8, num_heads=1, dropout=0.0)
    visual = torch.randn(1, 5, 8)
    audio = torch.randn(1, 2, 8)
    fused_visual, fused_audio = block(visual, audio)
    with torch.no_grad():
        v = block.visual_norm(visual)
        a = block.audio_norm(audio)
        logits = block.visual_query_proj(v) @ block.audio_key_proj(a).transpose(1, 2) / math.sqrt(8)
        expected_visual = v + block.visual_gamma * block.visual_out_proj(
            logits.softmax(-1) @ block.audio_value_proj(a)
        )
        expected_audio = a + block.audio_gamma * block.audio_out_proj(
            logits.transpose(1, 2).softmax(-1) @ block.visual_value_proj(v)
        )
    assert torch.allclose(fused_visual, expected_visual, atol=1e-6)
    assert torch.allclose(fused_audio, expected_audio, atol=1e-6)


def test_sine_position_embedding():
    embedding = PositionEmbeddingSine(num_pos_feats=8)(torch.zeros(2, 3, 4, 5))
    assert embedding.shape == (2, 16, 4, 5)
    # Rows vary along H only (first half), columns along W only (second half).
    assert torch.equal(embedding[:, :8, :, 0:1].expand(-1, -1, -1, 5), embedding[:, :8])
    assert torch.equal(embedding[:, 8:, 0:1, :].expand(-1, -1, 4, -1), embedding[:, 8:])
    assert embedding.abs().max() <= 1.0
