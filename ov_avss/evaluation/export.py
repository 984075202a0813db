"""Writing predictions as AVSBench palette PNGs: ``<out>/<uid>/<frame>.png``."""
from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np
import torch

from ..data.palette import colorize
from ..utils.file_io import atomic_open


def export_predictions(out_dir: str, uid: str, frame_indices: Sequence[int], label_maps: torch.Tensor) -> list[str]:
    """Write one RGB palette PNG per frame and return the paths.

    Args:
        out_dir: root of the exported predictions.
        uid: clip folder name.
        frame_indices: frame number of each map (the file name, as in ``labels_rgb/<t>.png``).
        label_maps: int ``[T, H, W]`` in the 71-label space (palette index = category index).

    Each file is written to a temporary name and moved into place, so readers never see a
    partial PNG.
    """
    if label_maps.ndim != 3 or label_maps.shape[0] != len(frame_indices):
        raise ValueError(
            f"label_maps must be [T, H, W] with T = {len(frame_indices)} frames, got {tuple(label_maps.shape)}"
        )
    clip_dir = os.path.join(out_dir, uid)
    os.makedirs(clip_dir, exist_ok=True)
    colours = colorize(label_maps.detach().cpu().numpy().astype(np.int64))
    paths = []
    for frame_index, image in zip(frame_indices, colours):
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f"OpenCV could not encode the prediction of clip {uid} frame {frame_index}")
        path = os.path.join(clip_dir, f"{int(frame_index)}.png")
        with atomic_open(path, "wb") as f:
            f.write(encoded.tobytes())
        paths.append(path)
    return paths
