"""The ``avis`` evaluator: model track outputs -> FSLA, HOTA and mAP, scored in memory
(``ov_avss.evaluation.avis.score_avis``), with the reference's ``results.json`` written once."""
from __future__ import annotations

import logging
import os
from typing import Any

from ..data.datasets.aviseg_annotations import load_aviseg_json
from ..structures import output_segments
from ..utils import comm
from ..utils.file_io import write_json_atomic
from .avis import check_predictions, score_avis, track_predictions
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator

logger = logging.getLogger(__name__)

# Written into the evaluator's output_dir.
RESULTS_FILE = "results.json"
METRICS_FILE = "avis_metrics.json"


class AVISEvaluator(DatasetEvaluator):
    """Scores whole-video track predictions against the AVISeg annotation file their inputs name.

    ``process`` takes per video an input with ``video_id`` and ``annotations_file`` (as the AVIS
    mapper sets them in testing) and an output with ``segments`` (labels contiguous, 0..K-1;
    masks bool ``[K, T, H, W]`` over all the input's frames at the video's size). ``evaluate``
    scores the gathered tracks in memory, writes ``results.json`` and ``avis_metrics.json`` to
    ``output_dir`` and returns the metrics (percent) on the main process. Tracks of a category
    the annotation file does not list are dropped (with a warning) before scoring.
    """

    def __init__(self, dataset_name: str, cfg, output_dir: str) -> None:
        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self.reset()

    def reset(self) -> None:
        self._predictions: list[dict] = []
        self._annotation_files: set[str] = set()

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for video, output in zip(inputs, outputs):
            video_id = int(video["video_id"])
            if "annotations_file" not in video:
                raise KeyError(
                    f"AVISEvaluator: the input of video {video_id} has no 'annotations_file' "
                    "(the AVIS test mapper sets it)"
                )
            masks = output_segments(output, f"AVISEvaluator: video {video_id}")["masks"]
            if masks.shape[1] != len(video["frame_indices"]):
                raise ValueError(
                    f"AVISEvaluator: video {video_id}: masks {tuple(masks.shape)} do not cover its "
                    f"{len(video['frame_indices'])} input frames"
                )
            self._annotation_files.add(video["annotations_file"])
            self._predictions.extend(track_predictions(video_id, output))

    def evaluate(self) -> dict[str, Any] | None:
        shards = comm.gather((self._annotation_files, self._predictions))
        if not comm.is_main_process():
            return None
        files = sorted(set().union(*(shard_files for shard_files, _ in shards)))
        if len(files) != 1:
            raise ValueError(f"Dataset '{self.dataset_name}': expected one AVISeg annotation file, got {files}")
        gt_json = files[0]
        videos, categories = load_aviseg_json(gt_json)
        predictions = [p for _, shard_predictions in shards for p in shard_predictions]
        # The scorer accepts only categories the annotation file lists (all 26 in AVISeg; the
        # synthetic sets list the ones they use): tracks of other classes cannot match anything.
        unknown = [p for p in predictions if p["category_id"] not in categories]
        if unknown:
            logger.warning(
                "AVISEvaluator: dropping %d of %d tracks whose category is not in %s (ids %s)",
                len(unknown), len(predictions), gt_json, sorted({p["category_id"] for p in unknown}),
            )
            predictions = [p for p in predictions if p["category_id"] in categories]
        metrics = score_avis(videos, categories, check_predictions(predictions, videos, categories, "AVISEvaluator"))
        os.makedirs(self.output_dir, exist_ok=True)
        write_json_atomic(os.path.join(self.output_dir, RESULTS_FILE), predictions, indent=None)
        write_json_atomic(os.path.join(self.output_dir, METRICS_FILE), metrics)
        logger.info("AVIS metrics on %s: %s", gt_json, metrics)
        return metrics


# Datasets name their evaluator by this key (DatasetMetadata.evaluator_type).
EVALUATOR_REGISTRY.register(AVISEvaluator, name="avis")
