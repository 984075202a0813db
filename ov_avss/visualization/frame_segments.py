"""Splitting a frame's semantic map into the scored segments that painted it."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FrameSegment:
    """The pixels of one predicted segment that are visible in one frame's semantic map."""

    label: int  # semantic-map label (0 = background): position in the names drawn + 1
    score: float
    mask: torch.Tensor  # bool [H, W]


def visible_frame_segments(sem_seg: torch.Tensor, segments: dict, frame: int) -> list[FrameSegment]:
    """The segments of one frame, each restricted to the pixels its category holds in ``sem_seg``.

    A pixel of category ``k`` in the semantic map is given to the highest-scoring segment with
    label ``k - 1`` whose mask covers it, so the segments of a category are disjoint and together
    cover the category's pixels. Segments with no visible pixel in this frame are left out.

    Args:
        sem_seg: int64 ``[H, W]``, the frame's semantic map (0 = background).
        segments: the model's ``segments`` output: ``scores [K]``, ``labels [K]`` (0-based),
            ``masks`` bool ``[K, T, H, W]``.
        frame: index ``t`` of the frame within the model's window.

    Returns:
        Segments in descending score order.
    """
    scores = segments["scores"]
    if scores.numel() == 0:
        return []
    order = torch.argsort(scores, descending=True)
    labels = segments["labels"][order] + 1
    masks = segments["masks"][order, frame].to(sem_seg.device)
    candidates = masks & (sem_seg[None] == labels[:, None, None].to(sem_seg.device))
    # Keep each pixel for the first (highest-scoring) candidate only.
    visible = candidates & (candidates.cumsum(dim=0) == 1)
    keep = visible.flatten(1).any(dim=1)
    return [
        FrameSegment(label=int(label), score=float(score), mask=mask)
        for label, score, mask in zip(labels[keep], scores[order][keep], visible[keep])
    ]
