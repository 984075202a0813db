"""Binary AVS metrics for AVSBench-object (S4 / MS3), as in the AVSBench release.

Per annotated frame, with ``P = sounding_prob`` and binary ground truth ``G``:

- Jaccard: ``(|P>0.5 & G| + eps) / (|P>0.5 | G| + eps)``; a frame with empty ground truth and an
  empty prediction scores 1, an empty ground truth with any predicted pixel scores 0.
- F-measure (beta^2 = 0.3) at 255 thresholds evenly spaced in [0, 1): precision
  ``TP / (|P>=t| + eps)``, recall ``TP / (|G| + eps)``; undefined F (0/0) counts 0, so frames
  with empty ground truth contribute F = 0 at every threshold.

``mIoU`` is the mean Jaccard over frames; ``F_score`` is the maximum over thresholds of the
F-measure averaged over frames. Metrics are computed at the ground truth's resolution.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import torch

from ..utils import comm
from ..utils.file_io import write_json_atomic
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator

logger = logging.getLogger(__name__)

NUM_THRESHOLDS = 255
F_BETA_SQUARED = 0.3
_EPS = 1e-20
IGNORE_LABEL = 255
METRICS_FILE = "binary_metrics.json"


def f_measure_thresholds(device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.linspace(0, 1 - 1e-10, NUM_THRESHOLDS, dtype=torch.float64, device=device)


def binary_frame_scores(probabilities: torch.Tensor, ground_truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame Jaccard ``[T]`` and F-measure curves ``[T, 255]`` (float64).

    Args:
        probabilities: float ``[T, H, W]`` in [0, 1].
        ground_truth: ``[T, H, W]`` with values 0/1.
    """
    if probabilities.shape != ground_truth.shape:
        raise ValueError(
            f"sounding_prob {tuple(probabilities.shape)} and ground truth {tuple(ground_truth.shape)} differ in shape"
        )
    num_frames = probabilities.shape[0]
    probabilities = probabilities.double().flatten(1)
    positive = ground_truth.flatten(1) > 0

    predicted = probabilities > 0.5
    intersection = (predicted & positive).sum(dim=1).double()
    union = (predicted | positive).sum(dim=1).double()
    jaccard = (intersection + _EPS) / (union + _EPS)

    # Count predicted (and true-positive) pixels at every threshold from one histogram per frame:
    # bucket b holds probabilities in [t_(b-1), t_b); "p >= t_k" is then a suffix sum from k+1.
    thresholds = f_measure_thresholds(probabilities.device)
    buckets = torch.bucketize(probabilities, thresholds, right=True)  # 0..255
    frame_offset = torch.arange(num_frames, device=probabilities.device)[:, None] * (NUM_THRESHOLDS + 1)
    size = num_frames * (NUM_THRESHOLDS + 1)
    histogram = torch.bincount((buckets + frame_offset).flatten(), minlength=size).view(num_frames, -1)
    positive_histogram = torch.bincount((buckets + frame_offset)[positive], minlength=size).view(num_frames, -1)
    at_least = histogram.flip(1).cumsum(1).flip(1)[:, 1:].double()
    true_positive = positive_histogram.flip(1).cumsum(1).flip(1)[:, 1:].double()
    precision = true_positive / (at_least + _EPS)
    recall = true_positive / (positive.sum(dim=1, keepdim=True).double() + _EPS)
    f_curve = (1 + F_BETA_SQUARED) * precision * recall / (F_BETA_SQUARED * precision + recall)
    f_curve = torch.nan_to_num(f_curve, nan=0.0)
    return jaccard, f_curve


class BinaryAVSEvaluator(DatasetEvaluator):
    """S4 / MS3 evaluator (registered as ``binary_avs``): reads ``sem_seg_gt`` (0/1, 255 on
    frames without ground truth) from inputs and ``sounding_prob`` from outputs. ``evaluate``
    returns ``{"binary_avs": {"mIoU", "F_score", "num_frames"}}`` and writes the same to
    ``binary_metrics.json`` in ``output_dir``."""

    def __init__(self, dataset_name: str, cfg=None, output_dir: str | None = None):
        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self.reset()

    def reset(self) -> None:
        self._jaccard_sum: torch.Tensor | None = None
        self._f_curve_sum: torch.Tensor | None = None
        self._num_frames = 0

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for clip, output in zip(inputs, outputs):
            probabilities = output["sounding_prob"]
            ground_truth = clip["sem_seg_gt"].to(probabilities.device)
            annotated = (ground_truth != IGNORE_LABEL).flatten(1).any(dim=1)
            jaccard, f_curve = binary_frame_scores(probabilities[annotated], ground_truth[annotated])
            if self._jaccard_sum is None:
                self._jaccard_sum = torch.zeros((), dtype=torch.float64, device=probabilities.device)
                self._f_curve_sum = torch.zeros(NUM_THRESHOLDS, dtype=torch.float64, device=probabilities.device)
            self._jaccard_sum += jaccard.sum()
            self._f_curve_sum += f_curve.sum(dim=0)
            self._num_frames += int(annotated.sum())

    def evaluate(self) -> dict[str, Any] | None:
        if self._jaccard_sum is None:
            device = torch.device("cuda", torch.cuda.current_device()) if (
                comm.get_world_size() > 1 and torch.cuda.is_available()
            ) else torch.device("cpu")
            packed = torch.zeros(2 + NUM_THRESHOLDS, dtype=torch.float64, device=device)
        else:
            packed = torch.cat(
                [
                    self._jaccard_sum.view(1),
                    torch.tensor([float(self._num_frames)], dtype=torch.float64, device=self._jaccard_sum.device),
                    self._f_curve_sum,
                ]
            )
        comm.all_reduce_sum(packed)
        if not comm.is_main_process():
            return None
        num_frames = int(round(float(packed[1])))
        if num_frames == 0:
            logger.warning("BinaryAVSEvaluator on %s saw no annotated frames; metrics are 0", self.dataset_name)
            results = {"mIoU": 0.0, "F_score": 0.0, "num_frames": 0}
        else:
            results = {
                "mIoU": float(packed[0]) / num_frames,
                "F_score": float((packed[2:] / num_frames).max()),
                "num_frames": num_frames,
            }
        if self.output_dir:
            write_json_atomic(os.path.join(self.output_dir, METRICS_FILE), results)
        return {"binary_avs": results}


# Datasets name their evaluator by this key (DatasetMetadata.evaluator_type).
EVALUATOR_REGISTRY._do_register("binary_avs", BinaryAVSEvaluator)
