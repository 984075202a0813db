"""Colours of instance tracks: one fixed colour per track id, so a track keeps its colour in every
frame, in the overlay video and in the track-id PNGs alike."""
from __future__ import annotations

import colorsys

import numpy as np

from ov_avss.data.palette import PALETTE_SIZE

# Track-id PNGs hold one byte per pixel and id 0 is background.
MAX_TRACK_ID = PALETTE_SIZE - 1
# Hues of consecutive ids step by the golden ratio's fractional part, which keeps any run of
# ids spread round the colour wheel (no two close ids get close hues).
_HUE_STEP = (5 ** 0.5 - 1) / 2
_SATURATION = 0.8
# Alternating brightness separates ids whose hues still come out near each other.
_VALUES = (0.95, 0.75)


def track_color(track_id: int) -> np.ndarray:
    """The RGB colour of track ``track_id`` (1..255), uint8 ``[3]``; the same for every call.

    Raises:
        ValueError: ``track_id`` is outside 1..255 (0 is the background of track-id maps).
    """
    if not 1 <= track_id <= MAX_TRACK_ID:
        raise ValueError(f"Track ids run from 1 to {MAX_TRACK_ID} (0 is background), got {track_id}")
    hue = (track_id * _HUE_STEP) % 1.0
    rgb = colorsys.hsv_to_rgb(hue, _SATURATION, _VALUES[track_id % 2])
    return np.array([round(255 * c) for c in rgb], dtype=np.uint8)


def track_palette() -> np.ndarray:
    """uint8 ``[256, 3]``: index 0 black (background), index k ``track_color(k)``; the colour
    table of track-id maps for ``draw_segments`` and ``write_palette_png``."""
    palette = np.zeros((PALETTE_SIZE, 3), dtype=np.uint8)
    for track_id in range(1, PALETTE_SIZE):
        palette[track_id] = track_color(track_id)
    return palette
