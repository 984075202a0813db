"""Names of the AVSBench release's TPAVI checkpoints (and of the ImageNet files it starts from)
-> this framework's TPAVI module names.

The release saves ``model.module.state_dict()`` of its ``Pred_endecoder``: no ``module.``
prefix, BatchNorm buffers included, VGGish not included (ours is built from MODEL.AUDIO), and
parameters its forward never uses (dropped here by name, with why). Registered with
``ov_avss.checkpoint.name_map.register_family_renamer``, so the checkpointer (``MODEL.WEIGHTS``)
and ``tools/convert_checkpoint.py`` rename alike.
"""
from __future__ import annotations

import re
from typing import Mapping

from timm.models import pvt_v2 as timm_pvt_v2

from ov_avss.checkpoint.name_map import register_family_renamer

__all__ = ["TPAVI_DROPPED", "TPAVI_NAME_RULES", "rename_tpavi_checkpoint"]

_AFFINE = r"(weight|bias)"
_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_TPAVI_PARTS = {
    "align_channel": "audio_projection",
    "theta": "theta",
    "phi": "phi",
    "g": "g",
    "W_z.0": "output_projection",
    "W_z.1": "output_norm",
    "norm_layer": "norm",
}

# (regex, replacement) applied with re.fullmatch; first match wins. The release's ResNet
# (resnet.*) and torchvision's ImageNet file (bare names) map onto ResNetBackbone's names.
TPAVI_NAME_RULES: list[tuple[str, str]] = [
    (r"(?:resnet\.)?conv1\.weight", r"backbone.stem.conv1.weight"),
    (rf"(?:resnet\.)?bn1\.{_BN}", r"backbone.stem.bn1.\1"),
    (r"(?:resnet\.)?layer1\.(.+)", r"backbone.res2.\1"),
    (r"(?:resnet\.)?layer2\.(.+)", r"backbone.res3.\1"),
    (r"resnet\.layer3_1\.(.+)|layer3\.(.+)", r"backbone.res4.\1\2"),
    (r"resnet\.layer4_1\.(.+)|layer4\.(.+)", r"backbone.res5.\1\2"),
    (rf"conv([1-4])\.conv2d_list\.([0-3])\.{_AFFINE}", r"reducers.{\1-1}.branches.\2.\3"),
    (
        rf"tpavi_b([1-4])\.({'|'.join(re.escape(part) for part in _TPAVI_PARTS)})\.{_BN}",
        r"tpavi_blocks.{\1-1}.<\2>.\3",
    ),
    (r"path([1-4])\.resConfUnit1\.(conv[12])\.(weight|bias)", r"fusion.{\1-1}.skip_unit.\2.\3"),
    (r"path([1-4])\.resConfUnit2\.(conv[12])\.(weight|bias)", r"fusion.{\1-1}.output_unit.\2.\3"),
    (rf"output_conv\.([024])\.{_AFFINE}", r"head.\1.\2"),
]

# Entries the release stores that this model does not have: regex -> why.
TPAVI_DROPPED: dict[str, str] = {
    r"resnet\.layer(3_2|4_2)\..+": "the release's second ResNet branch, built but never called in its forward",
    r"path4\.resConfUnit1\..+": "the release's deepest fusion block's skip unit, never called (no skip input)",
    r"fc\.(weight|bias)": "ImageNet classifier of the torchvision ResNet file",
}

_COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in TPAVI_NAME_RULES]
_COMPILED_DROPPED = [(re.compile(pattern), why) for pattern, why in TPAVI_DROPPED.items()]
_PVT_PREFIX = "encoder_backbone."
_OUR_PVT_PREFIX = "backbone.pvt."


def _apply_rule(key: str) -> str | None:
    for pattern, replacement in _COMPILED:
        match = pattern.fullmatch(key)
        if match is None:
            continue
        name = match.expand(replacement)
        # Stage numbers are 1-based in the release, 0-based here; part names are translated.
        name = re.sub(r"\{(\d)-1\}", lambda m: str(int(m.group(1)) - 1), name)
        return re.sub(r"<([^>]+)>", lambda m: _TPAVI_PARTS[m.group(1)], name)
    return None


def rename_tpavi_checkpoint(
    state_dict: Mapping[str, object], model_keys: set[str]
) -> tuple[dict[str, object], dict[str, str]] | None:
    """For a TPAVI model (one with ``tpavi_blocks`` or ``reducers``): the release's names mapped
    onto the model's, the dead entries dropped (``{key: why}``); keys the model already has and
    keys no rule knows pass unchanged. ``None`` for other models."""
    if not any(key.startswith(("reducers.", "tpavi_blocks.")) for key in model_keys):
        return None
    renamed: dict[str, object] = {}
    dropped: dict[str, str] = {}
    pvt_entries: dict[str, object] = {}
    for key, value in state_dict.items():
        if key in model_keys:
            renamed[key] = value
        elif key.startswith(_PVT_PREFIX):
            pvt_entries[key[len(_PVT_PREFIX):]] = value
        elif (why := next((why for pattern, why in _COMPILED_DROPPED if pattern.fullmatch(key)), None)) is not None:
            dropped[key] = why
        else:
            name = _apply_rule(key)
            renamed[key if name is None else name] = value
    if pvt_entries:
        # timm's own mapping of the original PVT-v2 names (patch_embed{i}, block{i}.{j}, norm{i}).
        for key, value in timm_pvt_v2.checkpoint_filter_fn(pvt_entries, None).items():
            renamed[_OUR_PVT_PREFIX + key] = value
    return renamed, dropped


register_family_renamer(rename_tpavi_checkpoint)
