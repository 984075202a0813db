"""Prompt templates that turn a category name into CLIP text prompts."""
from __future__ import annotations

from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

# The 14 detection prompts of ViLD (Gu et al., 2022).
VILD_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
)

# The 80 ImageNet prompts of CLIP (Radford et al., 2021), as open_clip ships them.
IMAGENET_TEMPLATES: tuple[str, ...] = tuple(template("{}") for template in OPENAI_IMAGENET_TEMPLATES)

SINGLE_TEMPLATES: tuple[str, ...] = ("a photo of a {}.",)


def get_prompt_templates(prompt_name: str, predefined: list[str] | tuple[str, ...] = ()) -> tuple[str, ...]:
    """Templates for ``MODEL.CLIP_ADAPTER.PROMPT_NAME``.

    ``"vild"``, ``"imagenet"`` and ``"single"`` are built in; ``"predefined"`` returns
    ``predefined`` (``MODEL.CLIP_ADAPTER.PREDEFINED_PROMPT_TEMPLATES``), each of which must hold
    exactly one ``{}`` placeholder for the name.
    """
    builtin = {"vild": VILD_TEMPLATES, "imagenet": IMAGENET_TEMPLATES, "single": SINGLE_TEMPLATES}
    if prompt_name in builtin:
        return builtin[prompt_name]
    if prompt_name != "predefined":
        raise ValueError(
            f"MODEL.CLIP_ADAPTER.PROMPT_NAME is '{prompt_name}'; expected one of "
            f"{sorted(builtin) + ['predefined']}"
        )
    templates = tuple(predefined)
    if not templates:
        raise ValueError("MODEL.CLIP_ADAPTER.PROMPT_NAME is 'predefined' but PREDEFINED_PROMPT_TEMPLATES is empty")
    for template in templates:
        if template.count("{}") != 1:
            raise ValueError(
                f"MODEL.CLIP_ADAPTER.PREDEFINED_PROMPT_TEMPLATES entry {template!r} must contain exactly one '{{}}'"
            )
    return templates


def split_name_words(category: str) -> str:
    """AVSBench joins words with '-' ("emergency-car"): the name with spaces instead."""
    return category.replace("-", " ").replace("_", " ")
