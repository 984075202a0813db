"""HOTA and spatio-temporal mask AP through TrackEval (``trackeval`` on PyPI), as the AVISM reference.

The reference runs TrackEval's HOTA (defaults) and TrackMAP (area ranges 0-128², 128²-256², above;
no time ranges; IoU 0.5:0.05:0.95; 101 recall points) on YouTube-VIS style data, per class, then
reports the class average (``cls_comb_cls_av``) averaged over the metric's thresholds:
HOTA is averaged over every category of the ground-truth file (a category without ground truth
nor predictions scores 0, TrackEval's default), AP over the categories where it is defined.
TrackEval's ``YouTubeVIS`` dataset reads files, so the normalised annotations are written to a
temporary folder in its layout. One deliberate difference from the reference: predicted
tracks are numbered from 1 (see ``global_tid_counter`` below).
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np
from pycocotools import mask as mask_utils

from ...data.datasets.aviseg_annotations import AVISVideo
from ...structures.rle import rle_area

# The reference's TrackMAP area ranges (pixels²) and their labels.
AREA_RANGES = [[0 ** 2, 128 ** 2], [128 ** 2, 256 ** 2], [256 ** 2, 1e5 ** 2]]
AREA_LABELS = ["area_s", "area_m", "area_l"]
_SPLIT = "avis"
_TRACKER = "model"


def _uncompressed(rle: dict | None) -> dict | None:
    """Uncompressed RLE (``counts`` a list): the form TrackEval's YouTubeVIS reader decodes for gt."""
    if rle is None:
        return None
    flat = mask_utils.decode(rle).flatten(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts  # runs start with background
    return {"size": rle["size"], "counts": counts}


def _gt_json(videos: list[AVISVideo], categories: dict[int, str]) -> dict:
    annotations = []
    for video in videos:
        for track in video.tracks:
            annotations.append({
                "id": track["id"], "video_id": video.video_id, "category_id": track["category_id"],
                "height": video.height, "width": video.width, "iscrowd": 0,
                "segmentations": [_uncompressed(s) for s in track["segmentations"]],
                "areas": [rle_area(s) if s is not None else None for s in track["segmentations"]],
            })
    return {
        "videos": [{"id": v.video_id, "file_names": list(v.file_names), "height": v.height, "width": v.width}
                   for v in videos],
        "categories": [{"id": k, "name": n} for k, n in sorted(categories.items())],
        "annotations": annotations,
    }


def hota_and_track_map(videos: list[AVISVideo], categories: dict[int, str], predictions: list[dict]) -> dict:
    """Class-averaged HOTA (with DetA, AssA, LocA) and TrackMAP (AP, AP_s/m/l, AR) as fractions;
    a TrackMAP score without ground truth (e.g. ``AP_l`` when no track is large) is None.

    Args:
        videos / categories: the ground truth (``load_aviseg_json``).
        predictions: validated ``results.json`` entries (``video_id``, ``score``,
            ``category_id``, ``segmentations`` as compressed RLE or None per frame).
    """
    try:
        import trackeval  # imported here so the rest of the package works without it
    except ImportError as e:
        raise ImportError(
            "HOTA and mAP need the 'trackeval' package: pip install --no-deps trackeval==1.3.0 (requirements.txt)"
        ) from e

    with tempfile.TemporaryDirectory(prefix="avis_eval_") as tmp:
        gt_dir = os.path.join(tmp, "gt", f"youtube_vis_{_SPLIT}")
        tracker_dir = os.path.join(tmp, "trackers", f"youtube_vis_{_SPLIT}", _TRACKER, "data")
        os.makedirs(gt_dir)
        os.makedirs(tracker_dir)
        with open(os.path.join(gt_dir, "gt.json"), "w", encoding="utf-8") as f:
            json.dump(_gt_json(videos, categories), f)
        with open(os.path.join(tracker_dir, "results.json"), "w", encoding="utf-8") as f:
            json.dump(predictions, f)
        dataset = trackeval.datasets.YouTubeVIS({
            "GT_FOLDER": os.path.join(tmp, "gt") + os.sep,
            "TRACKERS_FOLDER": os.path.join(tmp, "trackers") + os.sep,
            "SPLIT_TO_EVAL": _SPLIT,
            "TRACKERS_TO_EVAL": [_TRACKER],
            "PRINT_CONFIG": False,
        })
        # TrackMAP marks a ground-truth track matched by storing the predicted track's id and tests
        # ``> 0``, so a match to the track numbered 0 would not count as one and a second
        # prediction could take the same ground truth. Numbering predictions from 1 keeps the
        # one-to-one matching of the definition.
        dataset.global_tid_counter = 1
        map_config = trackeval.metrics.TrackMAP.get_default_metric_config()
        map_config.update(USE_TIME_RANGES=False, AREA_RANGES=AREA_RANGES, AREA_RANGE_LABELS=AREA_LABELS,
                          PRINT_CONFIG=False)
        metrics = {"HOTA": trackeval.metrics.HOTA(), "TrackMAP": trackeval.metrics.TrackMAP(map_config)}
        _, seq_list, class_list = dataset.get_eval_info()
        per_seq = {}
        for seq in sorted(seq_list):
            raw = dataset.get_raw_seq_data(_TRACKER, seq)
            per_seq[seq] = {}
            for cls in class_list:
                data = dataset.get_preprocessed_seq_data(raw, cls)
                per_seq[seq][cls] = {name: m.eval_sequence(data) for name, m in metrics.items()}

    averaged = {}
    for name, metric in metrics.items():
        per_class = {cls: metric.combine_sequences({s: per_seq[s][cls][name] for s in per_seq}) for cls in class_list}
        averaged[name] = metric.combine_classes_class_averaged(per_class)
    hota, track_map = averaged["HOTA"], averaged["TrackMAP"]
    out = {key: float(np.mean(hota[key])) for key in ("HOTA", "DetA", "AssA", "LocA")}
    out["mAP"] = _defined(track_map["AP_all"])
    for label in AREA_LABELS:
        out[f"AP_{label[-1]}"] = _defined(track_map[f"AP_{label}"])
    out["AR"] = _defined(track_map["AR_all"])
    return out


def _defined(values) -> float | None:
    """The mean over IoU thresholds of a TrackMAP score, or None where TrackEval marks it
    undefined with -1 (no ground-truth track in that area range)."""
    value = float(np.mean(values))
    return None if value < 0 else value
