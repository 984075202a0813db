"""The ``avss`` evaluator: semantic AVSS metrics of a model's label maps over a dataset, by the
protocols its metadata names (``semantic_protocols``; docs/evaluation.md)."""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import torch

from ..data.catalog import get_dataset_metadata
from ..utils import comm
from ..utils.file_io import write_json_atomic
from .build import EVALUATOR_REGISTRY
from .chart import save_per_class_chart
from .evaluator import DatasetEvaluator
from .export import export_predictions
from .semantic_protocols import check_protocols
from .semantic_scorer import SemanticScorer, metric_groups

logger = logging.getLogger(__name__)

# Written into the evaluator's output_dir: the full metrics of each protocol with per-class
# values, and the per-class chart of the dataset's first protocol.
METRICS_FILE = "avss_metrics.json"
CHART_FILE = "per_class_iou.png"


class AVSSEvaluator(DatasetEvaluator):
    """Semantic AVSS evaluator (registered as ``avss``) by the protocols the dataset's metadata
    names (``DatasetMetadata.protocols``; see ``semantic_protocols``), in its label space
    (``DatasetMetadata.label_space``).

    Reads ``sem_seg_gt`` (dataset labels), ``sounding_categories`` and ``vocabulary`` from each
    input window and ``sem_seg`` (vocabulary labels) from each output. ``evaluate`` returns
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
        for window, output in zip(inputs, outputs):
            prediction = output["sem_seg"]
            if self._scorer is None:
                self._scorer = SemanticScorer(self.label_space, self.protocols, prediction.device)
            ground_truth = window["sem_seg_gt"].to(prediction.device)
            if prediction.shape != ground_truth.shape:
                raise ValueError(
                    f"Window {window['uid']}: sem_seg {tuple(prediction.shape)} and sem_seg_gt "
                    f"{tuple(ground_truth.shape)} differ in shape"
                )
            # Frames without ground truth (all ignored) add nothing.
            try:
                self._scorer.update(prediction, ground_truth, window["sounding_categories"], window["vocabulary"])
                if self.export:
                    export_predictions(
                        os.path.join(self.output_dir, "predictions"), window["uid"], window["frame_indices"],
                        self._scorer.dataset_labels(prediction, window["vocabulary"]), self.label_space.palette,
                    )
            except ValueError as e:
                raise ValueError(f"Window {window['uid']}: {e}") from e

    def report(self) -> dict[str, Any] | None:
        """``SemanticScorer.report`` of everything processed, reduced over ranks (call once per
        evaluation; ``evaluate`` calls it); ``None`` off the main process."""
        scorer = self._scorer or SemanticScorer(self.label_space, self.protocols)
        if comm.get_world_size() > 1 and self._scorer is None:
            # A rank without windows still joins the collective, on the device the others use.
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
