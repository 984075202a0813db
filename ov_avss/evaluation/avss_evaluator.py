"""Semantic AVSS metrics at 224x224 in the dataset's label space (AVSBench-semantic: 71 labels),
by two protocols (docs/evaluation.md).

Both protocols score predictions resized to 224x224 with torch ``nearest`` and ground truth
resized with PIL ``NEAREST`` (as the releases do); pixels with the label space's ignore label
(frames without ground truth) are ignored. Predictions in a vocabulary's labels are mapped to the
dataset's labels by ``LabelSpace.dataset_lookup``; ground truth of categories outside that
vocabulary counts as background.

- ``ov_avss`` (AVSBench-OV, the OV-AVSS release): ground-truth pixels of categories that do not
  sound in the clip (label noise) become background; one 71x71 confusion matrix over all frames;
  IoU_c = TP / (TP + FP + FN), classes absent from both prediction and ground truth left out of
  every mean; mIoU over all labels (71 for AVSBench), mIoU_base / mIoU_novel over the base / novel categories
  (background in neither), mIoU_harmonic = 2ab / (a + b). F (beta^2 = 0.3) per class and frame,
  averaged over the frames where the class occurs, then over the classes that occur (background
  included). The release computes but does not report an F of another definition: prediction
  zeroed on ground-truth background, background outside its histograms, mean over 71 bins of
  which one is always empty (docs/evaluation.md).
- ``avsbench_avss`` (closed-set AVSS, AVSBench's ``compute_color_metrics.py``): no label-noise
  filter; per frame and class IoU = TP / union and F (0 where undefined); each class's values
  are summed over the frames where it occurs in prediction or ground truth and divided by that
  number of frames; mIoU and F_score are the means over all labels (0 for a label that never
  occurs).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.catalog import get_dataset_metadata
from ..data.label_space import IGNORE_LABEL, LabelSpace
from ..utils import comm
from ..utils.file_io import write_json_atomic
from .build import EVALUATOR_REGISTRY
from .chart import save_per_class_chart
from .evaluator import F_BETA_SQUARED, DatasetEvaluator
from .export import export_predictions

logger = logging.getLogger(__name__)

EVAL_SIZE = (224, 224)
OV_AVSS = "ov_avss"
AVSBENCH_AVSS = "avsbench_avss"
PROTOCOLS = (OV_AVSS, AVSBENCH_AVSS)
# Written into the evaluator's output_dir: the full metrics of each protocol with per-class
# values, and the per-class chart of the dataset's first protocol.
METRICS_FILE = "avss_metrics.json"
CHART_FILE = "per_class_iou.png"
# The metric group of a dataset's first protocol; others are "sem_seg_<protocol>".
PRIMARY_GROUP = "sem_seg"
# Ground truth is resized as uint8 images (PIL), so labels above this would wrap around.
MAX_LABEL_VALUE = 255


def frame_confusions(
    prediction: torch.Tensor, ground_truth: torch.Tensor, num_labels: int, ignore_label: int = IGNORE_LABEL
) -> torch.Tensor:
    """Per-frame confusion matrices int64 ``[T, V, V]`` (row = ground truth, column = prediction)
    of label maps int ``[T, H, W]`` with values in ``[0, V)``, ground truth ``ignore_label`` =
    ignored.

    One ``bincount`` over all pixels: ignored ground truth lands in a row of its own that is
    dropped, so no pixel masking is needed (the masking used to cost more than the counting).

    Raises:
        ValueError: shapes differ, or a label lies outside ``[0, V)`` (ground truth: or the ignore
            label).
    """
    if prediction.shape != ground_truth.shape or prediction.ndim != 3:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and ground truth {tuple(ground_truth.shape)} must be "
            "[T, H, W] of one shape"
        )
    n, rows = num_labels, ignore_label + 1
    if n > ignore_label:
        raise ValueError(f"At most {ignore_label} labels can be scored ({ignore_label} means ignored), got {n}")
    num_frames = prediction.shape[0]
    if prediction.numel() == 0:
        return torch.zeros((num_frames, n, n), dtype=torch.int64, device=prediction.device)
    # Counting keys ground truth * V + prediction in the narrowest integer type that holds them
    # (int16 for the 71 labels) cuts the memory traffic of every pass (bincount alone runs 3x
    # faster than on int64). Label maps hold 0..255, far inside that type's range.
    key_dtype = torch.int16 if rows * n <= torch.iinfo(torch.int16).max else torch.int32
    # Both ranges are checked before the keys are formed: out of range, a key wraps around in the
    # narrow type (ground truth 924 gives 924 * 71 = 65604 = 68 as int16, a background pixel).
    # The labels are narrowed first and checked in the narrow type, which costs a tenth of a
    # check on int64 maps; a label map value itself survives the narrowing unless its magnitude
    # exceeds the type's range (beyond 32767 for int16, which no 8- or 16-bit label image holds:
    # 16-bit values above 32767 turn negative and are refused).
    # Ground-truth labels in [n, 255) are found from the counts, in rows that must stay empty.
    # (Python ints: comparing the 0-d tensors would cost more than the reduction.)
    prediction, ground_truth = prediction.to(key_dtype), ground_truth.to(key_dtype)
    low, high = (int(v) for v in torch.aminmax(prediction))
    if low < 0 or high >= n:
        raise ValueError(f"prediction labels must lie in [0, {n - 1}], got [{low}, {high}]")
    bad_ground_truth = ValueError(f"ground-truth labels must lie in [0, {n - 1}] or be {ignore_label}")
    low, high = (int(v) for v in torch.aminmax(ground_truth))
    if low < 0 or high > ignore_label:
        raise bad_ground_truth
    keys = torch.add(prediction, ground_truth, alpha=n)
    counts = [torch.bincount(frame_keys.view(-1), minlength=rows * n) for frame_keys in keys]
    per_frame = torch.stack(counts).view(num_frames, rows, n)
    if bool(per_frame[:, n:ignore_label].any()):
        raise bad_ground_truth
    return per_frame[:, :n]


class SemSegAccumulator:
    """Accumulates, in a label space of ``num_labels`` labels, the confusion matrix and the per-class sums of
    per-frame IoU and F over the frames where each class occurs.

    All state is four tensors on one device; ``all_reduce`` sums them over ranks with a single
    collective.
    """

    def __init__(self, num_labels: int, device: torch.device | str = "cpu"):
        self.num_labels = num_labels
        self.device = torch.device(device)
        self.confusion = torch.zeros((num_labels, num_labels), dtype=torch.int64, device=self.device)
        self.f_sum = torch.zeros(num_labels, dtype=torch.float64, device=self.device)
        self.iou_sum = torch.zeros(num_labels, dtype=torch.float64, device=self.device)
        self.f_frames = torch.zeros(num_labels, dtype=torch.int64, device=self.device)

    def to(self, device: torch.device | str) -> "SemSegAccumulator":
        device = torch.device(device)
        self.device = device
        self.confusion, self.f_sum, self.iou_sum, self.f_frames = (
            t.to(device) for t in (self.confusion, self.f_sum, self.iou_sum, self.f_frames)
        )
        return self

    def update(self, prediction: torch.Tensor, ground_truth: torch.Tensor) -> None:
        """Add frames: ``prediction`` and ``ground_truth`` int ``[T, H, W]`` in label space
        (ground truth ``IGNORE_LABEL`` = ignored), already at evaluation size."""
        self.add_frame_confusions(frame_confusions(prediction.to(self.device), ground_truth.to(self.device), self.num_labels))

    def add_frame_confusions(self, per_frame: torch.Tensor) -> None:
        """Add per-frame confusion matrices int64 ``[T, n, n]`` (row = ground truth, column =
        prediction)."""
        n = self.num_labels
        if per_frame.ndim != 3 or tuple(per_frame.shape[1:]) != (n, n):
            raise ValueError(f"per-frame confusions must be [T, {n}, {n}], got {tuple(per_frame.shape)}")
        per_frame = per_frame.to(self.device)
        self.confusion += per_frame.sum(dim=0)
        true_positive = per_frame.diagonal(dim1=1, dim2=2).double()
        gt_pixels = per_frame.sum(dim=2).double()
        predicted_pixels = per_frame.sum(dim=1).double()
        union = gt_pixels + predicted_pixels - true_positive
        precision = true_positive / predicted_pixels.clamp(min=1)
        recall = true_positive / gt_pixels.clamp(min=1)
        denominator = F_BETA_SQUARED * precision + recall
        f_score = torch.where(
            true_positive > 0, (1 + F_BETA_SQUARED) * precision * recall / denominator.clamp(min=1e-12), 0.0
        )
        self.f_sum += f_score.sum(dim=0)
        self.iou_sum += (true_positive / union.clamp(min=1)).sum(dim=0)
        self.f_frames += (union > 0).sum(dim=0)

    def all_reduce(self) -> None:
        """Sum the state over ranks with one all-reduce (float64 holds the counts exactly)."""
        n = self.num_labels
        packed = torch.cat([self.confusion.flatten().double(), self.f_frames.double(), self.f_sum, self.iou_sum])
        comm.all_reduce_sum(packed)
        self.confusion = packed[: n * n].round().long().view(n, n)
        self.f_frames = packed[n * n : n * n + n].round().long()
        self.f_sum = packed[n * n + n : n * n + 2 * n]
        self.iou_sum = packed[n * n + 2 * n :]

    def _frame_averages(self, sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-class mean over the frames where the class occurs (0 where it never does), and
        which classes occur."""
        frames = self.f_frames.cpu()
        occurs = frames > 0
        return torch.where(occurs, sums.cpu() / frames.clamp(min=1), torch.zeros_like(sums.cpu())), occurs

    def ov_avss_metrics(
        self, label_names: Sequence[str], base: Sequence[str] = (), novel: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The ``ov_avss`` protocol: ``mIoU``, ``F_score``, per-class ``{"iou", "f_score"}``; with
        a split also ``mIoU_base``, ``mIoU_novel``, ``mIoU_harmonic``. All in [0, 1]."""
        confusion = self.confusion.double().cpu()
        true_positive = confusion.diagonal()
        union = confusion.sum(dim=0) + confusion.sum(dim=1) - true_positive
        present = union > 0
        iou = torch.where(present, true_positive / union.clamp(min=1), torch.zeros_like(union))
        f_score, f_present = self._frame_averages(self.f_sum)

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

    def avsbench_avss_metrics(self, label_names: Sequence[str]) -> dict[str, Any]:
        """The ``avsbench_avss`` protocol: ``mIoU`` and ``F_score`` (means over all labels of the
        per-class frame averages) and per-class ``{"iou", "f_score"}`` of the classes that occur."""
        iou, occurs = self._frame_averages(self.iou_sum)
        f_score, _ = self._frame_averages(self.f_sum)
        return {
            "mIoU": float(iou.mean()),
            "F_score": float(f_score.mean()),
            "per_class": {
                name: {"iou": float(iou[i]), "f_score": float(f_score[i])}
                for i, name in enumerate(label_names)
                if occurs[i]
            },
        }

    def protocol_metrics(
        self, protocol: str, label_names: Sequence[str], base: Sequence[str] = (), novel: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The metrics of ``protocol`` (one of ``PROTOCOLS``), with ``"protocol"`` naming it."""
        if protocol == OV_AVSS:
            metrics = self.ov_avss_metrics(label_names, base, novel)
        elif protocol == AVSBENCH_AVSS:
            metrics = self.avsbench_avss_metrics(label_names)
        else:
            raise ValueError(f"Unknown semantic evaluation protocol '{protocol}'; expected one of {PROTOCOLS}")
        return {"protocol": protocol, **metrics}


def resize_prediction_to_eval(label_maps: torch.Tensor) -> torch.Tensor:
    """Predicted label maps int ``[T, H, W]`` -> int64 ``[T, 224, 224]`` (torch ``nearest``, as
    the releases upsample their predictions)."""
    if tuple(label_maps.shape[-2:]) == EVAL_SIZE:
        return label_maps.long()
    return F.interpolate(label_maps[:, None].float(), size=EVAL_SIZE, mode="nearest")[:, 0].long()


def check_ground_truth_range(label_maps: torch.Tensor) -> None:
    """Raises ValueError if a ground-truth label lies outside [0, 255] (the PIL resize works on
    uint8, where 256 would wrap around to 0 = background)."""
    if label_maps.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(label_maps))
    if low < 0 or high > MAX_LABEL_VALUE:
        raise ValueError(f"ground-truth labels must lie in [0, {MAX_LABEL_VALUE}], got [{low}, {high}]")


