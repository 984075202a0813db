"""A checkpoint with the AVISM release's parameter names and shapes (tiny sizes, both model
families) loads into our AVISM through the checkpointer (the MODEL.WEIGHTS path) with 0 missing
and 0 unexpected keys, every value landing where the reference's name says."""
from __future__ import annotations

import os

import pytest
import torch

from helpers import original_release_layout
from ov_avss.checkpoint import Checkpointer
from ov_avss.config import get_cfg
from ov_avss.modeling import build_model_without_pretrained_files

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_CONFIG = os.path.join(REPO_ROOT, "configs", "avis", "AVISM_tiny_synthetic.yaml")
# Mask2Former's pixel decoder has a 1024-wide deformable-encoder FFN (the release layout helper's).
OVERRIDES = ["MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD", 1024]
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


def reference_state_dict(cfg, coco: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    resnet = cfg.MODEL.RESNETS
    res2 = resnet.RES2_OUT_CHANNELS
    in_channels = {f"res{stage + 2}": res2 * 2 ** stage for stage in range(4)}
    shapes = layout.detectron2_basic_resnet(resnet.DEPTH, resnet.STEM_OUT_CHANNELS, res2)
    # Mask2Former's MSDeformAttnPixelDecoder: the OV-AVSS layout without its fusion block.
    shapes.update({k: v for k, v in layout.pixel_decoder(cfg, in_channels).items() if ".vl_layer." not in k})
    shapes.update(reference_predictor(cfg))
    shapes.update(reference_video_module(cfg, coco))
    num_classes = cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES + 1
    shapes["criterion.empty_weight"] = (num_classes,)
    shapes[f"{'vita' if coco else 'avism'}_criterion.empty_weight"] = (num_classes,)
    generator = torch.Generator().manual_seed(seed)
    return {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}


@pytest.fixture(scope="module")
def cfg():
    config = get_cfg()
    config.merge_from_file(TINY_CONFIG)
    config.merge_from_list(OVERRIDES)
    return config


@pytest.mark.parametrize("coco", [False, True], ids=["imagenet_family", "coco_family"])
def test_release_checkpoint_loads_with_no_missing_or_unexpected_keys(cfg, coco, tmp_path):
    torch.manual_seed(0)
    model = build_model_without_pretrained_files(cfg)
    reference = reference_state_dict(cfg, coco)
    path = tmp_path / "avism_release.pth"
    torch.save({"model": reference}, path)

    incompatible = Checkpointer(model, save_to_disk=False)._load_model({"model": torch.load(path)["model"]})
    assert incompatible.missing_keys == []
    assert incompatible.unexpected_keys == []
    assert incompatible.incorrect_shapes == []

    # Through the public path (what MODEL.WEIGHTS uses) into a fresh model: values land by name.
    fresh = build_model_without_pretrained_files(cfg)
    Checkpointer(fresh, save_to_disk=False).load(str(path))
    state = fresh.state_dict()
    video = "vita_module" if coco else "avism_module"
    pairs = {
        "frame_decoder.av_sf.2.multihead_attn.in_proj_weight": "sem_seg_head.predictor.av_sf.2.multihead_attn.in_proj_weight",
        "frame_decoder.query_feat.weight": "sem_seg_head.predictor.query_feat.weight",
        "frame_decoder.transformer_ffn_layers.1.linear2.bias": "sem_seg_head.predictor.transformer_ffn_layers.1.linear2.bias",
        "video_decoder.mask_projection.weight": f"{video}.{'vita' if coco else 'avism'}_mask_features.weight",
        "video_decoder.enc_av_cross_attn.1.norm.weight": f"{video}.enc_av_cross_attn.1.norm.weight",
        "video_decoder.fq_pos.weight": f"{video}.fq_pos.weight",
        "pixel_decoder.level_embed": "sem_seg_head.pixel_decoder.transformer.level_embed",
        "backbone.stem.conv1.weight": "backbone.stem.conv1.weight",
    }
    for ours, theirs in pairs.items():
        torch.testing.assert_close(state[ours], reference[theirs])
    # Every parameter came from the file: the sum of all values matches the file's (minus the
    # two dropped loss constants and the FrozenBN statistics, which are buffers in both).
    loaded_total = sum(float(v.double().sum()) for k, v in state.items())
    file_total = sum(float(v.double().sum()) for k, v in reference.items() if not k.endswith("criterion.empty_weight"))
    assert loaded_total == pytest.approx(file_total, rel=1e-9)
