"""Build the frozen open_clip model named by ``MODEL.CLIP_ADAPTER``.

Weights come from a local file in OpenAI's format (TorchScript archive or plain state dict, as
the published ``ViT-B-16.pt`` / ``ViT-L-14-336px.pt``), from an open_clip pretrained tag found in
the offline hub cache, or are random (``RANDOM_INIT``: tests and the synthetic quickstart).
"""
from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path

import open_clip
import torch
from torch import nn

logger = logging.getLogger(__name__)

MODEL_CONFIG_DIR = Path(__file__).with_name("model_configs")
# Our tiny test architecture, available as CLIP_MODEL_NAME "ov-avss-tiny-clip".
open_clip.add_model_config(MODEL_CONFIG_DIR)

# Published CLIP names (OpenAI `clip` package spelling) -> open_clip architecture names.
PUBLISHED_NAMES = {
    "RN50": "RN50",
    "RN101": "RN101",
    "ViT-B/32": "ViT-B-32",
    "ViT-B/16": "ViT-B-16",
    "ViT-L/14": "ViT-L-14",
    "ViT-L/14@336px": "ViT-L-14-336",
}
WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
# Keys the OpenAI TorchScript archives hold besides the parameters.
TORCHSCRIPT_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


def resolve_clip_model_name(name: str) -> str:
    """``"ViT-L/14@336px"`` -> ``"ViT-L-14-336"``; open_clip names pass through.

    Raises:
        ValueError: neither a published nor an open_clip architecture name.
    """
    resolved = PUBLISHED_NAMES.get(name, name)
    if resolved not in open_clip.list_models():
        raise ValueError(
            f"MODEL.CLIP_ADAPTER.CLIP_MODEL_NAME '{name}' is not a published CLIP name "
            f"({sorted(PUBLISHED_NAMES)}) nor an open_clip architecture"
        )
    return resolved


def _looks_like_path(value: str) -> bool:
    return os.sep in value or value.endswith(WEIGHT_FILE_SUFFIXES)


def load_openai_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Parameters of an OpenAI CLIP ``.pt`` file: TorchScript archive or ``torch.save``d dict."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            is_torchscript = any(name.endswith("constants.pkl") for name in archive.namelist())
        if is_torchscript:
            state_dict = torch.jit.load(path, map_location="cpu").state_dict()
            return {k: v for k, v in state_dict.items() if k not in TORCHSCRIPT_EXTRA_KEYS}
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict):
        raise ValueError(f"CLIP weight file {path} holds a {type(checkpoint).__name__}, not a state dict")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in checkpoint.items()}


def build_clip_model(cfg) -> tuple[nn.Module, str]:
    """The frozen CLIP model (eval mode, no gradients) and its open_clip architecture name.

    Raises:
        FileNotFoundError: ``CLIP_PRETRAINED`` names a file that does not exist.
        RuntimeError: the weights do not fit the architecture, or a tag is not in the cache.
    """
    adapter = cfg.MODEL.CLIP_ADAPTER
    arch = resolve_clip_model_name(adapter.CLIP_MODEL_NAME)
    pretrained = adapter.CLIP_PRETRAINED
    if adapter.RANDOM_INIT:
        logger.warning(
            "MODEL.CLIP_ADAPTER.RANDOM_INIT is set: CLIP '%s' has random weights (CLIP_PRETRAINED "
            "'%s' is not read); only for tests and synthetic data", arch, pretrained,
        )
        model = open_clip.create_model(arch, pretrained=None)
    elif os.path.isfile(pretrained):
        # The published local files are OpenAI weights, which were trained with QuickGELU.
        model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)
        state_dict = load_openai_state_dict(pretrained)
        incompatible = model.load_state_dict(state_dict, strict=False)
        if incompatible.missing_keys or incompatible.unexpected_keys:
            raise RuntimeError(
                f"CLIP weights {pretrained} (MODEL.CLIP_ADAPTER.CLIP_PRETRAINED) do not fit "
                f"architecture '{arch}': missing {incompatible.missing_keys[:5]}, unexpected "
                f"{incompatible.unexpected_keys[:5]}"
            )
    elif _looks_like_path(pretrained) or not pretrained:
        raise FileNotFoundError(
            f"MODEL.CLIP_ADAPTER.CLIP_PRETRAINED: CLIP weight file '{pretrained}' not found "
            "(set MODEL.CLIP_ADAPTER.RANDOM_INIT True for random weights)"
        )
    else:
        tag_cfg = open_clip.get_pretrained_cfg(arch, pretrained)
        if not tag_cfg:
            raise ValueError(
                f"MODEL.CLIP_ADAPTER.CLIP_PRETRAINED '{pretrained}' is neither a file nor an open_clip "
                f"tag of '{arch}' (tags: {open_clip.list_pretrained_tags_by_model(arch)})"
            )
        try:
            model = open_clip.create_model(
                arch, pretrained=pretrained, force_quick_gelu=bool(tag_cfg.get("quick_gelu", False))
            )
        except RuntimeError as error:
            raise RuntimeError(
                f"MODEL.CLIP_ADAPTER.CLIP_PRETRAINED tag '{pretrained}' of '{arch}' could not be "
                f"loaded from the hub cache (offline): {error}"
            ) from error
    model.eval()
    model.requires_grad_(False)
    # Built from MODEL.CLIP_ADAPTER.CLIP_PRETRAINED: checkpoints need not carry its weights
    # (ov_avss.checkpoint.checkpointer.self_loaded_frozen_modules).
    model.self_loaded_weights = True
    return model, arch
