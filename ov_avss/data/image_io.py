"""Reading frames and masks from disk, with errors that name the file, and writing label maps as
palette PNGs."""
from __future__ import annotations

import logging
import os

import cv2
import numpy as np
from PIL import Image

from ..utils.file_io import atomic_open
from .palette import PALETTE, PALETTE_SIZE, rgb_to_label

logger = logging.getLogger(__name__)

# Real AVSBench masks carry a few anti-aliased or stray colours; they count as background. The
# first few files are logged by name, later ones only as a running count.
_MAX_NAMED_WARNINGS = 20


class _UnknownColourWarnings:
    """Counts mask files with colours outside the palette; names the first
    ``_MAX_NAMED_WARNINGS`` of them, then logs a running count every 1000 files."""

    def __init__(self) -> None:
        self.num_files = 0

    def report(self, path: str, num_pixels: int) -> None:
        self.num_files += 1
        if self.num_files <= _MAX_NAMED_WARNINGS:
            logger.warning(
                "Mask %s has %d pixels whose colour is not in the palette; they are background.",
                path, num_pixels,
            )
        elif self.num_files % 1000 == 0:
            logger.warning("%d mask files so far had colours outside the palette.", self.num_files)


_unknown_colours = _UnknownColourWarnings()


def reset_unknown_colour_warnings() -> None:
    """Start counting afresh, so that the next files with unknown colours are named again
    whatever this process read before (tests use it to be independent of their order)."""
    _unknown_colours.num_files = 0


# Binary masks with values other than 0 / 255 (or 0 / 1) already reported, by file name.
_soft_mask_files: set[str] = set()


def read_frame(path: str) -> np.ndarray:
    """An RGB frame ``[H, W, 3]`` uint8.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a decodable image.
    """
    image = _imread(path, cv2.IMREAD_COLOR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_palette_mask(path: str, num_labels: int, palette: np.ndarray = PALETTE) -> np.ndarray:
    """Decode a palette mask (RGB, or indexed as ``write_palette_png`` writes it) into label
    indices ``[H, W]`` int64 (0 = background).

    Colours outside the first ``num_labels`` entries of ``palette`` ``[256, 3]`` are background;
    they are counted and reported as warnings naming the file.
    """
    image = _imread(path, cv2.IMREAD_COLOR)
    labels, num_unknown = rgb_to_label(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), num_labels, palette)
    if num_unknown:
        _unknown_colours.report(path, num_unknown)
    return labels


def write_palette_png(path: str, label_map: np.ndarray, palette: np.ndarray = PALETTE) -> None:
    """Write label indices ``[H, W]`` (0..255) as an indexed PNG whose colour table is
    ``palette`` ``[256, 3]``, atomically (readers never see a partial file).

    Viewers show the palette colours and ``read_palette_mask`` reads the labels back; the file
    stores the label itself, so ``PIL.Image.open(path)`` gives the label map directly.
    """
    label_map = np.asarray(label_map)
    if label_map.ndim != 2:
        raise ValueError(f"{path}: a label map must be [H, W], got shape {label_map.shape}")
    low, high = int(label_map.min(initial=0)), int(label_map.max(initial=0))
    if low < 0 or high >= PALETTE_SIZE:
        raise ValueError(f"{path}: label indices must lie in 0..{PALETTE_SIZE - 1}, got {low}..{high}")
    image = Image.fromarray(label_map.astype(np.uint8), mode="P")
    image.putpalette(np.asarray(palette, dtype=np.uint8).reshape(-1).tolist())
    with atomic_open(path, "wb") as f:
        image.save(f, format="PNG")


def read_grey_image(path: str) -> np.ndarray:
    """A single-channel image ``[H, W]`` uint8 (colour images are converted to grey)."""
    return _imread(path, cv2.IMREAD_GRAYSCALE)


def read_binary_mask(path: str) -> np.ndarray:
    """A 0/255 (or 0/1) mask as ``[H, W]`` int64 with values 0/1 (threshold at half range).

    Other values (anti-aliased edges) are thresholded at > 127 and warned about once per file:
    the AVSBench release reads S4 masks with PIL ``convert('1')`` and MS3 masks as soft values
    (``convert('P')`` + ``ToTensor``), so such masks score differently there.
    """
    image = read_grey_image(path)
    high = int(image.max(initial=0))
    binary = (image == 0) | (image == (1 if high <= 1 else 255))
    if not binary.all() and path not in _soft_mask_files:
        _soft_mask_files.add(path)
        logger.warning(
            "Binary mask %s has %d pixels with values other than 0 / %d; thresholded at > 127.",
            path, int((~binary).sum()), 1 if high <= 1 else 255,
        )
    threshold = 0 if high <= 1 else 127
    return (image > threshold).astype(np.int64)


def _imread(path: str, flags: int) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Image file not found: {path}")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise ValueError(f"Cannot decode image file {path} (corrupt or not an image)")
    return image
