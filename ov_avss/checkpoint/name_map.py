"""The one map from external parameter names (detectron2 / Mask2Former COCO pickles, the
original OV-AVSS, AVISM and TPAVI releases) onto this framework's module names.

Each rule is ``(regex, replacement)`` applied with ``re.fullmatch`` to a key that is not already
one of the model's own names; the first rule that matches wins. The shared rules below serve
every model; a model family whose release names its own parts differently registers its rules,
constants and dropped key patterns for its meta-architecture with
``register_architecture_names`` (from the family's own package, so this package imports no
modeling code); they are tried before the shared ones.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Union

from ov_avss.utils.registry import Registry

# Where the meta-architecture holds each part (Mask2Former's attribute paths).
BACKBONE_PATH = "backbone"
PIXEL_DECODER_PATH = "pixel_decoder"

_NORM_STATS = r"(weight|bias|running_mean|running_var)"
_AFFINE = r"(weight|bias)"

# detectron2 ResNet (stem.conv1.norm, resN.M.convK.norm, resN.M.shortcut[.norm]) -> torchvision
# ResNet blocks (stem.bn1, resN.M.bnK, resN.M.downsample.{0,1}). Conv weights keep their names.
RESNET_RULES: list[tuple[str, str]] = [
    (rf"backbone\.stem\.conv1\.norm\.{_NORM_STATS}", rf"{BACKBONE_PATH}.stem.bn1.\1"),
    (r"backbone\.stem\.conv1\.weight", rf"{BACKBONE_PATH}.stem.conv1.weight"),
    (r"backbone\.(res[2-5]\.\d+)\.conv(\d)\.weight", rf"{BACKBONE_PATH}.\1.conv\2.weight"),
    (rf"backbone\.(res[2-5]\.\d+)\.conv(\d)\.norm\.{_NORM_STATS}", rf"{BACKBONE_PATH}.\1.bn\2.\3"),
    (r"backbone\.(res[2-5]\.\d+)\.shortcut\.weight", rf"{BACKBONE_PATH}.\1.downsample.0.weight"),
    (rf"backbone\.(res[2-5]\.\d+)\.shortcut\.norm\.{_NORM_STATS}", rf"{BACKBONE_PATH}.\1.downsample.1.\2"),
]

# Mask2Former D2SwinTransformer (layers.N.blocks.M, layers.N.downsample, norm{i}) -> SwinBackbone
# (stages.N.M with torchvision's blocks, downsamples.N, output_norms.res{i+2}).
SWIN_RULES: list[tuple[str, str]] = [
    (rf"backbone\.patch_embed\.(proj|norm)\.{_AFFINE}", rf"{BACKBONE_PATH}.patch_embed.\1.\2"),
    (r"backbone\.absolute_pos_embed", rf"{BACKBONE_PATH}.absolute_pos_embed"),
    (
        rf"backbone\.layers\.(\d+)\.blocks\.(\d+)\.(norm1|norm2|attn\.qkv|attn\.proj)\.{_AFFINE}",
        rf"{BACKBONE_PATH}.stages.\1.\2.\3.\4",
    ),
    (
        r"backbone\.layers\.(\d+)\.blocks\.(\d+)\.attn\.(relative_position_bias_table|relative_position_index)",
        rf"{BACKBONE_PATH}.stages.\1.\2.attn.\3",
    ),
    # torchvision's MLP is Sequential(Linear, GELU, Dropout, Linear, Dropout).
    (rf"backbone\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.{_AFFINE}", rf"{BACKBONE_PATH}.stages.\1.\2.mlp.0.\3"),
    (rf"backbone\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.{_AFFINE}", rf"{BACKBONE_PATH}.stages.\1.\2.mlp.3.\3"),
    (
        rf"backbone\.layers\.(\d+)\.downsample\.(reduction|norm)\.{_AFFINE}",
        rf"{BACKBONE_PATH}.downsamples.\1.\2.\3",
    ),
] + [
    (rf"backbone\.norm{index}\.{_AFFINE}", rf"{BACKBONE_PATH}.output_norms.res{index + 2}.\1")
    for index in range(4)
]

_PD = r"sem_seg_head\.pixel_decoder"
# Original OV-AVSS fusion block (GLIP names) -> AudioVisualBiAttention.
_AV_FUSION_NAMES = {
    "layer_norm_v": "visual_norm",
    "layer_norm_l": "audio_norm",
    "attn.v_proj": "visual_query_proj",
    "attn.l_proj": "audio_key_proj",
    "attn.values_v_proj": "visual_value_proj",
    "attn.values_l_proj": "audio_value_proj",
    "attn.out_v_proj": "visual_out_proj",
    "attn.out_l_proj": "audio_out_proj",
}

# Mask2Former MSDeformAttnPixelDecoder (+ the OV-AVSS vl_layer) -> MSDeformAttnPixelDecoderAV.
# Mask2Former's adapter_{i}/layer_{i} (detectron2 Conv2d with .norm) serve in_features[i-1].
PIXEL_DECODER_RULES: list[tuple[str, str]] = [
    (rf"{_PD}\.input_proj\.(\d+)\.([01])\.{_AFFINE}", rf"{PIXEL_DECODER_PATH}.input_proj.\1.\2.\3"),
    (rf"{_PD}\.transformer\.level_embed", rf"{PIXEL_DECODER_PATH}.level_embed"),
    (
        rf"{_PD}\.transformer\.encoder\.layers\.(\d+)\."
        rf"(self_attn\.(?:sampling_offsets|attention_weights|value_proj|output_proj)|norm1|linear1|linear2|norm2)"
        rf"\.{_AFFINE}",
        rf"{PIXEL_DECODER_PATH}.encoder_layers.\1.\2.\3",
    ),
    (rf"{_PD}\.mask_features\.{_AFFINE}", rf"{PIXEL_DECODER_PATH}.mask_features.\1"),
    (
        rf"{_PD}\.transformer\.encoder\.vl_layer\.b_attn\.gamma_v",
        rf"{PIXEL_DECODER_PATH}.av_fusion.visual_gamma",
    ),
    (
        rf"{_PD}\.transformer\.encoder\.vl_layer\.b_attn\.gamma_l",
        rf"{PIXEL_DECODER_PATH}.av_fusion.audio_gamma",
    ),
] + [
    (
        rf"{_PD}\.transformer\.encoder\.vl_layer\.b_attn\.{re.escape(theirs)}\.{_AFFINE}",
        rf"{PIXEL_DECODER_PATH}.av_fusion.{ours}.\1",
    )
    for theirs, ours in _AV_FUSION_NAMES.items()
] + [
    rule
    for level in range(1, 4)
    for rule in (
        (rf"{_PD}\.adapter_{level}\.{_AFFINE}", rf"{PIXEL_DECODER_PATH}.lateral_convs.{level - 1}.0.\1"),
        (rf"{_PD}\.adapter_{level}\.norm\.{_AFFINE}", rf"{PIXEL_DECODER_PATH}.lateral_convs.{level - 1}.1.\1"),
        (rf"{_PD}\.layer_{level}\.{_AFFINE}", rf"{PIXEL_DECODER_PATH}.output_convs.{level - 1}.0.\1"),
        (rf"{_PD}\.layer_{level}\.norm\.{_AFFINE}", rf"{PIXEL_DECODER_PATH}.output_convs.{level - 1}.1.\1"),
    )
]

# ---------------------------------------------------------------------------------------------
# Original OV-AVSS release: transformer decoder, VGGish, frozen CLIP.
# ---------------------------------------------------------------------------------------------
TRANSFORMER_DECODER_PATH = "transformer_decoder"
AUDIO_ENCODER_PATH = "audio_encoder"
CLIP_MODEL_PATH = "classifier.region_classifier.clip_model"

_PRED = r"sem_seg_head\.predictor"
# AudioVideoMultiScaleMaskedTransformerDecoder -> AudioVideoMaskedTransformerDecoder. The layer
# stacks, query tables and heads keep Mask2Former's names; the audio blocks get readable ones.
TRANSFORMER_DECODER_RULES: list[tuple[str, str]] = [
    (
        rf"{_PRED}\.(transformer_(?:self_attention|cross_attention|audio_cross_attention|ffn)_layers\.\d+\."
        r"(?:self_attn|multihead_attn)\.(?:in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias))",
        rf"{TRANSFORMER_DECODER_PATH}.\1",
    ),
    (
        rf"{_PRED}\.(transformer_(?:self_attention|cross_attention|audio_cross_attention|ffn)_layers\.\d+\."
        rf"(?:norm|linear1|linear2)\.{_AFFINE})",
        rf"{TRANSFORMER_DECODER_PATH}.\1",
    ),
    (rf"{_PRED}\.(query_feat|query_embed|level_embed)\.weight", rf"{TRANSFORMER_DECODER_PATH}.\1.weight"),
    # Learned position of each frame's audio token (the release has 5 rows: 5-frame windows).
    (rf"{_PRED}\.audio_query_embed\.weight", rf"{TRANSFORMER_DECODER_PATH}.audio_pos_embed.weight"),
    # v2a: the queries attend once to the audio tokens; a2a: the audio tokens self-attend.
    (rf"{_PRED}\.v2a\.(multihead_attn\.(?:in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)|norm\.(?:weight|bias))",
     rf"{TRANSFORMER_DECODER_PATH}.audio_query_attention.\1"),
    (rf"{_PRED}\.a2a\.(self_attn\.(?:in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)|norm\.(?:weight|bias))",
     rf"{TRANSFORMER_DECODER_PATH}.audio_self_attention.\1"),
    (rf"{_PRED}\.(decoder_norm|class_embed)\.{_AFFINE}", rf"{TRANSFORMER_DECODER_PATH}.\1.\2"),
    (rf"{_PRED}\.mask_embed\.layers\.(\d+)\.{_AFFINE}", rf"{TRANSFORMER_DECODER_PATH}.mask_embed.layers.\1.\2"),
    # The 2-layer MLP that lifts the fused 128-d audio token to the decoder width.
    (rf"{_PRED}\.audio_proj\.layers\.([01])\.{_AFFINE}", rf"{TRANSFORMER_DECODER_PATH}.audio_proj.layers.\1.\2"),
]

# The release wraps VGGish as audio_encoder.audio_backbone (features.N / embeddings.N, the layout
# of vggish-10086976.pth); ours is audio_encoder itself.
AUDIO_ENCODER_RULES: list[tuple[str, str]] = [
    (
        rf"audio_encoder\.audio_backbone\.((?:features|embeddings)\.\d+\.{_AFFINE})",
        rf"{AUDIO_ENCODER_PATH}.\1",
    ),
]

# OpenAI CLIP and open_clip share parameter names (visual.*, transformer.resblocks.*, ...).
CLIP_RULES: list[tuple[str, str]] = [
    (r"clip_adapter\.clip_model\.(.+)", rf"{CLIP_MODEL_PATH}.\1"),
]

# Entries of the release's state dict that this framework does not load: constants it rebuilds
# from the config, and a weight the release stores but its model never reads. Conversion and
# loading drop them, by name, and say why.
ORIGINAL_CONSTANT_BUFFERS: dict[str, str] = {
    "criterion.empty_weight": "class weights of the loss, rebuilt from MODEL.MASK_FORMER.NO_OBJECT_WEIGHT",
    "clip_adapter.pixel_mean": "CLIP's input mean, fixed by the CLIP model",
    "clip_adapter.pixel_std": "CLIP's input std, fixed by the CLIP model",
    "clip_adapter.clip_model.visual.mask_embedding": (
        "mask-prompt embedding of the release's CLIP build (MASK_PROMPT_DEPTH), never read by its ClipAdapter"
    ),
}

# Filled per component (backbone, pixel decoder, transformer decoder, audio encoder, CLIP) in
# the tables above; order matters only where patterns overlap.
NAME_RULES: list[tuple[str, str]] = (
    RESNET_RULES + SWIN_RULES + PIXEL_DECODER_RULES + TRANSFORMER_DECODER_RULES + AUDIO_ENCODER_RULES + CLIP_RULES
)


_RELATIVE_POSITION_INDEX = "attn.relative_position_index"
# A replacement is a template string or, where a name needs more than a template (arithmetic on a
# stage number, a library's own renaming), a function of the match: both as ``re.Pattern.sub``.
Replacement = Union[str, Callable[["re.Match[str]"], str]]
Rules = list[tuple[re.Pattern, Replacement]]
_COMPILED_RULES: Rules = [(re.compile(pattern), replacement) for pattern, replacement in NAME_RULES]


@dataclass(frozen=True)
class _ArchitectureNames:
    rules: Rules
    constants: dict[str, str]
    dropped_patterns: list[tuple[re.Pattern, str]]


# Meta-architecture name (its class name, as META_ARCH_REGISTRY knows it) -> its own names.
_ARCHITECTURE_NAMES = Registry("CHECKPOINT_NAMES")


def register_architecture_names(
    architecture: str,
    rules: Iterable[tuple[str, Replacement]],
    constants: Mapping[str, str] | None = None,
    dropped_patterns: Mapping[str, str] | None = None,
) -> None:
    """Give the models of ``architecture`` their release's own names.

    Args:
        architecture: the meta-architecture's class name (e.g. ``"AVISM"``).
        rules: ``(regex, replacement)`` pairs, tried in order before the shared ``NAME_RULES``;
            a replacement is a template or a function of the match (as ``re.Pattern.sub``).
        constants: checkpoint key -> why it is not loaded (dropped like
            ``ORIGINAL_CONSTANT_BUFFERS``).
        dropped_patterns: regex -> why, for whole groups of keys the model does not load (e.g.
            a release's branch that its forward never calls); matched with ``re.fullmatch``.

    Raises:
        ValueError: ``architecture`` already has names registered.
    """
    if architecture in _ARCHITECTURE_NAMES:
        raise ValueError(f"Checkpoint names of architecture {architecture!r} are already registered")
    _ARCHITECTURE_NAMES.register(
        _ArchitectureNames(
            rules=[(re.compile(pattern), replacement) for pattern, replacement in rules],
            constants=dict(constants or {}),
            dropped_patterns=[(re.compile(pattern), why) for pattern, why in (dropped_patterns or {}).items()],
        ),
        name=architecture,
    )


def _names_of(architecture: str | None) -> tuple[Rules, dict[str, str], list[tuple[re.Pattern, str]]]:
    """The rules (the architecture's, then the shared ones), constants and dropped patterns that apply."""
    if architecture is None or architecture not in _ARCHITECTURE_NAMES:
        return _COMPILED_RULES, ORIGINAL_CONSTANT_BUFFERS, []
    own = _ARCHITECTURE_NAMES.get(architecture)
    return own.rules + _COMPILED_RULES, {**ORIGINAL_CONSTANT_BUFFERS, **own.constants}, own.dropped_patterns


def _why_dropped(key: str, constants: Mapping[str, str], dropped_patterns: list[tuple[re.Pattern, str]]) -> str | None:
    """Why checkpoint ``key`` is not loaded, or None when it is."""
    if key in constants:
        return constants[key]
    return next((why for pattern, why in dropped_patterns if pattern.fullmatch(key)), None)


@dataclass
class ExternalNameMapping:
    """A checkpoint's state dict mapped onto a model's names (``map_external_names``).

    Attributes:
        state_dict: the renamed entries; keys no rule maps keep their names (the loader reports
            them as unexpected). Where several keys map onto one name the first one is kept.
        sources: model name -> the checkpoint keys mapped onto it (one, unless they collide).
        unmapped: checkpoint keys that are no model name and match no rule.
        dropped: checkpoint key -> why it is not loaded (``ORIGINAL_CONSTANT_BUFFERS``, the
            constants and dropped patterns registered for the model's architecture).
    """

    state_dict: dict[str, object] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def collisions(self) -> dict[str, list[str]]:
        """Model names that more than one checkpoint key maps onto."""
        return {name: keys for name, keys in self.sources.items() if len(keys) > 1}


def _model_name(key: str, own: set[str], rules: Rules) -> str | None:
    """The model's name for checkpoint ``key``: itself when the model has it, else the first
    rule's rename; None when no rule matches."""
    if key in own:
        return key
    for pattern, replacement in rules:
        if pattern.fullmatch(key):
            return pattern.sub(replacement, key)
    return None


def _rename(state_dict: Mapping[str, object], own: set[str], mapping: ExternalNameMapping, rules: Rules) -> None:
    for key, value in state_dict.items():
        name = _model_name(key, own, rules)
        if name is None:
            mapping.state_dict.setdefault(key, value)
            mapping.unmapped.append(key)
            continue
        if name != key and name.endswith(_RELATIVE_POSITION_INDEX) and getattr(value, "ndim", 0) == 2:
            value = value.reshape(-1)
        mapping.sources.setdefault(name, []).append(key)
        mapping.state_dict.setdefault(name, value)


def convert_external_names(
    state_dict: Mapping[str, object], model_keys: Iterable[str], architecture: str | None = None
) -> tuple[dict[str, object], list[str]]:
    """Rename ``state_dict`` keys onto the model's names.

    Keys already in ``model_keys`` pass through unchanged, so our own checkpoints load as they
    are. One value changes layout with its name: Swin's ``[W*W, W*W]`` relative position index
    (Mask2Former, the release) becomes torchvision's flattened ``[W^4]`` (same values). Returns
    the renamed dict and the external keys no rule could map (kept under their original names so
    that the loader reports them as unexpected). ``architecture``: the model's meta-architecture
    name, whose registered rules (``register_architecture_names``) come first.
    """
    mapping = ExternalNameMapping()
    _rename(state_dict, set(model_keys), mapping, _names_of(architecture)[0])
    return mapping.state_dict, mapping.unmapped


def map_external_names(
    state_dict: Mapping[str, object], model_keys: Iterable[str], architecture: str | None = None
) -> ExternalNameMapping:
    """What the checkpointer does to every state dict before loading it (and
    ``tools/convert_checkpoint.py`` before writing one): drop the original releases' entries
    that this model does not load (``ORIGINAL_CONSTANT_BUFFERS``, and the constants and dropped
    patterns registered for ``architecture``, when not among ``model_keys``), then rename the
    rest (``convert_external_names``) with the architecture's rules first."""
    own = set(model_keys)
    rules, constants, dropped_patterns = _names_of(architecture)
    mapping = ExternalNameMapping(
        dropped={
            key: why
            for key in state_dict
            if key not in own and (why := _why_dropped(key, constants, dropped_patterns)) is not None
        }
    )
    _rename({key: value for key, value in state_dict.items() if key not in mapping.dropped}, own, mapping, rules)
    return mapping