def resize_ground_truth_to_eval(label_maps: torch.Tensor) -> torch.Tensor:
    """Ground-truth label maps int ``[T, H, W]`` (0..255, else ValueError) -> int64 ``[T, 224, 224]``
    with PIL's
    ``NEAREST``, as the releases resize ground truth (it picks other source pixels than torch's
    ``nearest`` on sizes that are not multiples of 224)."""
    if tuple(label_maps.shape[-2:]) == EVAL_SIZE:
        return label_maps.long()
    check_ground_truth_range(label_maps)
    frames = label_maps.detach().cpu().numpy().astype(np.uint8)
    width_height = (EVAL_SIZE[1], EVAL_SIZE[0])
    resized = np.stack([np.asarray(Image.fromarray(f).resize(width_height, Image.NEAREST)) for f in frames])
    return torch.from_numpy(resized.astype(np.int64)).to(label_maps.device)


def relabel_confusions(per_frame: torch.Tensor, lookup: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Per-frame confusions ``[T, V, V]`` in a vocabulary's label space -> ``[T, n, n]`` in the
    dataset's label space, ``lookup`` int64 ``[V]`` mapping each vocabulary label to its dataset
    label (``LabelSpace.dataset_lookup``)."""
    lookup = lookup.to(per_frame.device)
    num_frames, size, _ = per_frame.shape
    rows = torch.zeros((num_frames, num_labels, size), dtype=per_frame.dtype, device=per_frame.device)
    rows.index_add_(1, lookup, per_frame)
    relabelled = torch.zeros((num_frames, num_labels, num_labels), dtype=per_frame.dtype, device=per_frame.device)
    return relabelled.index_add_(2, lookup, rows)


def merge_label_noise(per_frame: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Count ground-truth pixels of label-noise categories as background: their rows of the
    per-frame confusions ``[T, n, n]`` are added to row 0 (the same as resetting those pixels to 0
    before counting).

    Args:
        noise: bool ``[n]``, the clip's label-noise labels (``LabelSpace.noise_labels``).
    """
    noise = noise.to(per_frame.device)
    merged = per_frame.clone()
    merged[:, 0] += per_frame[:, noise].sum(dim=1)
    merged[:, noise] = 0
    return merged


def check_protocols(protocols: Sequence[str], owner: str = "Semantic evaluation") -> None:
    """Raises ValueError unless ``protocols`` is a non-empty sequence of ``PROTOCOLS``."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"{owner} protocols {list(protocols)}: the avss evaluator computes some of {PROTOCOLS}")


class SemanticScorer:
    """Scores label maps of one label space by a dataset's protocols: one accumulator per
    protocol, all fed from the same per-frame confusions (``ov_avss`` with the label noise merged
    into background, ``avsbench_avss`` as they are).

    Shared by ``AVSSEvaluator`` and ``ov_avss.evaluation.prediction_files``.
    """

    def __init__(self, label_space: LabelSpace, protocols: Sequence[str], device: torch.device | str = "cpu"):
        check_protocols(protocols)
        if not label_space.has_background:
            raise ValueError(f"Semantic scoring needs label maps with background at 0, not '{label_space.mask_format}'")
        self.label_space = label_space
        self.protocols = tuple(protocols)
        self.accumulators = {
            protocol: SemSegAccumulator(label_space.num_labels, device) for protocol in self.protocols
        }
        # Per vocabulary: (dataset -> vocabulary labels, vocabulary -> dataset labels), or None
        # when the vocabulary lists the label space's categories in label order.
        self._lookups: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor] | None] = {}

    def _vocabulary_lookups(
        self, vocabulary: Sequence[str], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        key = tuple(vocabulary)
        if key not in self._lookups:
            if key == self.label_space.category_names:
                self._lookups[key] = None
            else:
                self._lookups[key] = (
                    torch.from_numpy(self.label_space.vocabulary_lookup(vocabulary)),
                    torch.from_numpy(self.label_space.dataset_lookup(vocabulary)),
                )
        lookups = self._lookups[key]
        if lookups is not None and lookups[0].device != device:
            lookups = self._lookups[key] = (lookups[0].to(device), lookups[1].to(device))
        return lookups

    def dataset_labels(self, prediction: torch.Tensor, vocabulary: Sequence[str]) -> torch.Tensor:
        """A prediction in ``vocabulary``'s labels ``[T, H, W]`` in the dataset's labels."""
        lookups = self._vocabulary_lookups(vocabulary, prediction.device)
        return prediction.long() if lookups is None else lookups[1][prediction.long()]

    def update(
        self,
        prediction: torch.Tensor,
        ground_truth: torch.Tensor,
        sounding_categories: Sequence[str],
        vocabulary: Sequence[str] | None = None,
    ) -> None:
        """Add frames at any size (each resized to 224x224 here; they may differ in size).

        Args:
            prediction: int ``[T, H, W]`` in the dataset's labels, or in ``vocabulary``'s labels
                (0 = background) when it is given.
            ground_truth: int ``[T, H, W]`` in the dataset's labels; the ignore label = ignored.
            sounding_categories: the clip's sounding names (label-noise filter of ``ov_avss``).
            vocabulary: the names of the prediction's labels.
        """
        prediction = resize_prediction_to_eval(prediction)
        ground_truth = resize_ground_truth_to_eval(ground_truth).to(prediction.device)
        num_labels, ignore_label = self.label_space.num_labels, self.label_space.ignore_label
        lookups = None if vocabulary is None else self._vocabulary_lookups(vocabulary, prediction.device)
        if lookups is None:
            per_frame = frame_confusions(prediction, ground_truth, num_labels, ignore_label)
        else:
            to_vocabulary, to_dataset = lookups
            # Counted in the vocabulary's labels (smaller matrices), then relabelled.
            check_ground_truth_range(ground_truth)
            per_frame = frame_confusions(prediction, to_vocabulary[ground_truth], len(to_dataset), ignore_label)
            per_frame = relabel_confusions(per_frame, to_dataset, num_labels)
        for protocol, accumulator in self.accumulators.items():
            if protocol == OV_AVSS:
                noise = torch.from_numpy(self.label_space.noise_labels(sounding_categories))
                accumulator.add_frame_confusions(merge_label_noise(per_frame, noise))
            else:
                accumulator.add_frame_confusions(per_frame)

    def all_reduce(self) -> None:
        for accumulator in self.accumulators.values():
            accumulator.all_reduce()

    def metrics(self, base: Sequence[str] = (), novel: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
        """``{protocol: metrics with per_class}`` in the order of ``protocols``."""
        return {
            protocol: accumulator.protocol_metrics(protocol, self.label_space.names, base, novel)
            for protocol, accumulator in self.accumulators.items()
        }

    def report(self, base: Sequence[str] = (), novel: Sequence[str] = ()) -> dict[str, Any]:
        """The first protocol's metrics with ``per_class`` at the top level, and each other
        protocol's metrics (without ``per_class``) under its name: what ``avss_metrics.json`` and
        ``tools/evaluate_predictions.py`` write."""
        metrics = self.metrics(base, novel)
        report = dict(metrics[self.protocols[0]])
        for protocol in self.protocols[1:]:
            report[protocol] = {key: value for key, value in metrics[protocol].items() if key != "per_class"}
        return report


def metric_groups(report: dict[str, Any], protocols: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Evaluator result groups from a ``SemanticScorer.report``, without ``per_class``: the first
    protocol as ``sem_seg``, the others as ``sem_seg_<protocol>``."""
    groups = {PRIMARY_GROUP: {k: v for k, v in report.items() if k != "per_class" and k not in protocols}}
    for protocol in protocols[1:]:
        groups[f"{PRIMARY_GROUP}_{protocol}"] = dict(report[protocol])
    return groups


class AVSSEvaluator(DatasetEvaluator):
    """Semantic AVSS evaluator (registered as ``avss``) by the protocols the dataset's metadata
    names (``DatasetMetadata.protocols``; see the module docstring), in its label space
    (``DatasetMetadata.label_space``).

    Reads ``sem_seg_gt`` (dataset labels), ``sounding_categories`` and ``vocabulary`` from each
    input clip and ``sem_seg`` (vocabulary labels) from each output. ``evaluate`` returns
    ``{"sem_seg": {"protocol", "mIoU", "F_score", and for ``ov_avss`` with a base/novel split
    "mIoU_base", "mIoU_novel", "mIoU_harmonic"}}`` for the first protocol and
    ``"sem_seg_<protocol>"`` groups for the others; it writes ``report()`` to
    ``avss_metrics.json`` and the first protocol's bar chart to ``per_class_iou.png`` in
    ``output_dir`` (main process); with ``TEST.EXPORT_PREDICTIONS`` every rank writes palette PNGs
    of the predictions in dataset labels under ``output_dir/predictions/<uid>/<frame>.png``.

    Args:
        base_names / novel_names: the zero-shot split reported (default: the metadata's).
    """

    def __init__(
        self,
        dataset_name: str,
        cfg=None,
        output_dir: str | None = None,
        base_names: Sequence[str] | None = None,
        novel_names: Sequence[str] | None = None,
    ):
        metadata = get_dataset_metadata(dataset_name)
        self.dataset_name = dataset_name
        self.label_space = metadata.label_space
        self.base_names = tuple(metadata.base_names if base_names is None else base_names)
        self.novel_names = tuple(metadata.novel_names if novel_names is None else novel_names)
        self.protocols = tuple(metadata.protocols)
        check_protocols(self.protocols, f"Dataset {dataset_name}")
        self.output_dir = output_dir
        self.export = bool(cfg.TEST.EXPORT_PREDICTIONS) if cfg is not None else False
        if self.export and not output_dir:
            raise ValueError("TEST.EXPORT_PREDICTIONS needs an output directory for the evaluator")
        self.reset()

    def reset(self) -> None:
        self._scorer: SemanticScorer | None = None

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for clip, output in zip(inputs, outputs):
            prediction = output["sem_seg"]
            if self._scorer is None:
                self._scorer = SemanticScorer(self.label_space, self.protocols, prediction.device)
            ground_truth = clip["sem_seg_gt"].to(prediction.device)
            if prediction.shape != ground_truth.shape:
                raise ValueError(
                    f"Clip {clip['uid']}: sem_seg {tuple(prediction.shape)} and sem_seg_gt "
                    f"{tuple(ground_truth.shape)} differ in shape"
                )
            # Frames without ground truth (all ignored) add nothing.
            try:
                self._scorer.update(prediction, ground_truth, clip["sounding_categories"], clip["vocabulary"])
                if self.export:
                    export_predictions(
                        os.path.join(self.output_dir, "predictions"), clip["uid"], clip["frame_indices"],
                        self._scorer.dataset_labels(prediction, clip["vocabulary"]), self.label_space.palette,
                    )
            except ValueError as e:
                raise ValueError(f"Clip {clip['uid']}: {e}") from e

    def report(self) -> dict[str, Any] | None:
        """``SemanticScorer.report`` of everything processed, reduced over ranks (call once per
        evaluation; ``evaluate`` calls it); ``None`` off the main process."""
        scorer = self._scorer or SemanticScorer(self.label_space, self.protocols)
        if comm.get_world_size() > 1 and self._scorer is None:
            # A rank without clips still joins the collective, on the device the others use.
            device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else "cpu"
            for accumulator in scorer.accumulators.values():
                accumulator.to(device)
        scorer.all_reduce()
        if not comm.is_main_process():
            return None
        if int(next(iter(scorer.accumulators.values())).confusion.sum()) == 0:
            logger.warning("AVSSEvaluator on %s saw no annotated pixels; metrics are all 0", self.dataset_name)
        return scorer.report(self.base_names, self.novel_names)

    def evaluate(self) -> dict[str, Any] | None:
        report = self.report()
        if report is None:
            return None
        if self.output_dir:
            write_json_atomic(os.path.join(self.output_dir, METRICS_FILE), report)
            save_per_class_chart(report, self.base_names, self.novel_names, os.path.join(self.output_dir, CHART_FILE))
        return metric_groups(report, self.protocols)


# Datasets name their evaluator by this key (DatasetMetadata.evaluator_type).
EVALUATOR_REGISTRY.register(AVSSEvaluator, name="avss")
