"""The AVISM release's checkpoint layout: every parameter name and shape of its ``AVISM`` state
dict, written from its module structure (detectron2 ResNet or Mask2Former's D2SwinTransformer,
Mask2Former's pixel decoder, ``AVISMMultiScaleMaskedTransformerDecoder`` as
``sem_seg_head.predictor``, ``Avism`` as ``avism_module`` or, in the COCO-initialised family,
``Avism_COCO`` as ``vita_module``, the criteria's class weights), for any config's sizes."""
from __future__ import annotations

import torch

from helpers import original_release_layout

VGGISH_EMBEDDING = 128

layout = original_release_layout()
_linear, _norm, _attention = layout._linear, layout._norm, layout._attention


def _attention_layer(prefix: str, dim: int, attribute: str) -> dict[str, tuple]:
    """SelfAttentionLayer (``self_attn``) / CrossAttentionLayer (``multihead_attn``) + ``norm``."""
    return {**_attention(f"{prefix}.{attribute}", dim), **_norm(f"{prefix}.norm", dim, False)}


def _ffn_layer(prefix: str, dim: int, hidden: int) -> dict[str, tuple]:
    return {**_linear(f"{prefix}.linear1", hidden, dim), **_linear(f"{prefix}.linear2", dim, hidden), **_norm(f"{prefix}.norm", dim, False)}


def _mask_mlp(prefix: str, dim: int, mask_dim: int) -> dict[str, tuple]:
    return {**_linear(f"{prefix}.layers.0", dim, dim), **_linear(f"{prefix}.layers.1", dim, dim), **_linear(f"{prefix}.layers.2", mask_dim, dim)}


def reference_predictor(cfg) -> dict[str, tuple]:
    """``AVISMMultiScaleMaskedTransformerDecoder`` under ``sem_seg_head.predictor`` (reference
    ``avism/modeling/transformer_decoder/avism_transformer_decoder.py``; input_proj is empty
    because the feature width equals the hidden width)."""
    mf, prefix = cfg.MODEL.MASK_FORMER, "sem_seg_head.predictor"
    d, queries, rounds = mf.HIDDEN_DIM, mf.NUM_OBJECT_QUERIES, mf.DEC_LAYERS - 1
    shapes = {**_linear(f"{prefix}.av_pre_proj", d, VGGISH_EMBEDDING), **_linear(f"{prefix}.av_post_proj", d, 3 * d)}
    for level in range(3):
        shapes.update(_attention_layer(f"{prefix}.av_sf.{level}", d, "multihead_attn"))
    for layer in range(rounds):
        shapes.update(_attention_layer(f"{prefix}.transformer_self_attention_layers.{layer}", d, "self_attn"))
        shapes.update(_attention_layer(f"{prefix}.transformer_cross_attention_layers.{layer}", d, "multihead_attn"))
        shapes.update(_ffn_layer(f"{prefix}.transformer_ffn_layers.{layer}", d, mf.DIM_FEEDFORWARD))
    shapes.update(_norm(f"{prefix}.decoder_norm", d, False))
    shapes[f"{prefix}.query_feat.weight"] = (queries, d)
    shapes[f"{prefix}.query_embed.weight"] = (queries, d)
    shapes[f"{prefix}.level_embed.weight"] = (3, d)
    shapes.update(_linear(f"{prefix}.class_embed", cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES + 1, d))
    shapes.update(_mask_mlp(f"{prefix}.mask_embed", d, cfg.MODEL.SEM_SEG_HEAD.MASK_DIM))
    return shapes


