"""The parameter names and shapes of the original OV-AVSS release's model, written out from its
public module structure (``ov_avss/ov_avss.py`` and the modules it builds) for given sizes.

Independent of ``ov_avss.checkpoint.name_map``: these are the names the release's
``state_dict()`` holds, not an inversion of our rules.
"""
from __future__ import annotations

import json
import os

import torch

from ov_avss.config import CfgNode

VGGISH_EMBEDDING = 128
# The release hard-codes 1024 for the deformable encoder's FFN and passes the same width to
# VLFuse as its attention dim; the audio side of VLFuse is VGGish's 128-d embedding.
ENCODER_FFN = 1024
_VGGISH_CONVS = [(1, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
_VGGISH_CONV_INDICES = [0, 3, 6, 8, 11, 13]


def _norm(prefix: str, channels: int, with_stats: bool) -> dict[str, tuple]:
    names = ["weight", "bias"] + (["running_mean", "running_var"] if with_stats else [])
    return {f"{prefix}.{name}": (channels,) for name in names}


def _linear(prefix: str, out_dim: int, in_dim: int) -> dict[str, tuple]:
    return {f"{prefix}.weight": (out_dim, in_dim), f"{prefix}.bias": (out_dim,)}


def _attention(prefix: str, dim: int) -> dict[str, tuple]:
    return {
        f"{prefix}.in_proj_weight": (3 * dim, dim),
        f"{prefix}.in_proj_bias": (3 * dim,),
        **_linear(f"{prefix}.out_proj", dim, dim),
    }


def detectron2_basic_resnet(depth: int, stem_channels: int, res2_channels: int) -> dict[str, tuple]:
    """detectron2 ResNet-18/34 (BasicBlock) with FrozenBN: ``backbone.stem.conv1[.norm]``,
    ``backbone.resN.M.convK[.norm]``, ``backbone.resN.M.shortcut[.norm]``."""
    blocks = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}[depth]
    shapes = {"backbone.stem.conv1.weight": (stem_channels, 3, 7, 7)}
    shapes.update(_norm("backbone.stem.conv1.norm", stem_channels, True))
    in_channels = stem_channels
    for stage, num_blocks in enumerate(blocks):
        out_channels = res2_channels * 2 ** stage
        for block in range(num_blocks):
            prefix = f"backbone.res{stage + 2}.{block}"
            block_in = in_channels if block == 0 else out_channels
            shapes[f"{prefix}.conv1.weight"] = (out_channels, block_in, 3, 3)
            shapes.update(_norm(f"{prefix}.conv1.norm", out_channels, True))
            shapes[f"{prefix}.conv2.weight"] = (out_channels, out_channels, 3, 3)
            shapes.update(_norm(f"{prefix}.conv2.norm", out_channels, True))
            if block == 0 and block_in != out_channels:
                shapes[f"{prefix}.shortcut.weight"] = (out_channels, block_in, 1, 1)
                shapes.update(_norm(f"{prefix}.shortcut.norm", out_channels, True))
        in_channels = out_channels
    return shapes


def detectron2_bottleneck_resnet(depth: int, stem_channels: int, res2_channels: int) -> dict[str, tuple]:
    """detectron2 ResNet-50/101 (BottleneckBlock, conv1/conv2/conv3 with FrozenBN norms, a
    shortcut in each stage's first block); bottleneck width = res2_channels / 4 * 2^stage."""
    blocks = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}[depth]
    shapes = {"backbone.stem.conv1.weight": (stem_channels, 3, 7, 7)}
    shapes.update(_norm("backbone.stem.conv1.norm", stem_channels, True))
    in_channels = stem_channels
    for stage, num_blocks in enumerate(blocks):
        out_channels = res2_channels * 2 ** stage
        width = out_channels // 4
        for block in range(num_blocks):
            prefix = f"backbone.res{stage + 2}.{block}"
            block_in = in_channels if block == 0 else out_channels
            for conv, (out_dim, in_dim, kernel) in enumerate(
                ((width, block_in, 1), (width, width, 3), (out_channels, width, 1)), start=1
            ):
                shapes[f"{prefix}.conv{conv}.weight"] = (out_dim, in_dim, kernel, kernel)
                shapes.update(_norm(f"{prefix}.conv{conv}.norm", out_dim, True))
            if block == 0:
                shapes[f"{prefix}.shortcut.weight"] = (out_channels, block_in, 1, 1)
                shapes.update(_norm(f"{prefix}.shortcut.norm", out_channels, True))
        in_channels = out_channels
    return shapes


