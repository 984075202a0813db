"""Segment labels: text in white or black for contrast, on a box of the palette colour, and
never on top of one another."""
from __future__ import annotations

import numpy as np
import torch

from ov_avss.data.palette import PALETTE
from ov_avss.visualization import FrameSegment, draw_segments

H, W = 120, 160


def _box_rows(overlay: np.ndarray, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the pixels painted exactly in ``label``'s palette colour."""
    return np.nonzero((overlay == PALETTE[label]).all(axis=-1))


def test_labels_of_one_place_are_moved_apart_and_readable():
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[40:80, 50:110] = True
    segments = [FrameSegment(label=1, score=0.9, mask=mask), FrameSegment(label=3, score=0.8, mask=mask)]
    # An empty semantic map: only the label boxes carry palette colours.
    overlay = draw_segments(np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.int64), segments, ["dog", "b", "piano"])
    rows_dark, cols_dark = _box_rows(overlay, 1)  # dark red (128, 0, 0)
    rows_light, _ = _box_rows(overlay, 3)  # olive (128, 128, 0)
    assert rows_dark.size and rows_light.size
    assert rows_dark.max() < rows_light.min() or rows_light.max() < rows_dark.min(), "labels overlap"

    dark_box = overlay[rows_dark.min():rows_dark.max() + 1, cols_dark.min():cols_dark.max() + 1]
    assert (dark_box == 255).all(axis=-1).any(), "text on dark red must be white"
    assert not (dark_box == 0).all(axis=-1).any()
    _, cols_light = _box_rows(overlay, 3)
    light_box = overlay[rows_light.min():rows_light.max() + 1, cols_light.min():cols_light.max() + 1]
    assert (light_box == 0).all(axis=-1).any(), "text on olive must be black"
