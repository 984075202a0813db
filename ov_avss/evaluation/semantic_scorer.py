"""Scoring label maps of one label space by a dataset's semantic protocols, shared by
``AVSSEvaluator`` and ``prediction_files`` (exported PNGs)."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..data.label_space import LabelSpace
from .confusion import frame_confusions, merge_label_noise, relabel_confusions
from .eval_size import check_ground_truth_range, resize_ground_truth_to_eval, resize_prediction_to_eval
from .semantic_protocols import OV_AVSS, check_protocols, protocol_metrics
from .semseg_accumulator import SemSegAccumulator

# The metric group of a dataset's first protocol; others are "sem_seg_<protocol>".
PRIMARY_GROUP = "sem_seg"


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
            sounding_categories: the window's sounding names (label-noise filter of ``ov_avss``).
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
            protocol: protocol_metrics(accumulator, protocol, self.label_space.names, base, novel)
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
