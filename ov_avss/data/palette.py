"""The AVSBench (VOC bit-interleaved) colour palette, every label space's default: label index <->
RGB colour."""
from __future__ import annotations

import numpy as np

PALETTE_SIZE = 256


def _palette_color(index: int) -> tuple[int, int, int]:
    # Bit 0 of the index goes to bit 7 of R, bit 1 to bit 7 of G, bit 2 to bit 7 of B, then
    # bits 3, 4, 5 to bit 6 of R, G, B, and so on.
    red = green = blue = 0
    value = index
    for shift in range(7, -1, -1):
        red |= (value & 1) << shift
        green |= ((value >> 1) & 1) << shift
        blue |= ((value >> 2) & 1) << shift
        value >>= 3
    return red, green, blue


# PALETTE[k] is the RGB colour of label index k, as uint8 [256, 3].
PALETTE: np.ndarray = np.array([_palette_color(k) for k in range(PALETTE_SIZE)], dtype=np.uint8)
PALETTE.setflags(write=False)  # shared by every label space that does not bring its own


def colorize(label_map: np.ndarray, palette: np.ndarray = PALETTE) -> np.ndarray:
    """Label indices ``[H, W]`` (0..255) -> RGB ``[H, W, 3]`` uint8 by ``palette`` ``[256, 3]``."""
    return palette[np.asarray(label_map, dtype=np.int64)]


def rgb_to_label(rgb: np.ndarray, num_labels: int, palette: np.ndarray = PALETTE) -> tuple[np.ndarray, int]:
    """Decode an RGB palette mask ``[H, W, 3]`` into label indices ``[H, W]`` (int64).

    Only indices ``0 .. num_labels - 1`` of ``palette`` ``[256, 3]`` are recognised; any other
    colour is background, as in the AVSBench evaluation. Returns the label map and the number of pixels whose colour was not
    in the palette.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"Expected an RGB mask of shape [H, W, 3], got {rgb.shape}")
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colors = palette[:num_labels].astype(np.int64)
    keys = (colors[:, 0] << 16) | (colors[:, 1] << 8) | colors[:, 2]
    order = np.argsort(keys)
    sorted_keys = keys[order]
    position = np.clip(np.searchsorted(sorted_keys, packed), 0, len(sorted_keys) - 1)
    found = sorted_keys[position] == packed
    labels = np.where(found, order[position], 0)
    return labels.astype(np.int64), int((~found).sum())
