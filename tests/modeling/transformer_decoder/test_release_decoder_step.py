"""The decoder, with weights from a release-layout state dict, equals a plain-torch
re-computation of the release's ``AudioVideoMultiScaleMaskedTransformerDecoder.forward`` for one
layer: the queries' first audio attention (``v2a``) reads the projected audio tokens *before*
their self-attention (``a2a``); the layers read the self-attended tokens."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from helpers import original_release_layout
from ov_avss.checkpoint.name_map import convert_external_names
from ov_avss.config import get_cfg
from ov_avss.audio import vggish_params
from ov_avss.modeling.transformer_decoder import build_transformer_decoder
from ov_avss.modeling.transformer_decoder.position_encoding import PositionEmbeddingSine3D

FRAMES, CHANNELS, HEADS = 5, 32, 4


def _cfg():
    cfg = get_cfg()
    mf = cfg.MODEL.MASK_FORMER
    mf.HIDDEN_DIM, mf.NHEADS, mf.NUM_OBJECT_QUERIES, mf.DIM_FEEDFORWARD = CHANNELS, HEADS, 6, 48
    mf.DEC_LAYERS, mf.MAX_NUM_FRAMES = 2, 5  # one layer after the learned queries' prediction
    cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM = CHANNELS
    cfg.MODEL.SEM_SEG_HEAD.MASK_DIM = 16
    return cfg


def _release_weights(cfg) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    shapes = original_release_layout().transformer_decoder(cfg)
    return {key: torch.randn(shape, generator=generator) * 0.3 for key, shape in shapes.items()}


# ---------------------------------------------------------------- plain-torch re-computation
def _linear(w, prefix, x):
    return x @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]


def _layer_norm(w, prefix, x):
    return F.layer_norm(x, x.shape[-1:], w[f"{prefix}.weight"], w[f"{prefix}.bias"], eps=1e-5)


def _attention(w, prefix, query, key, value, mask=None):
    """nn.MultiheadAttention from its in_proj / out_proj; [L, B, C] layout; mask [B*h, Lq, Lk]."""
    dim = query.shape[-1]
    wq, wk, wv = w[f"{prefix}.in_proj_weight"].chunk(3)
    bq, bk, bv = w[f"{prefix}.in_proj_bias"].chunk(3)
    head_dim = dim // HEADS

    def heads(x, weight, bias):  # [L, B, C] -> [B*h, L, d]
        length, batch = x.shape[:2]
        return (x @ weight.T + bias).reshape(length, batch * HEADS, head_dim).transpose(0, 1)

    q, k, v = heads(query, wq, bq), heads(key, wk, bk), heads(value, wv, bv)
    scores = q @ k.transpose(1, 2) / math.sqrt(head_dim)
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    out = (scores.softmax(dim=-1) @ v).transpose(0, 1).reshape(query.shape[0], query.shape[1], dim)
    return _linear(w, f"{prefix}.out_proj", out)


def _cross(w, prefix, tgt, memory, pos, query_pos, mask=None):  # post-norm CrossAttentionLayer
    return _layer_norm(w, f"{prefix}.norm", tgt + _attention(w, f"{prefix}.multihead_attn", tgt + query_pos, memory + pos, memory, mask))


def _self(w, prefix, tgt, query_pos):  # post-norm SelfAttentionLayer
    q = tgt + query_pos
    return _layer_norm(w, f"{prefix}.norm", tgt + _attention(w, f"{prefix}.self_attn", q, q, tgt))


def _heads(w, p, output, mask_features, size):
    decoder_output = _layer_norm(w, f"{p}.decoder_norm", output).transpose(0, 1)
    classes = _linear(w, f"{p}.class_embed", decoder_output)
    embed = decoder_output
    for layer in range(3):
        embed = _linear(w, f"{p}.mask_embed.layers.{layer}", embed)
        embed = F.relu(embed) if layer < 2 else embed
    masks = torch.einsum("bqc,btchw->bqthw", embed, mask_features)
    b, q, t = masks.shape[:3]
    attn = F.interpolate(masks.flatten(0, 1), size=size, mode="bilinear", align_corners=False)
    attn = attn.view(b, q, t, *size).sigmoid().flatten(2).unsqueeze(1).repeat(1, HEADS, 1, 1).flatten(0, 1) < 0.5
    return classes, masks, attn


def release_forward(w, multi_scale, mask_features, audio_tokens):
    p = "sem_seg_head.predictor"
    bt = mask_features.shape[0]
    bs, t = 1, bt  # the release's eval batch of one window
    mask_features = mask_features.view(bs, t, *mask_features.shape[1:])
    pe = PositionEmbeddingSine3D(CHANNELS // 2)
    src, pos, sizes = [], [], []
    for level, x in enumerate(multi_scale):
        sizes.append(tuple(x.shape[-2:]))
        pos.append(pe(x.view(bs, t, -1, *sizes[-1])).flatten(3).view(bs, t, CHANNELS, -1).permute(1, 3, 0, 2).flatten(0, 1))
        projected = x.flatten(2) + w[f"{p}.level_embed.weight"][level][None, :, None]  # identity input_proj
        src.append(projected.view(bs, t, CHANNELS, -1).permute(1, 3, 0, 2).flatten(0, 1))
    query_pos = w[f"{p}.query_embed.weight"].unsqueeze(1)
    output = w[f"{p}.query_feat.weight"].unsqueeze(1)
    audio = _linear(w, f"{p}.audio_proj.layers.1", F.relu(_linear(w, f"{p}.audio_proj.layers.0", audio_tokens)))
    audio = audio.reshape(t, bs, CHANNELS)
    audio_pos = w[f"{p}.audio_query_embed.weight"].unsqueeze(1)
    output = _cross(w, f"{p}.v2a", output, audio, audio_pos, query_pos)
    predictions = [_heads(w, p, output, mask_features, sizes[0])]
    audio = _self(w, f"{p}.a2a", audio, audio_pos)
    attn_mask = predictions[0][2]
    attn_mask[torch.where(attn_mask.sum(-1) == attn_mask.shape[-1])] = False
    output = _cross(w, f"{p}.transformer_cross_attention_layers.0", output, src[0], pos[0], query_pos, attn_mask)
    output = _self(w, f"{p}.transformer_self_attention_layers.0", output, query_pos)
    output = _cross(w, f"{p}.transformer_audio_cross_attention_layers.0", output, audio, audio_pos, query_pos)
    ffn = f"{p}.transformer_ffn_layers.0"
    output = _layer_norm(w, f"{ffn}.norm", output + _linear(w, f"{ffn}.linear2", F.relu(_linear(w, f"{ffn}.linear1", output))))
    predictions.append(_heads(w, p, output, mask_features, sizes[1]))
    return predictions


def test_one_layer_equals_the_release_recomputation():
    cfg = _cfg()
    decoder = build_transformer_decoder(cfg, CHANNELS, vggish_params.EMBEDDING_SIZE).eval()
    weights = _release_weights(cfg)
    renamed, unmapped = convert_external_names(weights, [])
    assert unmapped == []
    prefix = "transformer_decoder."
    decoder.load_state_dict({k[len(prefix):]: v for k, v in renamed.items()}, strict=True)

    generator = torch.Generator().manual_seed(1)
    multi_scale = [torch.randn(FRAMES, CHANNELS, h, w, generator=generator) for h, w in ((2, 3), (4, 6), (8, 12))]
    mask_features = torch.randn(FRAMES, 16, 16, 24, generator=generator)
    audio_tokens = torch.randn(FRAMES, vggish_params.EMBEDDING_SIZE, generator=generator)
    with torch.no_grad():
        ours = decoder(multi_scale, mask_features, audio_tokens, FRAMES)
        theirs = release_forward(weights, multi_scale, mask_features, audio_tokens)
    ours_by_step = [ours["aux_outputs"][0], ours]
    for step, (mine, (classes, masks, _)) in enumerate(zip(ours_by_step, theirs)):
        torch.testing.assert_close(mine["pred_logits"], classes, rtol=1e-4, atol=1e-5, msg=f"pred_logits, step {step}")
        torch.testing.assert_close(mine["pred_masks"], masks, rtol=1e-4, atol=1e-4, msg=f"pred_masks, step {step}")
