"""A checkpoint with the original OV-AVSS release's names and shapes loads into our model through
the name map: tiny sizes with values, and the published R50 / Swin-B sizes as shapes only (meta
tensors)."""
from __future__ import annotations

import functools
import os
import pickle

import pytest
import torch

from helpers import original_release_layout
from ov_avss.checkpoint import CheckpointMismatchError, Checkpointer
from ov_avss.checkpoint.name_map import map_external_names
from ov_avss.config import get_cfg
from ov_avss.data.catalog import with_seen_categories
from ov_avss.modeling.meta_arch.build import build_model

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_CONFIG = os.path.join(REPO_ROOT, "configs", "tiny", "OV_AVSS_tiny.yaml")
# The release: 1024-wide deformable-encoder FFN and AV fusion attention, an audio position table
# of 5 frames (the tiny config shrinks these; the published configs have them).
RELEASE_OVERRIDES = [
    "MODEL.SEM_SEG_HEAD.DEFORMABLE_TRANSFORMER_ENCODER_DIM_FEEDFORWARD", 1024,
    "MODEL.SEM_SEG_HEAD.AV_FUSION_EMBED_DIM", 1024,
    "MODEL.MASK_FORMER.MAX_NUM_FRAMES", 5,
]
PUBLISHED = {
    "R50": ("configs/avsbench/OV_AVSS_R50.yaml", "ViT-B-16"),
    "SwinB": ("configs/avsbench/swin/OV_AVSS_SwinB.yaml", "ViT-L-14-336"),
}

layout = original_release_layout()  # the release's names and shapes


@pytest.fixture(scope="module")
def model_and_original():
    cfg = get_cfg()
    cfg.merge_from_file(TINY_CONFIG)
    cfg.merge_from_list(RELEASE_OVERRIDES)
    torch.manual_seed(0)
    model = build_model(cfg)
    return model, layout.original_state_dict(cfg, layout.tiny_clip_config_path())


def _problems(model, original):
    mapping = map_external_names(original, model.state_dict().keys())
    renamed, unmapped = mapping.state_dict, mapping.unmapped
    model_state = model.state_dict()
    missing = sorted(set(model_state) - set(renamed))
    mismatched = sorted(
        key for key in set(renamed) & set(model_state) if renamed[key].shape != model_state[key].shape
    )
    unexpected = sorted(set(renamed) - set(model_state) - set(unmapped))
    assert unexpected == [], f"rules produced names the model does not have: {unexpected}"
    return renamed, sorted(unmapped), missing, mismatched


def test_every_original_tensor_maps_with_its_shape(model_and_original):
    model, original = model_and_original
    renamed, unmapped, missing, mismatched = _problems(model, original)
    assert unmapped == [], f"original keys no rule maps: {unmapped}"
    assert mismatched == [], f"shape mismatches: {mismatched}"
    assert missing == [], f"model keys no original key maps to: {missing}"
    # Spot checks that values travel with their names.
    torch.testing.assert_close(
        renamed["transformer_decoder.audio_query_attention.norm.weight"], original["sem_seg_head.predictor.v2a.norm.weight"]
    )
    torch.testing.assert_close(
        renamed["transformer_decoder.audio_proj.layers.1.weight"],
        original["sem_seg_head.predictor.audio_proj.layers.1.weight"],
    )
    torch.testing.assert_close(
        renamed["pixel_decoder.av_fusion.audio_gamma"],
        original["sem_seg_head.pixel_decoder.transformer.encoder.vl_layer.b_attn.gamma_l"],
    )
    torch.testing.assert_close(
        renamed["audio_encoder.embeddings.4.weight"], original["audio_encoder.audio_backbone.embeddings.4.weight"]
    )
    clip_key = "classifier.region_classifier.clip_model.visual.transformer.resblocks.1.mlp.c_fc.weight"
    torch.testing.assert_close(renamed[clip_key], original["clip_adapter.clip_model.visual.transformer.resblocks.1.mlp.c_fc.weight"])


