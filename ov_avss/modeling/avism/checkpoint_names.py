"""Names of the AVISM release's checkpoints -> this framework's AVISM module names.

Registered with the shared name map (``ov_avss.checkpoint.name_map.register_architecture_names``)
for the ``AVISM`` meta-architecture, so that the checkpointer (``MODEL.WEIGHTS``) and
``tools/convert_checkpoint.py`` rename a release file the same way. These rules come before the
shared ones (detectron2 ResNet / Swin backbone names, ``sem_seg_head.pixel_decoder.*`` ->
``pixel_decoder.*``), which rename the rest of the file.
"""
from __future__ import annotations

from ...checkpoint.name_map import register_architecture_names

__all__ = ["AVISM_CONSTANT_BUFFERS", "AVISM_NAME_RULES"]

# The meta-architecture's registered name (ov_avss/modeling/meta_arch/avism.py).
ARCHITECTURE = "AVISM"

# (regex, replacement) applied with re.fullmatch; first match wins.
AVISM_NAME_RULES: list[tuple[str, str]] = [
    # The frame decoder: the release's sem_seg_head.predictor (the OV-AVSS decoder's place in the shared map).
    (r"sem_seg_head\.predictor\.(.+)", r"frame_decoder.\1"),
    # ImageNet family: avism_module.*; COCO family: vita_module.* (the VITA code it grew from).
    (r"(?:avism_module\.avism|vita_module\.vita)_mask_features\.(weight|bias)", r"video_decoder.mask_projection.\1"),
    # VITA's "clip" queries are this framework's video-level queries (also this framework's own
    # checkpoints written before the rename).
    (r"(?:avism_module|vita_module|video_decoder)\.sim_embed_clip\.(weight|bias)", r"video_decoder.sim_embed_video.\1"),
    (r"(?:avism_module|vita_module)\.(.+)", r"video_decoder.\1"),
]

# Loss constants of the release (class weights with the no-object weight); rebuilt from config.
AVISM_CONSTANT_BUFFERS: dict[str, str] = {
    "avism_criterion.empty_weight": "class weights of the video loss, rebuilt from MODEL.AVISM.NO_OBJECT_WEIGHT",
    "vita_criterion.empty_weight": "class weights of the video loss, rebuilt from MODEL.AVISM.NO_OBJECT_WEIGHT",
}

register_architecture_names(ARCHITECTURE, AVISM_NAME_RULES, AVISM_CONSTANT_BUFFERS)
