"""Overlay images of the predictions of a dataset's first windows: the original frame with the
predicted masks in the label space's palette colours, their outlines and the category names.

``build_evaluator`` adds ``PredictionOverlayWriter`` beside the dataset's metric evaluator when
``TEST.VISUALIZE_NUM_CLIPS`` > 0.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import cv2
import numpy as np
import torch

from ..data.catalog import get_dataset_metadata
from ..structures import output_segments
from ..utils import comm
from ..utils.file_io import atomic_open
from ..visualization import draw_segments, visible_frame_segments
from .evaluator import DatasetEvaluator

logger = logging.getLogger(__name__)

OVERLAY_DIR = "overlays"
JPEG_QUALITY = 90


def write_jpeg(path: str, image: np.ndarray) -> None:
    """Write an RGB uint8 ``[H, W, 3]`` image as a JPEG, atomically."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode the overlay {path} (image shape {image.shape})")
    with atomic_open(path, "wb") as f:
        f.write(encoded.tobytes())


class PredictionOverlayWriter(DatasetEvaluator):
    """Writes ``<output_dir>/overlays/<uid>/<frame>.jpg`` for the windows of the first
    ``TEST.VISUALIZE_NUM_CLIPS`` records (uids) the main process scores: with one process, the
    dataset's first records (its shard starts the dataset; other processes write none).

    Reads ``uid``, ``frame_indices``, ``vocabulary`` and ``original_frames`` (the frames before
    the test resize, which the window mapper hands over when ``TEST.VISUALIZE_NUM_CLIPS`` > 0)
    from each input window and ``sem_seg`` int64 ``[T, H0, W0]`` and ``segments``
    (``ov_avss.structures.output_segments``) from each output. Labels are drawn in the
    dataset's labels (``LabelSpace.dataset_lookup``), so overlays match the exported palette
    PNGs and the ground-truth masks. ``evaluate`` logs the count and returns no metrics (``{}``
    on the main process).
    """

    def __init__(self, dataset_name: str, cfg, output_dir: str) -> None:
        num_videos = int(cfg.TEST.VISUALIZE_NUM_CLIPS)
        if num_videos < 1:
            raise ValueError(f"PredictionOverlayWriter needs TEST.VISUALIZE_NUM_CLIPS >= 1, got {num_videos}")
        if not output_dir:
            raise ValueError("TEST.VISUALIZE_NUM_CLIPS > 0 needs an output directory for the evaluator")
        self.dataset_name = dataset_name
        self.num_videos = num_videos
        self.label_space = get_dataset_metadata(dataset_name).label_space
        self.overlay_dir = os.path.join(output_dir, OVERLAY_DIR)
        self.reset()

    def reset(self) -> None:
        self._num_written = 0
        self._uids: list[str] = []

    def _chosen(self, uid: str) -> bool:
        """Whether ``uid`` is one of the first ``num_videos`` uids seen (windows of a record share it)."""
        if uid not in self._uids and len(self._uids) < self.num_videos:
            self._uids.append(uid)
        return uid in self._uids

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        if not comm.is_main_process():
            return
        for window, output in zip(inputs, outputs):
            if not self._chosen(window["uid"]):
                continue
            if "original_frames" not in window:
                raise KeyError(
                    f"Window {window['uid']}: the input has no 'original_frames' (the window mapper hands them "
                    "over in testing when TEST.VISUALIZE_NUM_CLIPS > 0); overlays are drawn on them"
                )
            segments = output_segments(output, f"Window {window['uid']}")
            lookup = torch.from_numpy(self.label_space.dataset_lookup(window["vocabulary"]))
            label_maps = lookup[output["sem_seg"].cpu().long()]
            # Segments relabelled into the dataset's labels, so that they match ``label_maps``.
            palette_segments = {
                "scores": segments["scores"].cpu(),
                "labels": lookup[segments["labels"].cpu().long() + 1] - 1,
                "masks": segments["masks"].cpu(),
            }
            images = window["original_frames"].permute(0, 2, 3, 1).cpu().numpy()  # [T, H0, W0, 3]
            for position, frame_index in enumerate(window["frame_indices"]):
                image = images[position]
                label_map = label_maps[position]
                if image.shape[:2] != tuple(label_map.shape):
                    raise ValueError(
                        f"Window {window['uid']}: frame {frame_index} is {image.shape[1]}x{image.shape[0]} but "
                        f"its prediction is {label_map.shape[1]}x{label_map.shape[0]}; predictions must be "
                        "returned at the original frame size"
                    )
                frame_segments = visible_frame_segments(label_map, palette_segments, position)
                overlay = draw_segments(
                    image, label_map.numpy(), frame_segments, self.label_space.category_names, self.label_space.palette
                )
                write_jpeg(os.path.join(self.overlay_dir, window["uid"], f"{int(frame_index)}.jpg"), overlay)
                self._num_written += 1

    def evaluate(self) -> dict[str, Any] | None:
        if not comm.is_main_process():
            return None
        logger.info(
            "Wrote %d overlay images of %d windows of %s under %s",
            self._num_written,
            len(self._uids),
            self.dataset_name,
            self.overlay_dir,
        )
        return {}
