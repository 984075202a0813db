"""The two semantic AVSS protocols (docs/evaluation.md), each a function of a
``SemSegAccumulator``'s state, in the dataset's label space (AVSBench-semantic: 71 labels) at
224x224 (``eval_size``).

Pixels with the label space's ignore label (frames without ground truth) are ignored.
Predictions in a vocabulary's labels are mapped to the dataset's labels by
``LabelSpace.dataset_lookup``; ground truth of categories outside that vocabulary counts as
background.

- ``ov_avss`` (AVSBench-OV, the OV-AVSS release): ground-truth pixels of categories that do not
  sound in the window (label noise) become background; one 71x71 confusion matrix over all frames;
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

from typing import Any, Sequence

import torch

from .semseg_accumulator import SemSegAccumulator

OV_AVSS = "ov_avss"
AVSBENCH_AVSS = "avsbench_avss"
PROTOCOLS = (OV_AVSS, AVSBENCH_AVSS)


def check_protocols(protocols: Sequence[str], owner: str = "Semantic evaluation") -> None:
    """Raises ValueError unless ``protocols`` is a non-empty sequence of ``PROTOCOLS``."""
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown or not protocols:
        raise ValueError(f"{owner} protocols {list(protocols)}: the avss evaluator computes some of {PROTOCOLS}")


def ov_avss_metrics(
    accumulator: SemSegAccumulator, label_names: Sequence[str], base: Sequence[str] = (), novel: Sequence[str] = ()
) -> dict[str, Any]:
    """The ``ov_avss`` protocol: ``mIoU``, ``F_score``, per-class ``{"iou", "f_score"}``; with
    a split also ``mIoU_base``, ``mIoU_novel``, ``mIoU_harmonic``. All in [0, 1]."""
    confusion = accumulator.confusion.double().cpu()
    true_positive = confusion.diagonal()
    union = confusion.sum(dim=0) + confusion.sum(dim=1) - true_positive
    present = union > 0
    iou = torch.where(present, true_positive / union.clamp(min=1), torch.zeros_like(union))
    f_score, f_present = accumulator.frame_averages(accumulator.f_sum)

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


def avsbench_avss_metrics(accumulator: SemSegAccumulator, label_names: Sequence[str]) -> dict[str, Any]:
    """The ``avsbench_avss`` protocol: ``mIoU`` and ``F_score`` (means over all labels of the
    per-class frame averages) and per-class ``{"iou", "f_score"}`` of the classes that occur."""
    iou, occurs = accumulator.frame_averages(accumulator.iou_sum)
    f_score, _ = accumulator.frame_averages(accumulator.f_sum)
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
    accumulator: SemSegAccumulator,
    protocol: str,
    label_names: Sequence[str],
    base: Sequence[str] = (),
    novel: Sequence[str] = (),
) -> dict[str, Any]:
    """The metrics of ``protocol`` (one of ``PROTOCOLS``), with ``"protocol"`` naming it."""
    if protocol == OV_AVSS:
        metrics = ov_avss_metrics(accumulator, label_names, base, novel)
    elif protocol == AVSBENCH_AVSS:
        metrics = avsbench_avss_metrics(accumulator, label_names)
    else:
        raise ValueError(f"Unknown semantic evaluation protocol '{protocol}'; expected one of {PROTOCOLS}")
    return {"protocol": protocol, **metrics}