def d2_swin(cfg: CfgNode) -> dict[str, tuple]:
    """Mask2Former's ``D2SwinTransformer`` (no absolute position embedding, patch norm on):
    ``backbone.patch_embed``, ``backbone.layers.N.blocks.M``, ``backbone.layers.N.downsample``,
    ``backbone.norm{i}``."""
    swin = cfg.MODEL.SWIN
    embed, window, patch = swin.EMBED_DIM, swin.WINDOW_SIZE, swin.PATCH_SIZE
    shapes = {"backbone.patch_embed.proj.weight": (embed, 3, patch, patch), "backbone.patch_embed.proj.bias": (embed,)}
    shapes.update(_norm("backbone.patch_embed.norm", embed, False))
    for stage, (depth, heads) in enumerate(zip(swin.DEPTHS, swin.NUM_HEADS)):
        dim = embed * 2 ** stage
        for block in range(depth):
            prefix = f"backbone.layers.{stage}.blocks.{block}"
            shapes.update(_norm(f"{prefix}.norm1", dim, False))
            shapes[f"{prefix}.attn.relative_position_bias_table"] = ((2 * window - 1) ** 2, heads)
            shapes[f"{prefix}.attn.relative_position_index"] = (window * window, window * window)
            shapes.update(_linear(f"{prefix}.attn.qkv", 3 * dim, dim))
            shapes.update(_linear(f"{prefix}.attn.proj", dim, dim))
            shapes.update(_norm(f"{prefix}.norm2", dim, False))
            shapes.update(_linear(f"{prefix}.mlp.fc1", int(swin.MLP_RATIO * dim), dim))
            shapes.update(_linear(f"{prefix}.mlp.fc2", dim, int(swin.MLP_RATIO * dim)))
        if stage < len(swin.DEPTHS) - 1:
            shapes[f"backbone.layers.{stage}.downsample.reduction.weight"] = (2 * dim, 4 * dim)
            shapes.update(_norm(f"backbone.layers.{stage}.downsample.norm", 4 * dim, False))
        shapes.update(_norm(f"backbone.norm{stage}", dim, False))
    return shapes


def pixel_decoder(cfg: CfgNode, in_channels: dict[str, int]) -> dict[str, tuple]:
    """``MSDeformAttnPixelDecoderAVBi`` under ``sem_seg_head.pixel_decoder``."""
    head = cfg.MODEL.SEM_SEG_HEAD
    dim, ffn = head.CONVS_DIM, ENCODER_FFN
    heads, points = cfg.MODEL.MASK_FORMER.NHEADS, head.DEFORMABLE_TRANSFORMER_ENCODER_N_POINTS
    levels = head.DEFORMABLE_TRANSFORMER_ENCODER_IN_FEATURES
    prefix = "sem_seg_head.pixel_decoder"
    shapes = {}
    for index, feature in enumerate(reversed(levels)):  # res5 first
        shapes.update(_linear(f"{prefix}.input_proj.{index}.0", dim, in_channels[feature]))
        shapes[f"{prefix}.input_proj.{index}.0.weight"] = (dim, in_channels[feature], 1, 1)
        shapes.update(_norm(f"{prefix}.input_proj.{index}.1", dim, False))
    encoder = f"{prefix}.transformer"
    shapes[f"{encoder}.level_embed"] = (len(levels), dim)
    fusion = f"{encoder}.encoder.vl_layer.b_attn"
    shapes.update(_norm(f"{fusion}.layer_norm_v", dim, False))
    shapes.update(_norm(f"{fusion}.layer_norm_l", VGGISH_EMBEDDING, False))
    shapes.update(_linear(f"{fusion}.attn.v_proj", ffn, dim))
    shapes.update(_linear(f"{fusion}.attn.l_proj", ffn, VGGISH_EMBEDDING))
    shapes.update(_linear(f"{fusion}.attn.values_v_proj", ffn, dim))
    shapes.update(_linear(f"{fusion}.attn.values_l_proj", ffn, VGGISH_EMBEDDING))
    shapes.update(_linear(f"{fusion}.attn.out_v_proj", dim, ffn))
    shapes.update(_linear(f"{fusion}.attn.out_l_proj", VGGISH_EMBEDDING, ffn))
    shapes[f"{fusion}.gamma_v"] = (dim,)
    shapes[f"{fusion}.gamma_l"] = (VGGISH_EMBEDDING,)
    for layer in range(head.TRANSFORMER_ENC_LAYERS):
        layer_prefix = f"{encoder}.encoder.layers.{layer}"
        shapes.update(_linear(f"{layer_prefix}.self_attn.sampling_offsets", heads * len(levels) * points * 2, dim))
        shapes.update(_linear(f"{layer_prefix}.self_attn.attention_weights", heads * len(levels) * points, dim))
        shapes.update(_linear(f"{layer_prefix}.self_attn.value_proj", dim, dim))
        shapes.update(_linear(f"{layer_prefix}.self_attn.output_proj", dim, dim))
        shapes.update(_norm(f"{layer_prefix}.norm1", dim, False))
        shapes.update(_linear(f"{layer_prefix}.linear1", ffn, dim))
        shapes.update(_linear(f"{layer_prefix}.linear2", dim, ffn))
        shapes.update(_norm(f"{layer_prefix}.norm2", dim, False))
    shapes.update(_linear(f"{prefix}.mask_features", head.MASK_DIM, dim))
    shapes[f"{prefix}.mask_features.weight"] = (head.MASK_DIM, dim, 1, 1)
    # One FPN level (res2, stride 4) below the deformable levels; GN convs have no bias.
    shapes[f"{prefix}.adapter_1.weight"] = (dim, in_channels["res2"], 1, 1)
    shapes.update(_norm(f"{prefix}.adapter_1.norm", dim, False))
    shapes[f"{prefix}.layer_1.weight"] = (dim, dim, 3, 3)
    shapes.update(_norm(f"{prefix}.layer_1.norm", dim, False))
    return shapes


