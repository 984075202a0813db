"""Drawing predicted segments over a frame: palette colours, outlines, names and scores."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ov_avss.data.palette import PALETTE

from .frame_segments import FrameSegment

MASK_OPACITY = 0.5
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_segments(
    image: np.ndarray, sem_seg: np.ndarray, segments: Sequence[FrameSegment], vocabulary: Sequence[str]
) -> np.ndarray:
    """Overlay a frame's prediction.

    Args:
        image: RGB uint8 ``[H, W, 3]``.
        sem_seg: int ``[H, W]``, 0 = background, k = ``vocabulary[k - 1]``.
        segments: the frame's visible segments (see ``visible_frame_segments``).
        vocabulary: the category names.

    Returns:
        RGB uint8 ``[H, W, 3]``: labelled pixels blended with their palette colour, category
        outlines, and ``name score`` at each segment's centre.
    """
    colors = PALETTE[sem_seg].astype(np.float32)
    labelled = (sem_seg > 0)[..., None]
    blended = np.where(labelled, (1 - MASK_OPACITY) * image + MASK_OPACITY * colors, image)
    overlay = np.ascontiguousarray(blended.round().astype(np.uint8))

    # Outlines where the label changes between neighbouring pixels.
    edges = np.zeros(sem_seg.shape, dtype=bool)
    edges[:-1] |= sem_seg[:-1] != sem_seg[1:]
    edges[:, :-1] |= sem_seg[:, :-1] != sem_seg[:, 1:]
    overlay[edges & (sem_seg > 0)] = PALETTE[sem_seg[edges & (sem_seg > 0)]]

    height, width = sem_seg.shape
    font_scale = max(0.3, min(height, width) / 600)
    thickness = max(1, int(round(font_scale * 2)))
    for segment in segments:
        rows, cols = np.nonzero(segment.mask.cpu().numpy())
        text = f"{vocabulary[segment.label - 1]} {segment.score:.2f}"
        (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
        x = int(np.clip(cols.mean() - text_width / 2, 0, max(0, width - text_width)))
        y = int(np.clip(rows.mean() + text_height / 2, text_height, height - baseline))
        color = tuple(int(c) for c in PALETTE[segment.label])
        cv2.rectangle(overlay, (x, y - text_height - 1), (x + text_width, y + baseline), (0, 0, 0), -1)
        cv2.putText(overlay, text, (x, y), _FONT, font_scale, color, thickness, cv2.LINE_AA)
    return overlay
