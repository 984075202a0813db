"""The segments: the one prediction structure every model returns, semantic and instance
models alike (docs/architecture.md, "Model outputs")."""
from __future__ import annotations

from typing import Any

import torch

# The key of the segments in a model's per-window output.
SEGMENTS = "segments"


def output_segments(output: dict[str, Any], where: str) -> dict[str, torch.Tensor]:
    """The checked ``segments`` of one model output: ``scores`` float ``[K]``, ``labels`` int64
    ``[K]`` (0-based: ``labels[k]`` names ``vocabulary[labels[k]]`` of the window, or the model's
    class ``labels[k]`` for a closed-set model) and ``masks`` bool ``[K, T, H0, W0]`` at the
    window's original frame size.

    Args:
        where: names the window or video in error messages.

    Raises:
        KeyError: the output has no ``segments`` or they lack a key.
        ValueError: the three disagree in K, or a dtype or rank is wrong.
    """
    if SEGMENTS not in output:
        raise KeyError(f"{where}: the model output has no '{SEGMENTS}' (keys {sorted(output)})")
    segments = output[SEGMENTS]
    missing = [key for key in ("scores", "labels", "masks") if key not in segments]
    if missing:
        raise KeyError(f"{where}: the model's '{SEGMENTS}' lack {missing} (keys {sorted(segments)})")
    scores, labels, masks = segments["scores"], segments["labels"], segments["masks"]
    if (
        scores.dim() != 1 or not scores.is_floating_point()
        or tuple(labels.shape) != tuple(scores.shape) or labels.dtype != torch.int64
        or masks.dim() != 4 or masks.dtype != torch.bool or masks.shape[0] != scores.shape[0]
    ):
        raise ValueError(
            f"{where}: '{SEGMENTS}' must hold scores float [K], labels int64 [K] and masks bool "
            f"[K, T, H, W]; got scores {scores.dtype} {tuple(scores.shape)}, labels {labels.dtype} "
            f"{tuple(labels.shape)}, masks {masks.dtype} {tuple(masks.shape)}"
        )
    return segments