def transformer_decoder(cfg: CfgNode) -> dict[str, tuple]:
    """``AudioVideoMultiScaleMaskedTransformerDecoder`` under ``sem_seg_head.predictor``."""
    mf = cfg.MODEL.MASK_FORMER
    dim, prefix = mf.HIDDEN_DIM, "sem_seg_head.predictor"
    shapes = {}
    for layer in range(mf.DEC_LAYERS - 1):
        for stack, attention in (("self_attention", "self_attn"), ("cross_attention", "multihead_attn"),
                                 ("audio_cross_attention", "multihead_attn")):
            shapes.update(_attention(f"{prefix}.transformer_{stack}_layers.{layer}.{attention}", dim))
            shapes.update(_norm(f"{prefix}.transformer_{stack}_layers.{layer}.norm", dim, False))
        shapes.update(_linear(f"{prefix}.transformer_ffn_layers.{layer}.linear1", mf.DIM_FEEDFORWARD, dim))
        shapes.update(_linear(f"{prefix}.transformer_ffn_layers.{layer}.linear2", dim, mf.DIM_FEEDFORWARD))
        shapes.update(_norm(f"{prefix}.transformer_ffn_layers.{layer}.norm", dim, False))
    shapes.update(_norm(f"{prefix}.decoder_norm", dim, False))
    shapes[f"{prefix}.query_feat.weight"] = (mf.NUM_OBJECT_QUERIES, dim)
    shapes[f"{prefix}.query_embed.weight"] = (mf.NUM_OBJECT_QUERIES, dim)
    shapes[f"{prefix}.audio_query_embed.weight"] = (5, dim)  # hard-coded 5 frames in the release
    shapes[f"{prefix}.level_embed.weight"] = (3, dim)
    shapes.update(_linear(f"{prefix}.class_embed", cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES + 1, dim))
    for layer in range(3):
        shapes.update(_linear(f"{prefix}.mask_embed.layers.{layer}", cfg.MODEL.SEM_SEG_HEAD.MASK_DIM if layer == 2 else dim, dim))
    shapes.update(_linear(f"{prefix}.audio_proj.layers.0", dim, VGGISH_EMBEDDING))
    shapes.update(_linear(f"{prefix}.audio_proj.layers.1", dim, dim))
    shapes.update(_attention(f"{prefix}.v2a.multihead_attn", dim))
    shapes.update(_norm(f"{prefix}.v2a.norm", dim, False))
    shapes.update(_attention(f"{prefix}.a2a.self_attn", dim))
    shapes.update(_norm(f"{prefix}.a2a.norm", dim, False))
    return shapes


def vggish() -> dict[str, tuple]:
    """VGGish as ``audio_encoder.audio_backbone`` (features.N / embeddings.N)."""
    shapes = {}
    for index, (in_channels, out_channels) in zip(_VGGISH_CONV_INDICES, _VGGISH_CONVS):
        shapes[f"audio_encoder.audio_backbone.features.{index}.weight"] = (out_channels, in_channels, 3, 3)
        shapes[f"audio_encoder.audio_backbone.features.{index}.bias"] = (out_channels,)
    for index, (out_dim, in_dim) in zip((0, 2, 4), ((4096, 512 * 4 * 6), (4096, 4096), (VGGISH_EMBEDDING, 4096))):
        shapes.update(_linear(f"audio_encoder.audio_backbone.embeddings.{index}", out_dim, in_dim))
    return shapes


