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
    image: np.ndarray,
    sem_seg: np.ndarray,
    segments: Sequence[FrameSegment],
    names: Sequence[str],
    palette: np.ndarray = PALETTE,
) -> np.ndarray:
    """Overlay a frame's prediction.

    Args:
        image: RGB uint8 ``[H, W, 3]``.
        sem_seg: int ``[H, W]``, 0 = background, k = ``names[k - 1]``.
        segments: the frame's visible segments (see ``visible_frame_segments``), labels as in
            ``sem_seg``.
        names: the category names (a vocabulary, or a label space's ``category_names``).
        palette: uint8 ``[256, 3]``, the colour of each label.

    Returns:
        RGB uint8 ``[H, W, 3]``: labelled pixels blended with their palette colour, category
        outlines, and ``name score`` near each segment's centre, in white or black (whichever
        reads better) on a box of the palette colour; labels are moved apart so that none
        covers another.
    """
    colors = palette[sem_seg].astype(np.float32)
    labelled = (sem_seg > 0)[..., None]
    blended = np.where(labelled, (1 - MASK_OPACITY) * image + MASK_OPACITY * colors, image)
    overlay = np.ascontiguousarray(blended.round().astype(np.uint8))

    # Outlines where the label changes between neighbouring pixels.
    edges = np.zeros(sem_seg.shape, dtype=bool)
    edges[:-1] |= sem_seg[:-1] != sem_seg[1:]
    edges[:, :-1] |= sem_seg[:, :-1] != sem_seg[:, 1:]
    overlay[edges & (sem_seg > 0)] = palette[sem_seg[edges & (sem_seg > 0)]]

    height, width = sem_seg.shape
    font_scale = max(0.3, min(height, width) / 600)
    thickness = max(1, int(round(font_scale * 2)))
    placed: list[tuple[int, int, int, int]] = []
    for segment in segments:
        rows, cols = np.nonzero(segment.mask.cpu().numpy())
        text = f"{names[segment.label - 1]} {segment.score:.2f}"
        (text_width, text_height), baseline = cv2.getTextSize(text, _FONT, font_scale, thickness)
        box_height = text_height + baseline + 2
        x = int(np.clip(cols.mean() - text_width / 2, 0, max(0, width - text_width)))
        top = _free_top(int(rows.mean() - box_height / 2), x, text_width, box_height, height, placed)
        placed.append((x, top, x + text_width, top + box_height))
        box_color = palette[segment.label]
        cv2.rectangle(overlay, (x, top), (x + text_width, top + box_height - 1), tuple(int(c) for c in box_color), -1)
        cv2.putText(
            overlay, text, (x, top + 1 + text_height), _FONT, font_scale, _text_color(box_color), thickness, cv2.LINE_AA
        )
    return overlay


def _text_color(background: np.ndarray) -> tuple[int, int, int]:
    """White or black, whichever contrasts more with ``background`` (RGB): WCAG relative
    luminance, where black wins above about 0.18."""
    linear = background.astype(np.float64) / 255.0
    linear = np.where(linear <= 0.04045, linear / 12.92, ((linear + 0.055) / 1.055) ** 2.4)
    luminance = float(linear @ np.array([0.2126, 0.7152, 0.0722]))
    # Contrast ratios (L1 + 0.05) / (L2 + 0.05) against white (L = 1) and black (L = 0).
    return (0, 0, 0) if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else (255, 255, 255)


def _free_top(
    top: int, x: int, box_width: int, box_height: int, image_height: int, placed: list[tuple[int, int, int, int]]
) -> int:
    """A top row near ``top`` where a ``box_width x box_height`` label at ``x`` overlaps no
    label already ``placed`` (boxes ``(x0, y0, x1, y1)``): tries rows one box height further
    down, then up; the clamped ``top`` when the frame has no free row."""
    highest = max(0, image_height - box_height)

    def overlaps(y: int) -> bool:
        return any(x < x1 and x0 < x + box_width and y < y1 and y0 < y + box_height for x0, y0, x1, y1 in placed)

    start = int(np.clip(top, 0, highest))
    for step in range(image_height // max(1, box_height) + 1):
        for candidate in (start + step * box_height, start - step * box_height):
            if 0 <= candidate <= highest and not overlaps(candidate):
                return candidate
    return start
