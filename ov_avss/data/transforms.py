"""Resizing and cropping frames and label maps: the window-consistent resizes and crops of the
mappers and the one test-time resize shared by the mappers and the demo."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# INPUT.CROP.TYPE values: detectron2's RandomCrop types that take sizes in pixels, and a centred
# crop of (h, w) (torchvision's CenterCrop; AVSBench's AVSS training frames).
CROP_TYPES = ("absolute", "absolute_range", "absolute_center")


def crop_config(cfg) -> tuple[bool, str, tuple[int, int]]:
    """``INPUT.CROP``'s ``(ENABLED, TYPE, SIZE)``, checked.

    Raises:
        ValueError: an unknown ``TYPE``, or a ``SIZE`` that is not two positive pixel counts
            (``low <= high`` for ``absolute_range``); the message names the key.
    """
    crop = cfg.INPUT.CROP
    crop_type, size = crop.TYPE, tuple(crop.SIZE)
    if crop_type not in CROP_TYPES:
        raise ValueError(f"Config INPUT.CROP.TYPE = {crop_type!r} is not supported; expected one of {CROP_TYPES}")
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size) or (
        crop_type == "absolute_range" and size[0] > size[1]
    ):
        expected = "(min, max) with 0 < min <= max" if crop_type == "absolute_range" else "(height, width) > 0"
        raise ValueError(f"Config INPUT.CROP.SIZE = {size!r} is not valid for TYPE {crop_type!r}; expected {expected}")
    return bool(crop.ENABLED), crop_type, (int(size[0]), int(size[1]))


def random_crop_box(
    height: int, width: int, crop_type: str, crop_size: tuple[int, int], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """A crop ``(top, left, crop_height, crop_width)`` of a ``height x width`` image.

    ``"absolute"``: ``crop_size`` is ``(h, w)``; ``"absolute_range"``: each side is drawn from
    ``[crop_size[0], crop_size[1]]`` (detectron2's ``RandomCrop``); never larger than the image.
    ``"absolute_center"``: ``(h, w)`` at the centre, rounded as torchvision's ``CenterCrop``
    (draws nothing from ``rng``).
    """
    if crop_type == "absolute_center":
        crop_h, crop_w = min(crop_size[0], height), min(crop_size[1], width)
        return int(round((height - crop_h) / 2.0)), int(round((width - crop_w) / 2.0)), crop_h, crop_w
    if crop_type == "absolute":
        crop_h, crop_w = crop_size
    elif crop_type == "absolute_range":
        low, high = crop_size
        crop_h = int(rng.integers(min(height, low), min(height, high) + 1))
        crop_w = int(rng.integers(min(width, low), min(width, high) + 1))
    else:
        raise ValueError(f"Config INPUT.CROP.TYPE = {crop_type!r} is not supported; expected one of {CROP_TYPES}")
    crop_h, crop_w = min(crop_h, height), min(crop_w, width)
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    return top, left, crop_h, crop_w


def resized_shape(height: int, width: int, short_side: int, max_size: int) -> tuple[int, int]:
    """Output ``(height, width)`` when the short side becomes ``short_side`` and the long side
    stays within ``max_size`` (detectron2's ``ResizeShortestEdge`` rounding)."""
    scale = short_side / min(height, width)
    if max(height, width) * scale > max_size:
        scale = max_size / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 ``[T, 3, H, W]`` -> uint8 ``[T, 3, h, w]`` (bilinear, antialiased when shrinking)."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    shrinking = size[0] < frames.shape[-2] or size[1] < frames.shape[-1]
    resized = F.interpolate(frames.float(), size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """int64 ``[T, H, W]`` -> int64 ``[T, h, w]`` (nearest)."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    return F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()


def fixed_size(cfg, key: str) -> tuple[int, int] | None:
    """``INPUT.<key>`` (``FIXED_SIZE_TRAIN`` / ``FIXED_SIZE_TEST``) as ``(height, width)``, or
    None when empty.

    Raises:
        ValueError: not two positive pixel counts (the message names the key).
    """
    size = tuple(cfg.INPUT[key])
    if not size:
        return None
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ValueError(f"Config INPUT.{key} = {size!r} must be () or (height, width) > 0")
    return int(size[0]), int(size[1])


def resize_for_test(
    frames: torch.Tensor, min_size: int, max_size: int, fixed: tuple[int, int] | None = None
) -> torch.Tensor:
    """The test-time resize of uint8 frames ``[T, 3, H, W]``: to ``fixed`` ``(h, w)`` exactly
    (``INPUT.FIXED_SIZE_TEST``, aspect ratio not kept) when given, else the short side to
    ``min_size`` within ``max_size`` (``INPUT.MIN_SIZE_TEST`` / ``MAX_SIZE_TEST``); the same for
    dataset windows, AVISeg videos and demo windows, so that equal frames give equal maps."""
    if fixed is not None:
        return resize_frames(frames, fixed)
    height, width = frames.shape[-2:]
    return resize_frames(frames, resized_shape(int(height), int(width), min_size, max_size))
