#!/usr/bin/env python
"""Score exported predictions against AVSBench ground truth, by the protocol of each setting.

    python tools/evaluate_predictions.py --setting avsbench_ov --gt-root datasets \\
        --pred-root output/inference/avsbench_ov_test/predictions --output metrics.json \\
        [--split test] [--split-file avsbench_ov_split.json] [--batch-clips 4] [--allow-missing]

Settings, the ground truth they read and their protocol (docs/evaluation.md):

- ``avsbench_ov``: AVSBench-semantic, ``ov_avss``; JSON ``mIoU``, ``mIoU_base``, ``mIoU_novel``,
  ``mIoU_harmonic``, ``F_score``, and the split's ``base`` / ``novel`` names.
- ``avss``: AVSBench-semantic, closed set, ``avsbench_avss``; JSON ``mIoU``, ``F_score`` and the
  ``ov_avss`` numbers beside them under ``ov_avss``.
- ``s4`` / ``ms3``: AVSBench-object, ``avsbench_binary``; JSON ``mIoU``, ``F_score`` (per batch of
  ``--batch-clips`` test clips) and ``mIoU_pooled``, ``F_score_pooled``.
- ``avis``: AVISeg instance tracks, ``--gt-json {split}.json --pred-json results.json`` (the
  AVISM reference's format) instead of the two roots; JSON ``FSLA``, ``HOTA``, ``mAP`` in percent
  as published, with the FAn / FAs / FAm breakdown (docs/avis.md). ``--output`` defaults to
  ``avis_metrics.json`` beside the predictions.

    python tools/evaluate_predictions.py --setting avis --gt-json datasets/AVISeg/test.json \\
        --pred-json output/inference/aviseg_test/results.json

``--gt-root`` is the datasets root (or the ``AVSBench-semantic`` / ``AVSBench-object`` folder
itself). Predictions are ``<pred-root>/<uid>/<t>.png``, ``t`` the frame's position in the clip
from 0 (what ``TEST.EXPORT_PREDICTIONS`` writes): RGB palette images for the semantic settings,
8-bit grey images holding the sounding probability x 255 for S4 / MS3. Semantic results also
hold ``per_class``, with a bar chart saved as ``<output stem>_per_class.png``. Errors end with
one ``error:`` line and exit status 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Sequence

import numpy as np
import torch

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from ov_avss.config import get_cfg  # noqa: E402
from ov_avss.data.categories import CATEGORIES, SPLIT_FILE, load_split  # noqa: E402
from ov_avss.data.datasets.avsbench_object import OBJECT_DIR, load_avsbench_object  # noqa: E402
from ov_avss.data.datasets.avsbench_semantic import SEMANTIC_DIR, load_avsbench_semantic  # noqa: E402
from ov_avss.data.image_io import read_binary_mask, read_palette_mask  # noqa: E402
from ov_avss.evaluation.avis import evaluate_avis  # noqa: E402
from ov_avss.evaluation.avss_evaluator import AVSBENCH_AVSS, NUM_LABELS, OV_AVSS, SemanticScorer  # noqa: E402
from ov_avss.evaluation.binary_evaluator import (  # noqa: E402
    PROTOCOL as BINARY_PROTOCOL,
    ClipScores,
    batch_metrics,
    binary_frame_scores,
)
from ov_avss.evaluation.chart import save_per_class_chart  # noqa: E402
from ov_avss.evaluation.export import read_probability_png  # noqa: E402
from ov_avss.utils.file_io import write_json_atomic  # noqa: E402

logger = logging.getLogger("evaluate_predictions")
_MAX_LISTED_MISSING = 10
# setting -> (ground-truth folder, registered dataset prefix, protocols; the first is reported).
SETTINGS = {
    "avsbench_ov": (SEMANTIC_DIR, "avsbench_ov", (OV_AVSS,)),
    "avss": (SEMANTIC_DIR, "avsbench_semantic", (AVSBENCH_AVSS, OV_AVSS)),
    "s4": (OBJECT_DIR, "avsbench_s4", (BINARY_PROTOCOL,)),
    "ms3": (OBJECT_DIR, "avsbench_ms3", (BINARY_PROTOCOL,)),
}
# Instance tracks are scored from two JSON files, not from frame folders.
AVIS_SETTING = "avis"
AVIS_PRINTED_KEYS = ("FSLA", "HOTA", "mAP")
PRINTED_KEYS = ("mIoU", "mIoU_base", "mIoU_novel", "mIoU_harmonic", "F_score", "mIoU_pooled", "F_score_pooled")


def resolve_datasets_root(gt_root: str, folder: str) -> str:
    """The datasets root holding ``folder``: ``gt_root`` itself or, when ``gt_root`` is that
    folder, its parent."""
    if os.path.isdir(os.path.join(gt_root, folder)):
        return gt_root
    if os.path.basename(os.path.normpath(gt_root)) == folder and os.path.isdir(gt_root):
        return os.path.dirname(os.path.normpath(gt_root))
    raise FileNotFoundError(f"No {folder} folder at {gt_root}; --gt-root must be the datasets root or {folder} itself")


def _dataset_name(prefix: str, split: str) -> str:
    # The OV validation set is registered as avsbench_ov_val_all (all 70 names).
    return f"{prefix}_val_all" if (prefix == "avsbench_ov" and split == "val") else f"{prefix}_{split}"


def _frame_jobs(records: list[dict], pred_root: str) -> tuple[list[tuple[dict, list[tuple[str, str]]]], list[str]]:
    """Per record, the annotated frames' ``(ground-truth path, prediction path)``; and the
    missing prediction files."""
    jobs, missing = [], []
    for record in records:
        frames = []
        for t, mask_path in enumerate(record["mask_paths"]):
            if mask_path is None:
                continue
            prediction = os.path.join(pred_root, record["uid"], f"{t}.png")
            if os.path.isfile(prediction):
                frames.append((mask_path, prediction))
            else:
                missing.append(prediction)
        jobs.append((record, frames))
    return jobs, missing


def _score_semantic(jobs, protocols: Sequence[str], base: Sequence[str], novel: Sequence[str]) -> dict[str, Any]:
    scorer = SemanticScorer(protocols)
    for record, frames in jobs:
        for gt_path, prediction_path in frames:
            # Prediction and ground truth may differ in size; each is resized to 224x224.
            ground_truth = torch.from_numpy(read_palette_mask(gt_path, NUM_LABELS))[None]
            prediction = torch.from_numpy(read_palette_mask(prediction_path, NUM_LABELS))[None]
            scorer.update(prediction, ground_truth, record["category_names"])
    return scorer.report(base, novel)


def _score_binary(jobs, batch_clips: int) -> dict[str, Any]:
    clips = ClipScores()
    for record, frames in jobs:
        if not frames:
            continue
        ground_truth, probabilities = [], []
        for gt_path, prediction_path in frames:
            mask, probability = read_binary_mask(gt_path), read_probability_png(prediction_path)
            if mask.shape != probability.shape:
                raise ValueError(
                    f"Prediction {prediction_path} is {probability.shape[1]}x{probability.shape[0]} but its ground "
                    f"truth {gt_path} is {mask.shape[1]}x{mask.shape[0]}; S4 / MS3 are scored at the ground truth's size"
                )
            ground_truth.append(mask)
            probabilities.append(probability)
        jaccard, f_curve, non_empty = binary_frame_scores(
            torch.from_numpy(np.stack(probabilities)), torch.from_numpy(np.stack(ground_truth))
        )
        clips.add(record["uid"], jaccard, f_curve, non_empty)
    return {"protocol": BINARY_PROTOCOL, **batch_metrics(clips.rows, batch_clips)}


def evaluate_predictions(
    setting: str,
    gt_root: str,
    pred_root: str,
    split: str = "test",
    split_file: str = str(SPLIT_FILE),
    batch_clips: int | None = None,
    allow_missing: bool = False,
) -> dict[str, Any]:
    """Score every annotated frame of ``split``; returns the metrics dict (see module docstring).

    ``batch_clips`` defaults to ``TEST.AVSBENCH_BINARY_BATCH_CLIPS``. For ``avsbench_ov`` the
    result holds ``base`` and ``novel``, the split's names (for the chart).

    Raises:
        FileNotFoundError: prediction files are missing (listing the first ones) and
            ``allow_missing`` is False, or the ground truth is incomplete.
        ValueError: bad arguments or ground truth.
    """
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting '{setting}'; expected one of {sorted(SETTINGS)}")
    if batch_clips is None:
        batch_clips = int(get_cfg().TEST.AVSBENCH_BINARY_BATCH_CLIPS)
    if batch_clips < 1:
        raise ValueError(f"--batch-clips must be >= 1, got {batch_clips}")
    folder, prefix, protocols = SETTINGS[setting]
    root = resolve_datasets_root(gt_root, folder)
    if not os.path.isdir(pred_root):
        raise FileNotFoundError(f"Prediction folder not found: {pred_root}")
    base: tuple[str, ...] = ()
    novel: tuple[str, ...] = ()
    if setting == "avsbench_ov":
        categories, base, novel = load_split(split_file)
        if tuple(categories) != tuple(CATEGORIES):
            raise ValueError(
                f"Split file {split_file} must list the 70 AVSBench categories in palette order; it may only "
                f"change which of them are base and novel"
            )
    dataset_name = _dataset_name(prefix, split)
    if folder == SEMANTIC_DIR:
        records = load_avsbench_semantic(root, split, dataset_name)
    else:
        records = load_avsbench_object(root, setting, split, dataset_name)

    jobs, missing = _frame_jobs(records, pred_root)
    if missing and not allow_missing:
        listed = "; ".join(missing[:_MAX_LISTED_MISSING])
        raise FileNotFoundError(
            f"{len(missing)} prediction files are missing under {pred_root} (pass --allow-missing to score "
            f"the others), first ones: {listed}"
        )
    if missing:
        logger.warning("%d prediction files are missing; those frames are not scored", len(missing))
    if folder == SEMANTIC_DIR:
        results = _score_semantic(jobs, protocols, base, novel)
    else:
        results = _score_binary(jobs, batch_clips)
    logger.info("Scored %s (%s) by the %s protocol", setting, dataset_name, results["protocol"])
    split_names = {"base": list(base), "novel": list(novel)} if setting == "avsbench_ov" else {}
    return {"setting": setting, **results, **split_names, "num_missing_predictions": len(missing)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", required=True, choices=sorted((*SETTINGS, AVIS_SETTING)))
    parser.add_argument("--gt-root", help="datasets root (or AVSBench-semantic / AVSBench-object)")
    parser.add_argument("--pred-root", help="folder of <uid>/<t>.png predictions")
    parser.add_argument("--gt-json", help="avis: the AVISeg annotation file ({split}.json)")
    parser.add_argument("--pred-json", help="avis: predictions in the reference's results.json format")
    parser.add_argument("--output", help="metrics JSON to write (avis: default avis_metrics.json beside --pred-json)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--split-file", default=str(SPLIT_FILE), help="base/novel split JSON (avsbench_ov)")
    parser.add_argument(
        "--batch-clips", type=int, default=None,
        help="S4 / MS3: clips per max-F batch (default TEST.AVSBENCH_BINARY_BATCH_CLIPS, the release's "
        "--test_batch_size)",
    )
    parser.add_argument("--allow-missing", action="store_true", help="score only the frames that have a prediction")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    needed = ("gt_json", "pred_json") if args.setting == AVIS_SETTING else ("gt_root", "pred_root", "output")
    absent = [f"--{name.replace('_', '-')}" for name in needed if getattr(args, name) is None]
    if absent:
        print(f"error: --setting {args.setting} needs {' and '.join(absent)}", file=sys.stderr)
        return 2
    if args.setting == AVIS_SETTING:
        return _main_avis(args)
    try:
        results = evaluate_predictions(
            args.setting, args.gt_root, args.pred_root, args.split, args.split_file, args.batch_clips,
            args.allow_missing,
        )
        write_json_atomic(args.output, results)
        if "per_class" in results:
            stem, _ = os.path.splitext(args.output)
            save_per_class_chart(results, results.get("base", ()), results.get("novel", ()), f"{stem}_per_class.png")
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.setting} ({results['protocol']}): " + " ".join(
        f"{key}={results[key]:.4f}" for key in PRINTED_KEYS if key in results
    ))
    return 0


def _main_avis(args: argparse.Namespace) -> int:
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(args.pred_json)), "avis_metrics.json")
    try:
        metrics = evaluate_avis(args.gt_json, args.pred_json, output_path=output)
    except (ImportError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.setting}: " + " ".join(f"{key}={metrics[key]:.2f}" for key in AVIS_PRINTED_KEYS))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
