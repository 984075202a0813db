"""Binary AVS metrics for AVSBench-object (S4 / MS3): the ``avsbench_binary`` protocol, as
AVSBench's ``test.py`` computes them (``mask_iou`` and ``Eval_Fmeasure`` of
``avs_scripts/avs_s4/utils/utility.py``; docs/evaluation.md).

Per annotated frame, with ``P = sounding_prob`` and binary ground truth ``G`` (``N`` pixels):

- Jaccard: ``|P>0.5 & G| / (|P>0.5 | G| + 1e-7)``; a frame with empty ground truth scores its
  true-negative fraction ``|P<=0.5| / (N + 1e-7)``.
- F-measure curve (beta^2 = 0.3) at 255 thresholds ``linspace(0, 1 - 1e-10, 255)`` (float32):
  precision ``TP / (|P>=t| + 1e-20)``, recall ``TP / (|G| + 1e-20)``, undefined F counts 0.
  Frames with empty ground truth are left out of F.

Test windows are taken in dataset order in batches of ``TEST.AVSBENCH_BINARY_BATCH_CLIPS`` (4, the
release's ``--test_batch_size``). A batch's mIoU is the mean Jaccard of its frames, its F the
maximum over thresholds of the curve averaged over its frames with non-empty ground truth (0 when
it has none). ``mIoU`` / ``F_score`` average the batch values; ``mIoU_pooled`` /
``F_score_pooled`` are the same with every window in one batch. Metrics are computed at the
ground truth's resolution.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import torch

from ..config import get_cfg
from ..data.catalog import get_dataset_metadata
from ..utils import comm
from ..utils.file_io import write_json_atomic
from .build import EVALUATOR_REGISTRY
from .evaluator import F_BETA_SQUARED, DatasetEvaluator
from .export import export_probabilities

logger = logging.getLogger(__name__)

PROTOCOL = "avsbench_binary"
NUM_THRESHOLDS = 255
IOU_EPS = 1e-7
F_EPS = 1e-20
METRICS_FILE = "binary_metrics.json"


def f_measure_thresholds(device: torch.device | str = "cpu") -> torch.Tensor:
    """The release's thresholds, in its float32."""
    return torch.linspace(0, 1 - 1e-10, NUM_THRESHOLDS, dtype=torch.float32, device=device)


def binary_frame_scores(
    probabilities: torch.Tensor, ground_truth: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-frame Jaccard ``[T]``, F-measure curves ``[T, 255]`` (float64) and whether each
    frame's ground truth is non-empty ``[T]`` (bool; the curve of an empty frame is 0).

    Args:
        probabilities: float ``[T, H, W]`` in [0, 1].
        ground_truth: ``[T, H, W]`` with values 0/1.
    """
    if probabilities.shape != ground_truth.shape:
        raise ValueError(
            f"sounding_prob {tuple(probabilities.shape)} and ground truth {tuple(ground_truth.shape)} differ in shape"
        )
    num_frames = probabilities.shape[0]
    probabilities = probabilities.float().flatten(1)
    positive = ground_truth.flatten(1) > 0
    num_positive = positive.sum(dim=1)
    non_empty = num_positive > 0

    predicted = probabilities > 0.5
    intersection = (predicted & positive).sum(dim=1).double()
    union = (predicted | positive).sum(dim=1).double()
    true_negative = (~predicted).sum(dim=1).double()
    num_pixels = float(probabilities.shape[1])
    jaccard = torch.where(
        non_empty, intersection / (union + IOU_EPS), true_negative / (num_pixels + IOU_EPS)
    )

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
    precision = true_positive / (at_least + F_EPS)
    recall = true_positive / (num_positive[:, None].double() + F_EPS)
    f_curve = (1 + F_BETA_SQUARED) * precision * recall / (F_BETA_SQUARED * precision + recall)
    f_curve = torch.nan_to_num(f_curve, nan=0.0) * non_empty[:, None]
    return jaccard, f_curve, non_empty


class WindowScores:
    """Per-window sums, in the order windows arrive: Jaccard sum and frame count, F-curve sum over
    the frames with non-empty ground truth and their count. Windows of one video (same uid, in a
    row) are merged."""

    def __init__(self) -> None:
        self.uids: list[str] = []
        self.rows: list[torch.Tensor] = []  # float64 [3 + 255]: jaccard sum, frames, non-empty frames, F sum

    def add(self, uid: str, jaccard: torch.Tensor, f_curve: torch.Tensor, non_empty: torch.Tensor) -> None:
        row = torch.cat(
            [
                torch.stack([jaccard.sum(), torch.tensor(float(len(jaccard)), dtype=torch.float64, device=jaccard.device),
                             non_empty.sum().double()]),
                f_curve.sum(dim=0),
            ]
        ).cpu()
        if self.uids and self.uids[-1] == uid:
            self.rows[-1] = self.rows[-1] + row
        else:
            self.uids.append(uid)
            self.rows.append(row)


def _merge_in_order(shards: list[tuple[list[str], list[torch.Tensor]]]) -> list[torch.Tensor]:
    """Concatenate the ranks' windows in rank order (the test sampler's shards are contiguous, so
    that is dataset order), merging a window split across two shards."""
    uids: list[str] = []
    rows: list[torch.Tensor] = []
    for shard_uids, shard_rows in shards:
        for uid, row in zip(shard_uids, shard_rows):
            if uids and uids[-1] == uid:
                rows[-1] = rows[-1] + row
            else:
                uids.append(uid)
                rows.append(row)
    return rows


def batch_metrics(rows: list[torch.Tensor], batch_windows: int) -> dict[str, Any]:
    """The protocol's metrics from per-window rows (see ``WindowScores``) in dataset order."""

    def one_batch(batch: torch.Tensor) -> tuple[float, float]:
        total = batch.sum(dim=0)
        miou = float(total[0] / total[1]) if total[1] > 0 else 0.0
        f_score = float((total[3:] / total[2]).max()) if total[2] > 0 else 0.0
        return miou, f_score

    # A window without annotated frames (none in test splits) takes no place in a batch.
    rows = [row for row in rows if row[1] > 0]
    if not rows:
        return {
            "mIoU": 0.0, "F_score": 0.0, "mIoU_pooled": 0.0, "F_score_pooled": 0.0, "num_frames": 0, "num_clips": 0,
            "batch_clips": batch_windows,
        }
    table = torch.stack(rows)
    batches = [one_batch(table[start : start + batch_windows]) for start in range(0, len(table), batch_windows)]
    pooled_miou, pooled_f = one_batch(table)
    return {
        "mIoU": sum(m for m, _ in batches) / len(batches),
        "F_score": sum(f for _, f in batches) / len(batches),
        "mIoU_pooled": pooled_miou,
        "F_score_pooled": pooled_f,
        "num_frames": int(round(float(table[:, 1].sum()))),
        "num_clips": len(table),
        "batch_clips": batch_windows,
    }