def openai_clip(config_path: str, mask_prompt_depth: int = 3) -> dict[str, tuple]:
    """OpenAI ``clip.model.CLIP`` (ViT image tower) as ``clip_adapter.clip_model``, sized by an
    open_clip model config JSON, plus the adapter's pixel_mean / pixel_std buffers and the
    mask-prompt embedding the release's CLIP build carries (unused by ``ClipAdapter``)."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    vision, text, embed_dim = config["vision_cfg"], config["text_cfg"], config["embed_dim"]
    prefix = "clip_adapter.clip_model"
    width, patch = vision["width"], vision["patch_size"]
    grid = vision["image_size"] // patch
    shapes = {
        f"{prefix}.positional_embedding": (text["context_length"], text["width"]),
        f"{prefix}.text_projection": (text["width"], embed_dim),
        f"{prefix}.logit_scale": (),
        f"{prefix}.visual.class_embedding": (width,),
        f"{prefix}.visual.positional_embedding": (grid * grid + 1, width),
        f"{prefix}.visual.proj": (width, embed_dim),
        f"{prefix}.visual.conv1.weight": (width, 3, patch, patch),
        f"{prefix}.token_embedding.weight": (text["vocab_size"], text["width"]),
        f"{prefix}.visual.mask_embedding": (mask_prompt_depth, grid * grid, width),
        "clip_adapter.pixel_mean": (1, 3, 1, 1),
        "clip_adapter.pixel_std": (1, 3, 1, 1),
    }
    shapes.update(_norm(f"{prefix}.visual.ln_pre", width, False))
    shapes.update(_norm(f"{prefix}.visual.ln_post", width, False))
    shapes.update(_norm(f"{prefix}.ln_final", text["width"], False))
    for tower, tower_width, layers in (("visual.transformer", width, vision["layers"]),
                                       ("transformer", text["width"], text["layers"])):
        for block in range(layers):
            block_prefix = f"{prefix}.{tower}.resblocks.{block}"
            shapes.update(_attention(f"{block_prefix}.attn", tower_width))
            shapes.update(_norm(f"{block_prefix}.ln_1", tower_width, False))
            shapes.update(_norm(f"{block_prefix}.ln_2", tower_width, False))
            shapes.update(_linear(f"{block_prefix}.mlp.c_fc", 4 * tower_width, tower_width))
            shapes.update(_linear(f"{block_prefix}.mlp.c_proj", tower_width, 4 * tower_width))
    return shapes


def original_shapes(cfg: CfgNode, clip_config_path: str) -> dict[str, tuple]:
    """Every name and shape of the release's ``OV_AVSS`` state dict (ResNet or Swin backbone)."""
    shapes = {}
    if cfg.MODEL.BACKBONE.NAME == "D2SwinTransformer":
        shapes.update(d2_swin(cfg))
        in_channels = {f"res{stage + 2}": cfg.MODEL.SWIN.EMBED_DIM * 2 ** stage for stage in range(4)}
    else:
        resnet = cfg.MODEL.RESNETS
        res2 = resnet.RES2_OUT_CHANNELS
        in_channels = {f"res{stage + 2}": res2 * 2 ** stage for stage in range(4)}
        build = detectron2_basic_resnet if resnet.DEPTH in (18, 34) else detectron2_bottleneck_resnet
        shapes.update(build(resnet.DEPTH, resnet.STEM_OUT_CHANNELS, res2))
    shapes.update(pixel_decoder(cfg, in_channels))
    shapes.update(transformer_decoder(cfg))
    shapes["criterion.empty_weight"] = (cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES + 1,)
    shapes.update(vggish())
    shapes.update(openai_clip(clip_config_path))
    return shapes


def original_state_dict(cfg: CfgNode, clip_config_path: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with every name and shape of the release's ``OV_AVSS`` model."""
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator) for key, shape in original_shapes(cfg, clip_config_path).items()}


def open_clip_config_path(arch: str) -> str:
    """The open_clip model config JSON of ``arch`` (e.g. ``ViT-B-16``, ``ViT-L-14-336``)."""
    import open_clip

    return os.path.join(os.path.dirname(open_clip.__file__), "model_configs", f"{arch}.json")


def tiny_clip_config_path() -> str:
    import ov_avss.modeling.classifier as classifier

    return os.path.join(os.path.dirname(classifier.__file__), "model_configs", "ov-avss-tiny-clip.json")
