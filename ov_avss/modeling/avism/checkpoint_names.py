"""Names of the AVISM release's checkpoints -> this framework's AVISM module names.

The checkpointer first applies the shared map (``ov_avss.checkpoint.name_map``): detectron2
ResNet / Swin backbone names, ``sem_seg_head.pixel_decoder.*`` -> ``pixel_decoder.*``, and part
of ``sem_seg_head.predictor.*`` -> ``transformer_decoder.*`` (the OV-AVSS decoder's place). The
hook installed here then finishes the AVISM-specific part when the state dict is loaded.
"""
from __future__ import annotations

import logging
import re

from torch import nn

__all__ = ["AVISM_NAME_RULES", "AVISM_CONSTANT_BUFFERS", "install_reference_name_map", "rename_reference_keys"]

logger = logging.getLogger(__name__)

# (regex, replacement) applied with re.fullmatch; first match wins.
AVISM_NAME_RULES: list[tuple[str, str]] = [
    # The frame decoder: the release's predictor, possibly already moved by the shared map.
    (r"(?:sem_seg_head\.predictor|transformer_decoder)\.(.+)", r"frame_decoder.\1"),
    # ImageNet family: avism_module.*; COCO family: vita_module.* (the VITA code it grew from).
    (r"(?:avism_module\.avism|vita_module\.vita)_mask_features\.(weight|bias)", r"video_decoder.mask_projection.\1"),
    (r"(?:avism_module|vita_module)\.(.+)", r"video_decoder.\1"),
]

# Loss constants of the release (class weights with the no-object weight); rebuilt from config.
AVISM_CONSTANT_BUFFERS = ("avism_criterion.empty_weight", "vita_criterion.empty_weight")


def rename_reference_keys(state_dict: dict) -> None:
    """Rename, in place, the release's keys that ``AVISM_NAME_RULES`` map; drop the release's
    loss constants (``AVISM_CONSTANT_BUFFERS``)."""
    dropped = [key for key in AVISM_CONSTANT_BUFFERS if key in state_dict]
    for key in dropped:
        del state_dict[key]
    if dropped:
        logger.info("Dropping the AVISM release's loss constants (rebuilt from the config): %s", dropped)
    compiled = [(re.compile(pattern), replacement) for pattern, replacement in AVISM_NAME_RULES]
    for key in list(state_dict):
        for pattern, replacement in compiled:
            if pattern.fullmatch(key):
                state_dict[pattern.sub(replacement, key)] = state_dict.pop(key)
                break


def install_reference_name_map(model: nn.Module) -> None:
    """Make ``model.load_state_dict`` (the root model's) accept the release's names."""

    def hook(module, state_dict, prefix, *_args) -> None:
        rename_reference_keys(state_dict)

    model.register_load_state_dict_pre_hook(hook)
