"""Names of the AVSBench release's TPAVI checkpoints (and of the ImageNet files it starts from)
-> this framework's TPAVI module names.

The release saves ``model.module.state_dict()`` of its ``Pred_endecoder``: no ``module.``
prefix, BatchNorm buffers included, VGGish not included (ours is built from MODEL.AUDIO), and
parameters its forward never uses (dropped by name, with why). Registered with the shared name
map (``ov_avss.checkpoint.name_map.register_architecture_names``) for the ``TPAVI``
meta-architecture, so the checkpointer (``MODEL.WEIGHTS``) and ``tools/convert_checkpoint.py``
rename alike. These rules come before the shared ones.
"""
from __future__ import annotations

import re

from timm.models import pvt_v2 as timm_pvt_v2

from ov_avss.checkpoint.name_map import Replacement, register_architecture_names

__all__ = ["TPAVI_DROPPED", "TPAVI_NAME_RULES"]

# The meta-architecture's registered name (ov_avss/modeling/tpavi/model.py).
ARCHITECTURE = "TPAVI"

_AFFINE = r"(weight|bias)"
_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_NUM_STAGES = 4
# The release's TPAVI block parts -> ours.
_TPAVI_PARTS = {
    "align_channel": "audio_projection",
    "theta": "theta",
    "phi": "phi",
    "g": "g",
    "W_z.0": "output_projection",
    "W_z.1": "output_norm",
    "norm_layer": "norm",
}
_OUR_PVT_PREFIX = "backbone.pvt."


def _timm_pvt_name(match: "re.Match[str]") -> str:
    """The release's PVT-v2 name (original patch_embed{i}, block{i}.{j}, norm{i}) as timm maps it
    (``timm.models.pvt_v2.checkpoint_filter_fn``, which renames key by key; the value is not read)."""
    (timm_name,) = timm_pvt_v2.checkpoint_filter_fn({match.group(1): None}, None)
    return _OUR_PVT_PREFIX + timm_name


# (regex, replacement) applied with re.fullmatch; first match wins. The release's ResNet
# (resnet.*) and torchvision's ImageNet file (bare names) map onto ResNetBackbone's names. Stage
# numbers are 1-based in the release, 0-based here.
TPAVI_NAME_RULES: list[tuple[str, Replacement]] = [
    (r"(?:resnet\.)?conv1\.weight", r"backbone.stem.conv1.weight"),
    (rf"(?:resnet\.)?bn1\.{_BN}", r"backbone.stem.bn1.\1"),
    (r"(?:resnet\.)?layer1\.(.+)", r"backbone.res2.\1"),
    (r"(?:resnet\.)?layer2\.(.+)", r"backbone.res3.\1"),
    (r"(?:resnet\.layer3_1|layer3)\.(.+)", r"backbone.res4.\1"),
    (r"(?:resnet\.layer4_1|layer4)\.(.+)", r"backbone.res5.\1"),
    (r"encoder_backbone\.(.+)", _timm_pvt_name),
    (rf"output_conv\.([024])\.{_AFFINE}", r"head.\1.\2"),
] + [
    rule
    for stage in range(1, _NUM_STAGES + 1)
    for rule in (
        (rf"conv{stage}\.conv2d_list\.([0-3])\.{_AFFINE}", rf"reducers.{stage - 1}.branches.\1.\2"),
        (rf"path{stage}\.resConfUnit1\.(conv[12])\.{_AFFINE}", rf"fusion.{stage - 1}.skip_unit.\1.\2"),
        (rf"path{stage}\.resConfUnit2\.(conv[12])\.{_AFFINE}", rf"fusion.{stage - 1}.output_unit.\1.\2"),
    )
] + [
    (rf"tpavi_b{stage}\.{re.escape(theirs)}\.{_BN}", rf"tpavi_blocks.{stage - 1}.{ours}.\1")
    for stage in range(1, _NUM_STAGES + 1)
    for theirs, ours in _TPAVI_PARTS.items()
]

# Entries the release stores that this model does not have: regex -> why.
TPAVI_DROPPED: dict[str, str] = {
    r"resnet\.layer(3_2|4_2)\..+": "the release's second ResNet branch, built but never called in its forward",
    r"path4\.resConfUnit1\..+": "the release's deepest fusion block's skip unit, never called (no skip input)",
    r"fc\.(weight|bias)": "ImageNet classifier of the torchvision ResNet file",
}

register_architecture_names(ARCHITECTURE, TPAVI_NAME_RULES, dropped_patterns=TPAVI_DROPPED)
