"""AVSS metrics (OV-AVSS protocol): one 71x71 confusion matrix over all frames at 224x224.

- Prediction and ground truth are resized to 224x224 (nearest); ground-truth pixels of
  categories that do not sound in the clip (label noise) become background; pixels labelled 255
  (frames without ground truth) are ignored.
- IoU_c = TP / (TP + FP + FN); classes absent from both prediction and ground truth are left out
  of every mean. mIoU is over all 71 labels, mIoU_base / mIoU_novel over the base / novel
  categories (background in neither), mIoU_harmonic = 2ab / (a + b).
- F (beta^2 = 0.3): per class and frame, with P and R of that frame; averaged over the frames
  where the class occurs in prediction or ground truth (F = 0 where P or R is undefined or TP = 0);
  F_score is the mean over the classes that occur at all, background included.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..data.catalog import get_dataset_metadata
from ..data.categories import BACKGROUND, CATEGORIES, CATEGORY_TO_INDEX
from ..utils import comm
from ..utils.file_io import write_json_atomic
from .build import EVALUATOR_REGISTRY
from .chart import save_per_class_chart
from .evaluator import DatasetEvaluator
from .export import export_predictions

logger = logging.getLogger(__name__)

NUM_LABELS = len(CATEGORIES) + 1
EVAL_SIZE = (224, 224)
F_BETA_SQUARED = 0.3
IGNORE_LABEL = 255
LABEL_NAMES = (BACKGROUND, *CATEGORIES)
# Written into the evaluator's output_dir: the full metrics with per-class values, and the chart.
METRICS_FILE = "avss_metrics.json"
CHART_FILE = "per_class_iou.png"


class SemSegAccumulator:
    """Accumulates the confusion matrix and per-class F sums of label maps in the 71-label space.

    All state is three tensors on one device; ``all_reduce`` sums them over ranks with a single
    collective.
    """

    def __init__(self, num_labels: int = NUM_LABELS, device: torch.device | str = "cpu"):
        self.num_labels = num_labels
        self.device = torch.device(device)
        self.confusion = torch.zeros((num_labels, num_labels), dtype=torch.int64, device=self.device)
        self.f_sum = torch.zeros(num_labels, dtype=torch.float64, device=self.device)
        self.f_frames = torch.zeros(num_labels, dtype=torch.int64, device=self.device)

    def to(self, device: torch.device | str) -> "SemSegAccumulator":
        device = torch.device(device)
        self.device = device
        self.confusion, self.f_sum, self.f_frames = (t.to(device) for t in (self.confusion, self.f_sum, self.f_frames))
        return self

    def update(self, prediction: torch.Tensor, ground_truth: torch.Tensor) -> None:
        """Add frames: ``prediction`` and ``ground_truth`` int64 ``[T, H, W]`` in label space
        (ground truth 255 = ignored), already at evaluation size."""
        if prediction.shape != ground_truth.shape:
            raise ValueError(
                f"prediction {tuple(prediction.shape)} and ground truth {tuple(ground_truth.shape)} differ in shape"
            )
        n = self.num_labels
        prediction = prediction.to(self.device, torch.int64)
        ground_truth = ground_truth.to(self.device, torch.int64)
        if prediction.numel() and (prediction.min() < 0 or prediction.max() >= n):
            raise ValueError(f"prediction labels must lie in [0, {n - 1}], got [{int(prediction.min())}, {int(prediction.max())}]")
        valid = ground_truth != IGNORE_LABEL
        if valid.any() and ground_truth[valid].max() >= n:
            raise ValueError(f"ground-truth labels must lie in [0, {n - 1}] or be {IGNORE_LABEL}")
        num_frames = prediction.shape[0]
        frame_of_pixel = torch.arange(num_frames, device=self.device).view(-1, 1, 1).expand_as(prediction)
        keys = (frame_of_pixel * n + ground_truth) * n + prediction
        per_frame = torch.bincount(keys[valid], minlength=num_frames * n * n).view(num_frames, n, n)
        self.confusion += per_frame.sum(dim=0)

        true_positive = per_frame.diagonal(dim1=1, dim2=2).double()
        gt_pixels = per_frame.sum(dim=2).double()
        predicted_pixels = per_frame.sum(dim=1).double()
        occurs = (gt_pixels + predicted_pixels) > 0
        precision = true_positive / predicted_pixels.clamp(min=1)
        recall = true_positive / gt_pixels.clamp(min=1)
        denominator = F_BETA_SQUARED * precision + recall
        f_score = torch.where(
            true_positive > 0, (1 + F_BETA_SQUARED) * precision * recall / denominator.clamp(min=1e-12), 0.0
        )
        self.f_sum += (f_score * occurs).sum(dim=0)
        self.f_frames += occurs.sum(dim=0)

    def all_reduce(self) -> None:
        """Sum the state over ranks with one all-reduce (float64 holds the counts exactly)."""
        n = self.num_labels
        packed = torch.cat([self.confusion.flatten().double(), self.f_frames.double(), self.f_sum])
        comm.all_reduce_sum(packed)
        self.confusion = packed[: n * n].round().long().view(n, n)
        self.f_frames = packed[n * n : n * n + n].round().long()
        self.f_sum = packed[n * n + n :]

    def metrics(self, label_names: Sequence[str], base: Sequence[str] = (), novel: Sequence[str] = ()) -> dict[str, Any]:
        """``mIoU``, ``F_score``, per-class ``{"iou", "f_score"}``; with a split also
        ``mIoU_base``, ``mIoU_novel``, ``mIoU_harmonic``. All in [0, 1]."""
        confusion = self.confusion.double().cpu()
        true_positive = confusion.diagonal()
        union = confusion.sum(dim=0) + confusion.sum(dim=1) - true_positive
        present = union > 0
        iou = torch.where(present, true_positive / union.clamp(min=1), torch.zeros_like(union))
        f_frames = self.f_frames.cpu()
        f_present = f_frames > 0
        f_score = torch.where(f_present, self.f_sum.cpu() / f_frames.clamp(min=1), torch.zeros_like(self.f_sum.cpu()))

        def mean_over(names: Sequence[str]) -> float:
            index = torch.tensor([label_names.index(n) for n in names], dtype=torch.long)
            mask = present[index]
            return float(iou[index][mask].mean()) if mask.any() else 0.0

        results: dict[str, Any] = {
            "mIoU": float(iou[present].mean()) if present.any() else 0.0,
            "F_score": float(f_score[f_present].mean()) if f_present.any() else 0.0,
        }
        if base or novel:
            base_miou, novel_miou = mean_over(base), mean_over(novel)
            total = base_miou + novel_miou
            results["mIoU_base"] = base_miou
            results["mIoU_novel"] = novel_miou
            results["mIoU_harmonic"] = 2 * base_miou * novel_miou / total if total > 0 else 0.0
        results["per_class"] = {
            name: {"iou": float(iou[i]), "f_score": float(f_score[i])}
            for i, name in enumerate(label_names)
            if present[i] or f_present[i]
        }
        return results


def resize_to_eval(label_maps: torch.Tensor) -> torch.Tensor:
    """int64 ``[T, H, W]`` -> ``[T, 224, 224]`` (nearest)."""
    if tuple(label_maps.shape[-2:]) == EVAL_SIZE:
        return label_maps.long()
    return F.interpolate(label_maps[:, None].float(), size=EVAL_SIZE, mode="nearest")[:, 0].long()


def vocabulary_to_labels(vocabulary: Sequence[str], device: torch.device) -> torch.Tensor:
    """Lookup ``[len(vocabulary) + 1]``: vocabulary label (0 = background) -> 71-label index."""
    unknown = [name for name in vocabulary if name not in CATEGORY_TO_INDEX]
    if unknown:
        raise ValueError(f"Vocabulary names {unknown} are not AVSBench categories; cannot score them")
    return torch.tensor([0, *(CATEGORY_TO_INDEX[name] for name in vocabulary)], dtype=torch.int64, device=device)


def filter_label_noise(ground_truth: torch.Tensor, sounding_categories: Sequence[str]) -> torch.Tensor:
    """Reset ground-truth pixels of categories that do not sound in the clip to background.

    Args:
        ground_truth: int64 ``[T, H, W]`` in the 71-label space (255 = ignored, kept).
        sounding_categories: the clip's ``a_obj`` names.
    """
    unknown = [name for name in sounding_categories if name not in CATEGORY_TO_INDEX]
    if unknown:
        raise ValueError(f"Sounding categories {unknown} are not AVSBench categories")
    keep = torch.zeros(IGNORE_LABEL + 1, dtype=torch.bool, device=ground_truth.device)
    keep[[0, IGNORE_LABEL, *(CATEGORY_TO_INDEX[name] for name in sounding_categories)]] = True
    return torch.where(keep[ground_truth], ground_truth, torch.zeros_like(ground_truth))


class AVSSEvaluator(DatasetEvaluator):
    """Semantic AVSS evaluator (registered as ``avss``); see the module docstring for metrics.

    Reads ``sem_seg_gt``, ``sounding_categories`` and ``vocabulary`` from each input clip and
    ``sem_seg`` from each output. ``evaluate`` returns ``{"sem_seg": {"mIoU", "F_score", and with
    a base/novel split "mIoU_base", "mIoU_novel", "mIoU_harmonic"}}`` and writes the full metrics
    (with ``per_class`` name -> ``{"iou", "f_score"}``) to ``avss_metrics.json`` and the bar chart
    to ``per_class_iou.png`` in ``output_dir`` (main process); with ``TEST.EXPORT_PREDICTIONS``
    every rank writes palette PNGs under ``output_dir/predictions/<uid>/<frame>.png``.
    """

    def __init__(self, dataset_name: str, cfg=None, output_dir: str | None = None):
        metadata = get_dataset_metadata(dataset_name)
        self.dataset_name = dataset_name
        self.base_names = tuple(metadata.base_names)
        self.novel_names = tuple(metadata.novel_names)
        self.output_dir = output_dir
        self.export = bool(cfg.TEST.EXPORT_PREDICTIONS) if cfg is not None else False
        if self.export and not output_dir:
            raise ValueError("TEST.EXPORT_PREDICTIONS needs an output directory for the evaluator")
        self._lookups: dict[tuple[str, ...], torch.Tensor] = {}
        self.reset()

    def reset(self) -> None:
        self._accumulator: SemSegAccumulator | None = None

    def _lookup(self, vocabulary: Sequence[str], device: torch.device) -> torch.Tensor:
        key = tuple(vocabulary)
        if key not in self._lookups or self._lookups[key].device != device:
            self._lookups[key] = vocabulary_to_labels(vocabulary, device)
        return self._lookups[key]

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for clip, output in zip(inputs, outputs):
            prediction = output["sem_seg"]
            device = prediction.device
            if self._accumulator is None:
                self._accumulator = SemSegAccumulator(NUM_LABELS, device)
            lookup = self._lookup(clip["vocabulary"], device)
            ground_truth = clip["sem_seg_gt"].to(device)
            if prediction.shape != ground_truth.shape:
                raise ValueError(
                    f"Clip {clip['uid']}: sem_seg {tuple(prediction.shape)} and sem_seg_gt "
                    f"{tuple(ground_truth.shape)} differ in shape"
                )
            predicted_labels = lookup[prediction.long()]
            ignored = ground_truth == IGNORE_LABEL
            gt_labels = torch.where(ignored, IGNORE_LABEL, lookup[ground_truth.long().clamp(0, len(lookup) - 1)])
            gt_labels = filter_label_noise(gt_labels, clip["sounding_categories"])
            annotated = (~ignored).flatten(1).any(dim=1)
            self._accumulator.update(
                resize_to_eval(predicted_labels[annotated]), resize_to_eval(gt_labels[annotated])
            )
            if self.export:
                export_predictions(
                    os.path.join(self.output_dir, "predictions"), clip["uid"], clip["frame_indices"], predicted_labels
                )

    def evaluate(self) -> dict[str, Any] | None:
        accumulator = self._accumulator or SemSegAccumulator(NUM_LABELS)
        if comm.get_world_size() > 1 and self._accumulator is None:
            # A rank without clips still joins the collective, on the device the others use.
            device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
            accumulator.to(device)
        accumulator.all_reduce()
        if not comm.is_main_process():
            return None
        if int(accumulator.confusion.sum()) == 0:
            logger.warning("AVSSEvaluator on %s saw no annotated pixels; metrics are all 0", self.dataset_name)
        results = accumulator.metrics(LABEL_NAMES, self.base_names, self.novel_names)
        if self.output_dir:
            write_json_atomic(os.path.join(self.output_dir, METRICS_FILE), results)
            save_per_class_chart(results, self.base_names, self.novel_names, os.path.join(self.output_dir, CHART_FILE))
        return {"sem_seg": {name: value for name, value in results.items() if name != "per_class"}}


# Datasets name their evaluator by this key (DatasetMetadata.evaluator_type).
EVALUATOR_REGISTRY._do_register("avss", AVSSEvaluator)
