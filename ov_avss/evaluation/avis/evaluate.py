"""Score AVIS predictions (in memory, or a ``results.json``) against an AVISeg annotation file:
FSLA, HOTA, mAP."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from ...data.datasets.aviseg_annotations import AVISVideo, load_aviseg_json, read_json
from ...structures.rle import encode_mask, segmentation_to_rle
from ...structures import output_segments
from ...utils.file_io import write_json_atomic
from .fsla import FSLACounts, fsla_video_counts, summarize_fsla
from .track_metrics import hota_and_track_map


def track_predictions(video_id: int, output: dict) -> list[dict]:
    """The tracks of one model output as ``results.json`` entries, in the output's order.

    Args:
        video_id: the annotation file's id of the video.
        output: a model output with ``segments`` (``ov_avss.structures.output_segments``):
            labels contiguous (0..25 for AVISeg), masks ``[K, T, H, W]`` at the video's size.

    Returns:
        ``{video_id, score, category_id, segmentations}`` per track: ``category_id`` is AVISeg's
        (label + 1, the reader's ``label = category_id - 1``), one compressed RLE per frame.
    """
    segments = output_segments(output, f"Video {video_id}")
    masks = segments["masks"].cpu().numpy()
    return [
        {
            "video_id": int(video_id),
            "score": float(score),
            "category_id": int(label) + 1,
            "segmentations": [encode_mask(frame) for frame in track],
        }
        for score, label, track in zip(segments["scores"].tolist(), segments["labels"].tolist(), masks)
    ]


def load_predictions(path: str, videos: list[AVISVideo], categories: dict[int, str]) -> list[dict]:
    """Read and validate a ``results.json`` (``check_predictions``)."""
    return check_predictions(read_json(path, "Predictions file"), videos, categories, path)


def check_predictions(data: Any, videos: list[AVISVideo], categories: dict[int, str], source: str) -> list[dict]:
    """Validate predicted tracks: a list of ``{video_id, score, category_id, segmentations}``.

    Segmentations are normalised to compressed RLE (None stays None). Raises ValueError naming
    ``source`` (a file, or the evaluator), the entry and the key on bad input.
    """
    if not isinstance(data, list):
        raise ValueError(f"{source}: expected a JSON list of predicted tracks, got {type(data).__name__}")
    by_id = {v.video_id: v for v in videos}
    predictions = []
    for i, pred in enumerate(data):
        where = f"{source}[{i}]"
        if not isinstance(pred, dict):
            raise ValueError(f"{where}: expected an object, got {type(pred).__name__}")
        missing = [k for k in ("video_id", "score", "category_id", "segmentations") if k not in pred]
        if missing:
            raise ValueError(f"{where}: missing key(s) {missing}")
        video = by_id.get(pred["video_id"])
        if video is None:
            raise ValueError(f"{where}: video_id {pred['video_id']!r} is not in the ground truth")
        if pred["category_id"] not in categories:
            raise ValueError(f"{where}: category_id {pred['category_id']!r} is not a ground-truth category")
        if not isinstance(pred["score"], (int, float)):
            raise ValueError(f"{where}: score must be a number, got {pred['score']!r}")
        segs = pred["segmentations"]
        if not isinstance(segs, list) or len(segs) != video.length:
            n = len(segs) if isinstance(segs, list) else type(segs).__name__
            raise ValueError(f"{where}: 'segmentations' must list {video.length} frames, got {n}")
        predictions.append({
            "video_id": video.video_id, "score": float(pred["score"]), "category_id": int(pred["category_id"]),
            "segmentations": [
                segmentation_to_rle(s, video.height, video.width, f"{where} segmentations[{t}]")
                for t, s in enumerate(segs)
            ],
        })
    return predictions


def fsla(videos: list[AVISVideo], predictions: list[dict]) -> dict:
    """FSLA with its FAn / FAs / FAm breakdown (fractions) over all ground-truth videos."""
    by_video = defaultdict(list)
    for pred in predictions:
        by_video[pred["video_id"]].append(pred)
    counts = FSLACounts()
    for video in videos:
        counts.add(fsla_video_counts(list(video.tracks), by_video[video.video_id], video.length))
    return summarize_fsla(counts)


def score_avis(videos: list[AVISVideo], categories: dict[int, str], predictions: list[dict]) -> dict:
    """FSLA, HOTA and mAP (and their breakdowns) in percent, as published, of checked
    predictions (``check_predictions``) against an annotation file's videos and categories."""
    fractions = {**fsla(videos, predictions), **hota_and_track_map(videos, categories, predictions)}
    counts = {k: fractions.pop(k) for k in ("frames_n", "frames_s", "frames_m")}
    metrics = {k: (None if v is None else round(100.0 * v, 4)) for k, v in fractions.items()}
    metrics.update(counts, num_videos=len(videos), num_predictions=len(predictions))
    return metrics


def evaluate_avis(gt_json: str, pred_json: str, output_path: str | None = None) -> dict:
    """``score_avis`` of a ``results.json`` against an annotation file.

    Args:
        gt_json: an AVISeg annotation file (``{split}.json``).
        pred_json: the model's ``results.json``.
        output_path: when given, the metrics are also written there as JSON (atomically).
    """
    videos, categories = load_aviseg_json(gt_json)
    metrics = score_avis(videos, categories, load_predictions(pred_json, videos, categories))
    if output_path:
        write_json_atomic(output_path, metrics)
    return metrics
