"""A checkpoint with the AVISM release's parameter names and shapes (tiny sizes, both model
families) loads into our AVISM through the checkpointer (the MODEL.WEIGHTS path) with 0 missing
and 0 unexpected keys, every value landing where the release's name says. (The converter, which
renames with the same name map: tests/tools/test_convert_checkpoint.py.)"""
from __future__ import annotations

import os

import pytest
import torch

from helpers import REPO_ROOT, avism_release_layout, load_config
from ov_avss.checkpoint import Checkpointer
from ov_avss.modeling import build_model_without_pretrained_files

TINY_CONFIG = REPO_ROOT / "configs" / "avis" / "AVISM_tiny_synthetic.yaml"
# Mask2Former's pixel decoder has a 1024-wide deformable-encoder FFN (the release layout helper's).
OVERRIDES = ["MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD", "1024"]
layout = avism_release_layout()
FAMILIES = pytest.mark.parametrize("coco", [False, True], ids=["imagenet_family", "coco_family"])


@pytest.fixture(scope="module")
def cfg():
    return load_config(TINY_CONFIG, OVERRIDES)


def _release_file(cfg, coco: bool, folder) -> tuple[str, dict[str, torch.Tensor]]:
    reference = layout.reference_state_dict(cfg, coco)
    path = os.path.join(folder, f"avism_release_{'coco' if coco else 'in'}.pth")
    torch.save({"model": reference, "iteration": 47999}, path)
    return path, reference


@FAMILIES
def test_release_checkpoint_loads_with_no_missing_or_unexpected_keys(cfg, coco, tmp_path):
    torch.manual_seed(0)
    model = build_model_without_pretrained_files(cfg)
    path, reference = _release_file(cfg, coco, tmp_path)

    incompatible = Checkpointer(model, save_to_disk=False)._load_model({"model": torch.load(path)["model"]})
    assert incompatible.missing_keys == []
    assert incompatible.unexpected_keys == []
    assert incompatible.incorrect_shapes == []

    # Through the public path (what MODEL.WEIGHTS uses) into a fresh model: values land by name.
    fresh = build_model_without_pretrained_files(cfg)
    Checkpointer(fresh, save_to_disk=False).load(path)
    state = fresh.state_dict()
    video = "vita_module" if coco else "avism_module"
    pairs = {
        "frame_decoder.av_sf.2.multihead_attn.in_proj_weight": "sem_seg_head.predictor.av_sf.2.multihead_attn.in_proj_weight",
        "frame_decoder.query_feat.weight": "sem_seg_head.predictor.query_feat.weight",
        "frame_decoder.transformer_ffn_layers.1.linear2.bias": "sem_seg_head.predictor.transformer_ffn_layers.1.linear2.bias",
        "video_decoder.mask_projection.weight": f"{video}.{'vita' if coco else 'avism'}_mask_features.weight",
        "video_decoder.enc_av_cross_attn.1.norm.weight": f"{video}.enc_av_cross_attn.1.norm.weight",
        "video_decoder.fq_pos.weight": f"{video}.fq_pos.weight",
        "video_decoder.sim_embed_video.weight": f"{video}.sim_embed_clip.weight",  # VITA's "clip" queries
        "pixel_decoder.level_embed": "sem_seg_head.pixel_decoder.transformer.level_embed",
        "backbone.stem.conv1.weight": "backbone.stem.conv1.weight",
    }
    for ours, theirs in pairs.items():
        torch.testing.assert_close(state[ours], reference[theirs])
    # Every parameter came from the file: the sum of all values matches the file's (minus the
    # two dropped loss constants).
    loaded_total = sum(float(v.double().sum()) for k, v in state.items())
    file_total = sum(float(v.double().sum()) for k, v in reference.items() if not k.endswith("criterion.empty_weight"))
    assert loaded_total == pytest.approx(file_total, rel=1e-9)


def test_own_checkpoint_from_before_the_video_query_rename_loads(cfg, tmp_path):
    """Our AVISM checkpoints written while the video-level query embedding was ``sim_embed_clip``
    load with 0 missing and 0 unexpected keys, the values under ``sim_embed_video``."""
    torch.manual_seed(0)
    model = build_model_without_pretrained_files(cfg)
    old = {key.replace("sim_embed_video", "sim_embed_clip"): value for key, value in model.state_dict().items()}
    assert "video_decoder.sim_embed_clip.weight" in old
    fresh = build_model_without_pretrained_files(cfg)
    incompatible = Checkpointer(fresh, save_to_disk=False)._load_model({"model": old})
    assert incompatible.missing_keys == [] and incompatible.unexpected_keys == []
    torch.testing.assert_close(fresh.video_decoder.sim_embed_video.weight, old["video_decoder.sim_embed_clip.weight"])
