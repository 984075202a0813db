"""Overlay images of the predictions of a dataset's first clips: the original frame with the
predicted masks in the label space's palette colours, their outlines and the category names.

``build_evaluator`` adds ``PredictionOverlayWriter`` beside the dataset's metric evaluator when
``TEST.VISUALIZE_NUM_CLIPS`` > 0.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from ..data.catalog import get_dataset_metadata, get_dataset_records
from ..data.image_io import read_frame
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
    """Writes ``<output_dir>/overlays/<uid>/<frame>.jpg`` for the first ``TEST.VISUALIZE_NUM_CLIPS``
    clips of the dataset (in record order, whatever the number of processes).

    Reads ``uid``, ``frame_indices`` and ``vocabulary`` from each input clip and ``sem_seg``
    int64 ``[T, H0, W0]`` and ``segments`` (``scores [K]``, ``labels [K]``, ``masks`` bool
    ``[K, T, H0, W0]``) from each output. The original frames are read from the files of the
    clip's dataset record (``frame_paths``), at the size the predictions are returned at; labels
    are drawn in the dataset's labels (``LabelSpace.dataset_lookup``), so overlays match the
    exported palette PNGs and the ground-truth masks. Each
    rank writes the overlays of the chosen clips in its shard; ``evaluate`` logs the count and
    returns no metrics (``{}`` on the main process).
    """

    def __init__(self, dataset_name: str, cfg, output_dir: str) -> None:
        num_clips = int(cfg.TEST.VISUALIZE_NUM_CLIPS)
        if num_clips < 1:
            raise ValueError(f"PredictionOverlayWriter needs TEST.VISUALIZE_NUM_CLIPS >= 1, got {num_clips}")
        if not output_dir:
            raise ValueError("TEST.VISUALIZE_NUM_CLIPS > 0 needs an output directory for the evaluator")
        self.dataset_name = dataset_name
        self.label_space = get_dataset_metadata(dataset_name).label_space
        self.overlay_dir = os.path.join(output_dir, OVERLAY_DIR)
        records = get_dataset_records(dataset_name, cfg)[:num_clips]
        self._frame_paths: dict[str, list[str]] = {record["uid"]: list(record["frame_paths"]) for record in records}
        self.reset()

    def reset(self) -> None:
        self._num_written = 0

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for clip, output in zip(inputs, outputs):
            frame_paths = self._frame_paths.get(clip["uid"])
            if frame_paths is None:
                continue
            if "segments" not in output:
                raise KeyError(
                    f"Clip {clip['uid']}: the model output has no 'segments' (keys {sorted(output)}); "
                    "overlays need the scored segments to name the categories"
                )
            lookup = torch.from_numpy(self.label_space.dataset_lookup(clip["vocabulary"]))
            label_maps = lookup[output["sem_seg"].cpu().long()]
            segments = output["segments"]
            # Segments relabelled into the dataset's labels, so that they match ``label_maps``.
            palette_segments = {
                "scores": segments["scores"].cpu(),
                "labels": lookup[segments["labels"].cpu().long() + 1] - 1,
                "masks": segments["masks"].cpu(),
            }
            for position, frame_index in enumerate(clip["frame_indices"]):
                frame_path = frame_paths[frame_index]
                image = read_frame(frame_path)
                label_map = label_maps[position]
                if image.shape[:2] != tuple(label_map.shape):
                    raise ValueError(
                        f"Clip {clip['uid']}: frame {frame_path} is {image.shape[1]}x{image.shape[0]} but "
                        f"its prediction is {label_map.shape[1]}x{label_map.shape[0]}; predictions must be "
                        "returned at the original frame size"
                    )
                frame_segments = visible_frame_segments(label_map, palette_segments, position)
                overlay = draw_segments(
                    image, label_map.numpy(), frame_segments, self.label_space.category_names, self.label_space.palette
                )
                write_jpeg(os.path.join(self.overlay_dir, clip["uid"], f"{int(frame_index)}.jpg"), overlay)
                self._num_written += 1

    def evaluate(self) -> dict[str, Any] | None:
        total = sum(comm.all_gather(self._num_written))
        if not comm.is_main_process():
            return None
        logger.info(
            "Wrote %d overlay images of %d clips of %s under %s",
            total,
            len(self._frame_paths),
            self.dataset_name,
            self.overlay_dir,
        )
        return {}
