"""Which frames of a record make a sample: the windows of a video (``WindowDataset``) and a
video's training window (``AVISVideoMapper``, the AVISM recipe)."""
from __future__ import annotations

import numpy as np

__all__ = ["video_windows", "sample_window"]

_LONG_CLIP_MODES = ("windows", "full")


def video_windows(num_frames: int, window: int, mode: str) -> list[list[int]]:
    """Frame indices of the samples cut from a video of ``num_frames`` frames.

    ``"windows"``: consecutive non-overlapping windows of ``window`` frames (the last one may be
    shorter when ``num_frames`` is not a multiple); ``"full"``: the whole video as one sample.
    """
    if mode not in _LONG_CLIP_MODES:
        raise ValueError(f"Config INPUT.LONG_CLIP_MODE = '{mode}' is not one of {_LONG_CLIP_MODES}")
    if window < 1:
        raise ValueError(f"Config INPUT.SAMPLING_FRAME_NUM must be >= 1, got {window}")
    if mode == "full" or num_frames <= window:
        return [list(range(num_frames))]
    return [list(range(start, min(start + window, num_frames))) for start in range(0, num_frames, window)]


def sample_window(length: int, num_frames: int, rng: np.random.Generator) -> list[int]:
    """Frame indices of a training window: ``num_frames`` consecutive frames at a random start.

    A video shorter than the window repeats its last frame, so windows always hold ``num_frames``.
    """
    if length < 1 or num_frames < 1:
        raise ValueError(f"sample_window needs length >= 1 and num_frames >= 1, got {length}, {num_frames}")
    start = int(rng.integers(0, max(1, length - num_frames + 1)))
    return [min(start + k, length - 1) for k in range(num_frames)]
