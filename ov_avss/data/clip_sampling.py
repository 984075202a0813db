"""Which frames of a record make a sample: the windows of a clip (``ClipDataset``) and a
video's training clip (``AVISClipMapper``, the AVISM recipe)."""
from __future__ import annotations

import numpy as np

__all__ = ["clip_windows", "sample_clip"]

_LONG_CLIP_MODES = ("windows", "full")


def clip_windows(num_frames: int, window: int, mode: str) -> list[list[int]]:
    """Frame indices of the samples cut from a clip of ``num_frames`` frames.

    ``"windows"``: consecutive non-overlapping windows of ``window`` frames (the last one may be
    shorter when ``num_frames`` is not a multiple); ``"full"``: the whole clip as one sample.
    """
    if mode not in _LONG_CLIP_MODES:
        raise ValueError(f"Config INPUT.LONG_CLIP_MODE = '{mode}' is not one of {_LONG_CLIP_MODES}")
    if window < 1:
        raise ValueError(f"Config INPUT.SAMPLING_FRAME_NUM must be >= 1, got {window}")
    if mode == "full" or num_frames <= window:
        return [list(range(num_frames))]
    return [list(range(start, min(start + window, num_frames))) for start in range(0, num_frames, window)]


def sample_clip(length: int, num_frames: int, rng: np.random.Generator) -> list[int]:
    """Frame indices of a training clip: ``num_frames`` consecutive frames at a random start.

    A video shorter than the clip repeats its last frame, so clips always hold ``num_frames``.
    """
    if length < 1 or num_frames < 1:
        raise ValueError(f"sample_clip needs length >= 1 and num_frames >= 1, got {length}, {num_frames}")
    start = int(rng.integers(0, max(1, length - num_frames + 1)))
    return [min(start + k, length - 1) for k in range(num_frames)]
