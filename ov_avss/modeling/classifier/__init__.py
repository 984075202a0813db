"""Open-vocabulary classification of mask proposals with a frozen open_clip model."""
from .clip_loader import build_clip_model, resolve_clip_model_name
from .ensemble_head import TextSpaceQueryHead, geometric_ensemble
from .open_vocabulary_classifier import OpenVocabularyClassifier
from .region_classifier import ClipRegionClassifier, square_boxes_from_masks
from .templates import IMAGENET_TEMPLATES, VILD_TEMPLATES, get_prompt_templates

__all__ = [
    "ClipRegionClassifier",
    "IMAGENET_TEMPLATES",
    "OpenVocabularyClassifier",
    "TextSpaceQueryHead",
    "VILD_TEMPLATES",
    "build_clip_model",
    "geometric_ensemble",
    "get_prompt_templates",
    "resolve_clip_model_name",
    "square_boxes_from_masks",
]
