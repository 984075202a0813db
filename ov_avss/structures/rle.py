"""Compressed run-length encoding (COCO RLE) of binary masks: the codec of AVISeg's annotation
and prediction files and of the track demo's output."""
from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

__all__ = ["decode_rle", "encode_mask", "rle_area", "segmentation_to_rle"]


def segmentation_to_rle(segmentation: Any, height: int, width: int, where: str) -> dict | None:
    """One frame's segmentation as compressed RLE ``{"size": [H, W], "counts": str}``, or None.

    Accepts compressed RLE (``counts`` a string), uncompressed RLE (``counts`` a list),
    polygons (a list of flat ``[x0, y0, x1, y1, ...]`` lists) and null. ``where`` names the
    entry in error messages.
    """
    if segmentation is None:
        return None
    if isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not (isinstance(size, (list, tuple)) and len(size) == 2) or counts is None:
            raise ValueError(f"{where}: an RLE needs 'size' [H, W] and 'counts', got keys {sorted(segmentation)}")
        if [int(size[0]), int(size[1])] != [height, width]:
            raise ValueError(f"{where}: RLE size {list(size)} differs from the video's [{height}, {width}]")
        if isinstance(counts, list):
            rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
        elif isinstance(counts, (str, bytes)):
            rle = {"size": [height, width], "counts": counts}
        else:
            raise ValueError(f"{where}: RLE 'counts' must be a string or a list, got {type(counts).__name__}")
    elif isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
        if len(polygons) != len(segmentation):
            raise ValueError(f"{where}: polygons must be flat lists of >= 3 (x, y) points")
        if not polygons:
            return None
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    else:
        raise ValueError(f"{where}: expected an RLE dict, a polygon list or null, got {type(segmentation).__name__}")
    counts = rle["counts"]
    return {"size": [height, width], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def rle_area(rle: dict | None) -> int:
    """Foreground pixels of a compressed RLE (0 for None); exact at any resolution."""
    return 0 if rle is None else int(mask_utils.area(rle))


def decode_rle(rle: dict | None, height: int, width: int) -> np.ndarray:
    """``[H, W]`` bool mask of a compressed RLE (all False for None)."""
    if rle is None:
        return np.zeros((height, width), dtype=bool)
    return mask_utils.decode(rle).astype(bool)


def encode_mask(mask: np.ndarray) -> dict:
    """Compressed RLE (JSON-ready, ``counts`` a str) of an ``[H, W]`` bool mask."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": rle["counts"].decode("ascii")}
