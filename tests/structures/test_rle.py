"""The RLE codec of binary masks: the annotation formats it accepts agree, and it round-trips."""
from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from ov_avss.structures.rle import decode_rle, encode_mask, rle_area, segmentation_to_rle


def test_polygon_uncompressed_and_compressed_rle_agree():
    mask = np.zeros((20, 30), np.uint8)
    mask[5:15, 10:20] = 1
    compressed = mask_utils.encode(np.asfortranarray(mask))
    flat = mask.flatten(order="F")
    runs = np.diff(np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])).tolist()
    polygon = [[10, 5, 20, 5, 20, 15, 10, 15]]
    from_compressed = segmentation_to_rle({"size": [20, 30], "counts": compressed["counts"].decode()}, 20, 30, "x")
    from_list = segmentation_to_rle({"size": [20, 30], "counts": runs}, 20, 30, "x")
    from_polygon = segmentation_to_rle(polygon, 20, 30, "x")
    assert np.array_equal(decode_rle(from_compressed, 20, 30), mask.astype(bool))
    assert np.array_equal(decode_rle(from_list, 20, 30), mask.astype(bool))
    # Polygon rasterisation covers the boundary pixels too: it contains the box.
    assert decode_rle(from_polygon, 20, 30)[mask.astype(bool)].all()
    assert segmentation_to_rle(None, 20, 30, "x") is None


def test_encode_decode_round_trip_and_area():
    mask = np.zeros((7, 9), bool)
    mask[2:5, 3:8] = True
    rle = encode_mask(mask)
    assert rle["size"] == [7, 9] and isinstance(rle["counts"], str)
    assert np.array_equal(decode_rle(rle, 7, 9), mask)
    assert rle_area(rle) == 15 and rle_area(None) == 0
    assert not decode_rle(None, 7, 9).any()
    with pytest.raises(ValueError, match="RLE size"):
        segmentation_to_rle(rle, 8, 9, "frame 0")
