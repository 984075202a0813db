"""Overlay images of the predictions of a dataset's first clips: the original frame with the
predicted masks in palette colours, their outlines and the category names.

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

from ..data.catalog import get_dataset_records
from ..data.categories import CATEGORIES, CATEGORY_TO_INDEX
from ..data.image_io import read_frame
from ..demo.frame_segments import visible_frame_segments
from ..demo.visualizer import draw_segments
from ..utils import comm
from ..utils.file_io import atomic_open
from .evaluator import DatasetEvaluator

logger = logging.getLogger(__name__)

OVERLAY_DIR = "overlays"
JPEG_QUALITY = 90


def palette_lookup(vocabulary: Sequence[str]) -> tuple[torch.Tensor, list[str]]:
    """How to colour and name a vocabulary's labels.

    Returns ``lookup`` int64 ``[len(vocabulary) + 1]`` (vocabulary label, 0 = background ->
    palette index) and ``names`` with ``names[k - 1]`` the name drawn for palette index ``k``.
    AVSBench category names take their AVSBench palette index, so overlays match the exported
    palette PNGs and the ground-truth masks; other vocabularies (the S4 / MS3 "sounding object")
    are coloured by position (label k -> palette index k).
    """
    if all(name in CATEGORY_TO_INDEX for name in vocabulary):
        lookup = torch.tensor([0, *(CATEGORY_TO_INDEX[name] for name in vocabulary)], dtype=torch.int64)
        return lookup, list(CATEGORIES)
    return torch.arange(len(vocabulary) + 1, dtype=torch.int64), list(vocabulary)


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
    clip's dataset record (``frame_paths``), at the size the predictions are returned at. Each
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
            lookup, names = palette_lookup(clip["vocabulary"])
            label_maps = lookup[output["sem_seg"].cpu().long()]
            segments = output["segments"]
            # Segments relabelled into the palette space, so that they match ``label_maps``.
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
                overlay = draw_segments(image, label_map.numpy(), frame_segments, names)
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
