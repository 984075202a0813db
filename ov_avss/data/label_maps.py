"""Reading a record's ground-truth label maps (the mapper's test targets, and the ground truth
that ``evaluation.prediction_files`` scores exported predictions against)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .label_space import LabelSpace


def read_label_maps(
    record: dict, frame_indices: Sequence[int], label_space: LabelSpace, size: tuple[int, int] | None = None
) -> np.ndarray:
    """The ground truth of ``record``'s frames ``frame_indices`` in the dataset's own labels:
    int64 ``[T, H, W]``, the ignore label on frames without a mask (``mask_paths[t]`` None).

    Args:
        size: ``(H, W)`` of the frames, which every mask must have; ``None``: the first mask's.

    Raises:
        ValueError: a mask's size differs (naming the mask and the frame or mask it differs from),
            or ``size`` is None and no frame has a mask.
    """
    paths = record["mask_paths"]
    masks = {t: label_space.read_mask(paths[t]) for t in frame_indices if paths[t] is not None}
    if size is None:
        if not masks:
            raise ValueError(
                f"Video {record['uid']}: no mask among frames {list(frame_indices)} gives the label-map size"
            )
        first = next(iter(masks))
        size = masks[first].shape
        reference = {t: f"mask {paths[first]}" for t in masks}
    else:
        reference = {t: f"frame {record['frame_paths'][t]}" for t in masks}
    labels = np.full((len(frame_indices), *size), label_space.ignore_label, dtype=np.int64)
    for slot, t in enumerate(frame_indices):
        if t not in masks:
            continue
        if masks[t].shape != tuple(size):
            raise ValueError(
                f"Mask {paths[t]} is {masks[t].shape[1]}x{masks[t].shape[0]} but its "
                f"{reference[t]} is {size[1]}x{size[0]}"
            )
        labels[slot] = masks[t]
    return labels