def test_release_checkpoint_loads_without_missing_or_unexpected_keys(model_and_original, tmp_path):
    model, original = model_and_original
    path = tmp_path / "model_ov_avss_tiny.pth"
    torch.save({"model": original, "iteration": 96227}, path)
    incompatible = Checkpointer(model, save_to_disk=False)._load_model({"model": torch.load(path)["model"]})
    assert not incompatible.missing_keys and not incompatible.unexpected_keys


def _meta_model_and_release_shapes(config: str, clip_arch: str):
    """The published config's model and the release's state dict, both as meta tensors (names
    and shapes at full size, no memory)."""
    import open_clip

    from ov_avss.modeling.classifier import clip_loader
    from ov_avss.modeling.meta_arch.build import build_model_without_pretrained_files

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO_ROOT, config))
    create_model = clip_loader.open_clip.create_model
    clip_loader.open_clip.create_model = functools.partial(open_clip.create_model, device="meta")
    try:
        with torch.device("meta"):
            model = build_model_without_pretrained_files(cfg, device="meta")
    finally:
        clip_loader.open_clip.create_model = create_model
    shapes = layout.original_shapes(cfg, layout.open_clip_config_path(clip_arch))
    return model, {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_release_checkpoint_loads_with_nothing_missing_or_unexpected(name, caplog):
    model, original = _meta_model_and_release_shapes(*PUBLISHED[name])
    _, unmapped, missing, mismatched = _problems(model, original)
    assert (unmapped, missing, mismatched) == ([], [], [])
    with caplog.at_level("INFO"):
        incompatible = Checkpointer(model, save_to_disk=False)._load_model({"model": dict(original)})
    assert incompatible.missing_keys == [] and incompatible.unexpected_keys == []
    assert incompatible.incorrect_shapes == []
    # What the release stores and we do not use is reported, by name.
    assert "clip_adapter.clip_model.visual.mask_embedding (mask-prompt embedding" in caplog.text


def test_release_checkpoint_into_the_learned_head_extension_is_an_error(model_and_original):
    _, original = model_and_original
    cfg = get_cfg()
    cfg.merge_from_file(TINY_CONFIG)
    cfg.merge_from_list(RELEASE_OVERRIDES + ["MODEL.OV_EXTENSIONS.LEARNED_HEAD.ENABLED", True])
    model = build_model(with_seen_categories(cfg))
    with pytest.raises(CheckpointMismatchError, match=r"classifier\.ensemble_head\.logit_scale \(missing\)"):
        Checkpointer(model, save_to_disk=False)._load_model({"model": dict(original)})


def test_an_initialisation_without_audio_parts_may_leave_layers_at_init(model_and_original, tmp_path):
    model, original = model_and_original
    backbone_and_decoder = {key: value for key, value in original.items() if "audio" not in key and "v2a" not in key}
    # As a detectron2 pickle (a pretrained initialisation, like the Mask2Former COCO files).
    initialisation = tmp_path / "model_final_3c8ec9.pkl"
    initialisation.write_bytes(pickle.dumps({"model": {k: v.numpy() for k, v in backbone_and_decoder.items()}}))
    audio_proj_before = {k: v.clone() for k, v in model.state_dict().items() if "audio_proj" in k}
    Checkpointer(model, save_to_disk=False).load(str(initialisation))
    model_state = model.state_dict()
    assert audio_proj_before and all(torch.equal(model_state[k], v) for k, v in audio_proj_before.items())
    assert torch.equal(model_state["transformer_decoder.query_feat.weight"], original["sem_seg_head.predictor.query_feat.weight"])
    # The same tensors as a trained checkpoint (.pth) are refused: the audio parts would stay random.
    trained = tmp_path / "model_final.pth"
    torch.save({"model": backbone_and_decoder}, trained)
    with pytest.raises(CheckpointMismatchError, match="does not fit") as caught:
        Checkpointer(model, save_to_disk=False).load(str(trained))
    assert "transformer_decoder.audio_proj.layers.0.weight (missing)" in caught.value.misfits
