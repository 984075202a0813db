"""AudioVideoMaskedTransformerDecoder: shapes, registration, audio conditioning, gradients."""
from __future__ import annotations

import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.modeling.transformer_decoder import (
    TRANSFORMER_DECODER_REGISTRY,
    AudioVideoMaskedTransformerDecoder,
    build_transformer_decoder,
)
from ov_avss.modeling.transformer_decoder.position_encoding import PositionEmbeddingSine3D

BATCH, FRAMES, IN_CHANNELS = 2, 3, 48
# Width of the per-frame audio tokens (VGGish's).
AUDIO_DIM = 128


def _cfg(dec_layers: int = 4):
    cfg = get_cfg()
    cfg.MODEL.MASK_FORMER.HIDDEN_DIM = 32
    cfg.MODEL.MASK_FORMER.NHEADS = 4
    cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES = 6
    cfg.MODEL.MASK_FORMER.DIM_FEEDFORWARD = 64
    cfg.MODEL.MASK_FORMER.DEC_LAYERS = dec_layers
    cfg.MODEL.SEM_SEG_HEAD.MASK_DIM = 16
    return cfg


def _inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    sizes = [(2, 3), (4, 6), (8, 12)]  # coarse to fine
    multi_scale = [torch.randn(BATCH * FRAMES, IN_CHANNELS, h, w, generator=generator) for h, w in sizes]
    mask_features = torch.randn(BATCH * FRAMES, 16, 16, 24, generator=generator)
    audio_tokens = torch.randn(BATCH * FRAMES, AUDIO_DIM, generator=generator)
    return multi_scale, mask_features, audio_tokens


def test_registered_under_both_names():
    assert TRANSFORMER_DECODER_REGISTRY.get("AudioVideoMaskedTransformerDecoder") is AudioVideoMaskedTransformerDecoder
    assert TRANSFORMER_DECODER_REGISTRY.get("AudioVideoMultiScaleMaskedTransformerDecoder") is AudioVideoMaskedTransformerDecoder


def test_output_shapes_and_deep_supervision():
    torch.manual_seed(0)
    decoder = build_transformer_decoder(_cfg(dec_layers=4), IN_CHANNELS, AUDIO_DIM)
    outputs = decoder(*_inputs(), num_frames=FRAMES)
    assert outputs["pred_logits"].shape == (BATCH, 6, 2)
    assert outputs["pred_masks"].shape == (BATCH, 6, FRAMES, 16, 24)
    assert outputs["query_embeddings"].shape == (BATCH, 6, 32)
    assert len(outputs["aux_outputs"]) == 3
    for aux in outputs["aux_outputs"]:
        assert aux["pred_logits"].shape == (BATCH, 6, 2)
        assert aux["pred_masks"].shape == (BATCH, 6, FRAMES, 16, 24)


def test_audio_changes_the_prediction_and_batch_items_are_independent():
    torch.manual_seed(0)
    decoder = build_transformer_decoder(_cfg(), IN_CHANNELS, AUDIO_DIM).eval()
    multi_scale, mask_features, audio_tokens = _inputs()
    with torch.no_grad():
        reference = decoder(multi_scale, mask_features, audio_tokens, FRAMES)
        changed_audio = audio_tokens.clone()
        changed_audio[:FRAMES] += 3.0  # first window only
        changed = decoder(multi_scale, mask_features, changed_audio, FRAMES)
    assert not torch.allclose(changed["pred_logits"][0], reference["pred_logits"][0])
    torch.testing.assert_close(changed["pred_logits"][1], reference["pred_logits"][1])
    torch.testing.assert_close(changed["pred_masks"][1], reference["pred_masks"][1])


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    decoder = build_transformer_decoder(_cfg(), IN_CHANNELS, AUDIO_DIM)
    outputs = decoder(*_inputs(), num_frames=FRAMES)
    loss = outputs["pred_logits"].sum() + outputs["pred_masks"].sum() + outputs["query_embeddings"].sum()
    loss = loss + sum(aux["pred_logits"].sum() + aux["pred_masks"].sum() for aux in outputs["aux_outputs"])
    loss.backward()
    assert [name for name, p in decoder.named_parameters() if p.grad is None] == []


def test_too_many_frames_is_an_error():
    cfg = _cfg()
    cfg.MODEL.MASK_FORMER.MAX_NUM_FRAMES = 2
    decoder = build_transformer_decoder(cfg, IN_CHANNELS, AUDIO_DIM)
    with pytest.raises(ValueError, match="MAX_NUM_FRAMES"):
        decoder(*_inputs(), num_frames=FRAMES)


def test_position_encoding_shape_and_frame_dependence():
    encoding = PositionEmbeddingSine3D(8)(torch.zeros(2, 3, 5, 4, 6))
    assert encoding.shape == (2, 3, 16, 4, 6)
    assert not torch.allclose(encoding[:, 0], encoding[:, 1])
    assert not torch.allclose(encoding[..., 0, :], encoding[..., 1, :])
