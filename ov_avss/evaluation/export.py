"""Writing predictions as PNGs at ``<out>/<uid>/<frame>.png``: palette images of semantic label
maps (``ov_avss.data.image_io.write_palette_png``), 8-bit grey images (sounding probability x 255)
for S4 / MS3."""
from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np
import torch

from ..data.image_io import read_grey_image, write_palette_png
from ..utils.file_io import atomic_open

# A grey prediction PNG holds round(probability * PROBABILITY_SCALE).
PROBABILITY_SCALE = 255


def _frame_path(out_dir: str, uid: str, frame_index: int) -> str:
    return os.path.join(out_dir, uid, f"{int(frame_index)}.png")


def _write_grey_pngs(out_dir: str, uid: str, frame_indices: Sequence[int], images: np.ndarray) -> list[str]:
    """Encode ``images`` (``[T, H, W]`` grey uint8) one PNG per frame,
    each written to a temporary name and moved into place (readers never see a partial PNG)."""
    paths = []
    for frame_index, image in zip(frame_indices, images):
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise RuntimeError(f"OpenCV could not encode the prediction of window {uid} frame {frame_index}")
        path = _frame_path(out_dir, uid, frame_index)
        with atomic_open(path, "wb") as f:
            f.write(encoded.tobytes())
        paths.append(path)
    return paths


def _check_frames(maps: torch.Tensor, frame_indices: Sequence[int], what: str) -> None:
    if maps.ndim != 3 or maps.shape[0] != len(frame_indices):
        raise ValueError(f"{what} must be [T, H, W] with T = {len(frame_indices)} frames, got {tuple(maps.shape)}")


def export_predictions(
    out_dir: str, uid: str, frame_indices: Sequence[int], label_maps: torch.Tensor, palette: np.ndarray
) -> list[str]:
    """Write one palette PNG per frame and return the paths.

    Args:
        out_dir: root of the exported predictions.
        uid: the video folder name (the window's record).
        frame_indices: frame number of each map (the file name, as in ``labels_rgb/<t>.png``).
        label_maps: int ``[T, H, W]`` in the dataset's labels (palette index = label).
        palette: the label space's colours, uint8 ``[256, 3]``.
    """
    _check_frames(label_maps, frame_indices, "label_maps")
    paths = []
    for frame_index, label_map in zip(frame_indices, label_maps.detach().cpu().numpy()):
        paths.append(_frame_path(out_dir, uid, frame_index))
        write_palette_png(paths[-1], label_map, palette)
    return paths


def export_probabilities(out_dir: str, uid: str, frame_indices: Sequence[int], probabilities: torch.Tensor) -> list[str]:
    """Write one 8-bit grey PNG per frame holding ``round(probability * 255)`` and return the paths.

    Args:
        probabilities: float ``[T, H, W]`` sounding probabilities in [0, 1].
    """
    _check_frames(probabilities, frame_indices, "probabilities")
    values = probabilities.detach().float().cpu().numpy()
    if values.size and (np.nanmin(values) < 0 or np.nanmax(values) > 1 or np.isnan(values).any()):
        raise ValueError(f"Window {uid}: sounding probabilities must lie in [0, 1]")
    grey = np.rint(values * PROBABILITY_SCALE).astype(np.uint8)
    return _write_grey_pngs(out_dir, uid, frame_indices, grey)


def read_probability_png(path: str) -> np.ndarray:
    """A grey prediction PNG (see ``export_probabilities``) as float32 probabilities ``[H, W]``."""
    return read_grey_image(path).astype(np.float32) / PROBABILITY_SCALE