def reference_video_module(cfg, coco: bool) -> dict[str, tuple]:
    """``Avism`` (``avism_module``) or ``Avism_COCO`` (``vita_module``, ``vita_mask_features``),
    reference ``avism/modeling/transformer_decoder/avism{,_coco}.py``, with SIM_WEIGHT > 0."""
    av, head = cfg.MODEL.AVISM, cfg.MODEL.SEM_SEG_HEAD
    prefix = "vita_module" if coco else "avism_module"
    d = av.HIDDEN_DIM
    shapes = _linear(f"{prefix}.av_proj", d, VGGISH_EMBEDDING)
    for layer in range(av.ENC_LAYERS):
        shapes.update(_attention_layer(f"{prefix}.enc_self_attn.{layer}", d, "self_attn"))
        shapes.update(_ffn_layer(f"{prefix}.enc_ffn.{layer}", d, av.DIM_FEEDFORWARD))
        shapes.update(_attention_layer(f"{prefix}.enc_av_cross_attn.{layer}", d, "multihead_attn"))
        shapes.update(_ffn_layer(f"{prefix}.enc_av_ffn.{layer}", d, av.DIM_FEEDFORWARD))
    for layer in range(av.DEC_LAYERS):
        shapes.update(_attention_layer(f"{prefix}.transformer_self_attention_layers.{layer}", d, "self_attn"))
        shapes.update(_attention_layer(f"{prefix}.transformer_cross_attention_layers.{layer}", d, "multihead_attn"))
        shapes.update(_ffn_layer(f"{prefix}.transformer_ffn_layers.{layer}", d, av.DIM_FEEDFORWARD))
    mask_features = f"{prefix}.{'vita' if coco else 'avism'}_mask_features"
    shapes[f"{mask_features}.weight"] = (head.MASK_DIM, head.CONVS_DIM, 1, 1)
    shapes[f"{mask_features}.bias"] = (head.MASK_DIM,)
    shapes.update(_norm(f"{prefix}.decoder_norm", d, False))
    shapes[f"{prefix}.query_feat.weight"] = (av.NUM_OBJECT_QUERIES, d)
    shapes[f"{prefix}.query_embed.weight"] = (av.NUM_OBJECT_QUERIES, d)
    shapes[f"{prefix}.fq_pos.weight"] = (cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES, d)
    shapes.update(_linear(f"{prefix}.input_proj_dec", d, d))
    shapes.update(_linear(f"{prefix}.class_embed", head.NUM_CLASSES + 1, d))
    shapes.update(_mask_mlp(f"{prefix}.mask_embed", d, head.MASK_DIM))
    shapes.update(_linear(f"{prefix}.sim_embed_frame", d, d))
    shapes.update(_linear(f"{prefix}.sim_embed_clip", d, d))
    return shapes


def reference_shapes(cfg, coco: bool) -> dict[str, tuple]:
    """Every name and shape of the release's state dict for the model of ``cfg`` (ResNet or Swin
    backbone); ``coco``: the COCO-initialised family's names."""
    if cfg.MODEL.BACKBONE.NAME == "D2SwinTransformer":
        swin = cfg.MODEL.SWIN
        in_channels = {f"res{stage + 2}": swin.EMBED_DIM * 2 ** stage for stage in range(4)}
        shapes = layout.d2_swin(cfg)
    else:
        resnet = cfg.MODEL.RESNETS
        res2 = resnet.RES2_OUT_CHANNELS
        in_channels = {f"res{stage + 2}": res2 * 2 ** stage for stage in range(4)}
        make = layout.detectron2_basic_resnet if resnet.DEPTH in (18, 34) else layout.detectron2_bottleneck_resnet
        shapes = make(resnet.DEPTH, resnet.STEM_OUT_CHANNELS, res2)
    # Mask2Former's MSDeformAttnPixelDecoder: the OV-AVSS layout without its fusion block.
    shapes.update({k: v for k, v in layout.pixel_decoder(cfg, in_channels).items() if ".vl_layer." not in k})
    shapes.update(reference_predictor(cfg))
    shapes.update(reference_video_module(cfg, coco))
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES + 1
    shapes["criterion.empty_weight"] = (num_classes,)
    shapes[f"{'vita' if coco else 'avism'}_criterion.empty_weight"] = (num_classes,)
    return shapes


def reference_state_dict(cfg, coco: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with every name and shape of the release's model."""
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator) for key, shape in reference_shapes(cfg, coco).items()}