class BinaryAVSEvaluator(DatasetEvaluator):
    """S4 / MS3 evaluator (registered as ``binary_avs``, protocol ``avsbench_binary``): reads
    ``uid`` and ``sem_seg_gt`` (0/1, the ignore label on frames without ground truth) from inputs and
    ``sounding_prob`` from outputs. ``evaluate`` returns ``{"binary_avs": {"protocol", "mIoU",
    "F_score", "mIoU_pooled", "F_score_pooled", "num_frames", "num_clips", "batch_clips"}}`` and
    writes the same to ``binary_metrics.json`` in ``output_dir``. With
    ``TEST.EXPORT_PREDICTIONS`` every rank writes 8-bit grey PNGs (probability x 255) under
    ``output_dir/predictions/<uid>/<frame>.png``."""

    def __init__(self, dataset_name: str, cfg=None, output_dir: str | None = None):
        self.dataset_name = dataset_name
        self.ignore_label = get_dataset_metadata(dataset_name).label_space.ignore_label
        self.output_dir = output_dir
        # The batch size has one default: the config's (the release's --test_batch_size).
        self.batch_windows = int((cfg if cfg is not None else get_cfg()).TEST.AVSBENCH_BINARY_BATCH_CLIPS)
        if self.batch_windows < 1:
            raise ValueError(f"Config TEST.AVSBENCH_BINARY_BATCH_CLIPS must be >= 1, got {self.batch_windows}")
        self.export = bool(cfg.TEST.EXPORT_PREDICTIONS) if cfg is not None else False
        if self.export and not output_dir:
            raise ValueError("TEST.EXPORT_PREDICTIONS needs an output directory for the evaluator")
        self.reset()

    def reset(self) -> None:
        self._windows = WindowScores()

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for window, output in zip(inputs, outputs):
            probabilities = output["sounding_prob"]
            ground_truth = window["sem_seg_gt"].to(probabilities.device)
            if probabilities.shape != ground_truth.shape:
                raise ValueError(
                    f"Window {window['uid']}: sounding_prob {tuple(probabilities.shape)} and sem_seg_gt "
                    f"{tuple(ground_truth.shape)} differ in shape"
                )
            annotated = (ground_truth != self.ignore_label).flatten(1).any(dim=1)
            jaccard, f_curve, non_empty = binary_frame_scores(probabilities[annotated], ground_truth[annotated])
            self._windows.add(window["uid"], jaccard, f_curve, non_empty)
            if self.export:
                export_probabilities(
                    os.path.join(self.output_dir, "predictions"), window["uid"], window["frame_indices"], probabilities
                )

    def evaluate(self) -> dict[str, Any] | None:
        shards = comm.all_gather((self._windows.uids, self._windows.rows))
        if not comm.is_main_process():
            return None
        results = {"protocol": PROTOCOL, **batch_metrics(_merge_in_order(shards), self.batch_windows)}
        if results["num_frames"] == 0:
            logger.warning("BinaryAVSEvaluator on %s saw no annotated frames; metrics are 0", self.dataset_name)
        if self.output_dir:
            write_json_atomic(os.path.join(self.output_dir, METRICS_FILE), results)
        return {"binary_avs": results}


# Datasets name their evaluator by this key (DatasetMetadata.evaluator_type).
EVALUATOR_REGISTRY.register(BinaryAVSEvaluator, name="binary_avs")
