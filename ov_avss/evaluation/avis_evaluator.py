"""The ``avis`` evaluator: AVISM track outputs -> the reference's ``results.json`` -> FSLA, HOTA
and mAP (``ov_avss.evaluation.avis.evaluate_avis``)."""
from __future__ import annotations

import logging
import os
from typing import Any

from ..data.catalog import get_dataset_records
from ..data.datasets.aviseg_annotations import load_aviseg_json
from ..utils import comm
from ..utils.file_io import write_json_atomic
from .avis import evaluate_avis, track_predictions
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator

logger = logging.getLogger(__name__)


class AVISEvaluator(DatasetEvaluator):
    """Scores whole-video track predictions against the dataset's AVISeg annotation file.

    ``process`` takes per video an input with ``video_id`` and an output with ``pred_scores``,
    ``pred_labels`` (contiguous, 0..K-1) and ``pred_masks`` bool ``[K, T, H, W]`` at the
    video's size. ``evaluate`` writes ``results.json`` and ``avis_metrics.json`` to
    ``output_dir`` and returns the metrics (percent) on the main process. Tracks of a category
    the annotation file does not list are dropped (with a warning) before scoring.
    """

    def __init__(self, dataset_name: str, cfg, output_dir: str) -> None:
        records = get_dataset_records(dataset_name, cfg)
        files = sorted({record["annotations_file"] for record in records})
        if len(files) != 1:
            raise ValueError(f"Dataset '{dataset_name}': expected one AVISeg annotation file, got {files}")
        self.gt_json = files[0]
        self.lengths = {record["video_id"]: record["num_frames"] for record in records}
        self.category_ids = set(load_aviseg_json(self.gt_json)[1])
        self.output_dir = output_dir
        self._predictions: list[dict] = []

    def reset(self) -> None:
        self._predictions = []

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for video, output in zip(inputs, outputs):
            video_id = int(video["video_id"])
            masks = output["pred_masks"]  # [K, T, H, W] bool
            if video_id not in self.lengths or tuple(masks.shape[1:2]) != (self.lengths[video_id],):
                raise ValueError(
                    f"AVISEvaluator: video {video_id}: masks {tuple(masks.shape)} do not match its "
                    f"{self.lengths.get(video_id, 'unknown')} frames in {self.gt_json}"
                )
            self._predictions.extend(track_predictions(video_id, output))

    def evaluate(self) -> dict[str, Any] | None:
        shards = comm.gather(self._predictions)
        if not comm.is_main_process():
            return None
        predictions = [p for shard in shards for p in shard]
        # The scorer accepts only categories the annotation file lists (all 26 in AVISeg; the
        # synthetic sets list the ones they use): tracks of other classes cannot match anything.
        unknown = [p for p in predictions if p["category_id"] not in self.category_ids]
        if unknown:
            logger.warning(
                "AVISEvaluator: dropping %d of %d tracks whose category is not in %s (ids %s)",
                len(unknown), len(predictions), self.gt_json, sorted({p["category_id"] for p in unknown}),
            )
            predictions = [p for p in predictions if p["category_id"] in self.category_ids]
        os.makedirs(self.output_dir, exist_ok=True)
        pred_json = os.path.join(self.output_dir, "results.json")
        write_json_atomic(pred_json, predictions, indent=None)
        metrics = evaluate_avis(self.gt_json, pred_json, os.path.join(self.output_dir, "avis_metrics.json"))
        logger.info("AVIS metrics on %s: %s", self.gt_json, metrics)
        return metrics


# Datasets name their evaluator by this key (DatasetMetadata.evaluator_type).
EVALUATOR_REGISTRY.register(AVISEvaluator, name="avis")
