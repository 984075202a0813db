"""Which frames of a video make a training clip (the AVISM recipe)."""
from __future__ import annotations

import numpy as np

__all__ = ["sample_clip"]


def sample_clip(length: int, num_frames: int, rng: np.random.Generator) -> list[int]:
    """Frame indices of a training clip: ``num_frames`` consecutive frames at a random start.

    A video shorter than the clip repeats its last frame, so clips always hold ``num_frames``.
    """
    if length < 1 or num_frames < 1:
        raise ValueError(f"sample_clip needs length >= 1 and num_frames >= 1, got {length}, {num_frames}")
    start = int(rng.integers(0, max(1, length - num_frames + 1)))
    return [min(start + k, length - 1) for k in range(num_frames)]
