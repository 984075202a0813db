#!/usr/bin/env python
"""Score exported palette-PNG predictions against AVSBench-semantic ground truth.

    python tools/evaluate_predictions.py --gt-root datasets/AVSBench-semantic \\
        --pred-root output/inference/avsbench_ov_test/predictions --output metrics.json \\
        [--split test] [--split-file avsbench_ov_split.json] [--allow-missing]

Predictions are ``<pred-root>/<uid>/<frame>.png`` RGB palette images (what
``TEST.EXPORT_PREDICTIONS`` writes). Metrics follow the OV-AVSS protocol (see
``ov_avss/evaluation/avss_evaluator.py``); the JSON holds ``mIoU``, ``mIoU_base``,
``mIoU_novel``, ``mIoU_harmonic``, ``F_score`` (all in [0, 1]) and ``per_class``; a per-class bar
chart is saved next to it as ``<output stem>_per_class.png``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

import numpy as np
import torch


import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from ov_avss.data.categories import BACKGROUND, CATEGORIES, SPLIT_FILE, load_split  # noqa: E402
from ov_avss.data.datasets.avsbench_semantic import (  # noqa: E402
    LABEL_FILE,
    METADATA_FILE,
    REQUIRED_COLUMNS,
    SEMANTIC_DIR,
    SUBSET_NUM_FRAMES,
    check_label2idx,
    parse_sounding_categories,
)
from ov_avss.data.datasets.common import read_csv_rows  # noqa: E402
from ov_avss.data.image_io import read_palette_mask  # noqa: E402
from ov_avss.evaluation.avss_evaluator import (  # noqa: E402
    NUM_LABELS,
    SemSegAccumulator,
    filter_label_noise,
    resize_to_eval,
)
from ov_avss.evaluation.chart import save_per_class_chart  # noqa: E402
from ov_avss.utils.file_io import write_json_atomic  # noqa: E402

logger = logging.getLogger("evaluate_predictions")
_MAX_LISTED_MISSING = 10


def resolve_gt_root(gt_root: str) -> str:
    """``gt_root`` itself or its ``AVSBench-semantic`` child, whichever holds ``metadata.csv``."""
    for candidate in (gt_root, os.path.join(gt_root, SEMANTIC_DIR)):
        if os.path.isfile(os.path.join(candidate, METADATA_FILE)):
            return candidate
    raise FileNotFoundError(
        f"No {METADATA_FILE} in {gt_root} or {os.path.join(gt_root, SEMANTIC_DIR)}; --gt-root must be the "
        f"AVSBench-semantic folder or its parent"
    )


def evaluate_predictions(
    gt_root: str, pred_root: str, split: str = "test", split_file: str = str(SPLIT_FILE), allow_missing: bool = False
) -> dict:
    """Score every annotated frame of ``split``; returns the metrics dict (see module docstring).

    Raises:
        FileNotFoundError: prediction files are missing (listing the first ones) and
            ``allow_missing`` is False, or the ground truth is incomplete.
    """
    root = resolve_gt_root(gt_root)
    if not os.path.isdir(pred_root):
        raise FileNotFoundError(f"Prediction folder not found: {pred_root}")
    categories, base, novel = load_split(split_file)
    if tuple(categories) != tuple(CATEGORIES):
        raise ValueError(
            f"Split file {split_file} must list the 70 AVSBench categories in palette order; it may only "
            f"change which of them are base and novel"
        )
    check_label2idx(os.path.join(root, LABEL_FILE))
    metadata_path = os.path.join(root, METADATA_FILE)
    _, rows = read_csv_rows(metadata_path, REQUIRED_COLUMNS)
    clips = [row for row in rows if row["split"] == split]
    if not clips:
        raise ValueError(f"{metadata_path} has no clips of split '{split}'")

    jobs: list[tuple[dict, list[tuple[str, str]]]] = []
    missing: list[str] = []
    for row in clips:
        subset, uid = row["label"], row["uid"]
        if subset not in SUBSET_NUM_FRAMES:
            raise ValueError(f"{metadata_path}: clip '{uid}' has unknown label (subset) '{subset}'")
        annotated = 1 if (subset == "v1s" and split == "train") else SUBSET_NUM_FRAMES[subset]
        frames = []
        for t in range(annotated):
            prediction = os.path.join(pred_root, uid, f"{t}.png")
            if os.path.isfile(prediction):
                frames.append((os.path.join(root, subset, uid, "labels_rgb", f"{t}.png"), prediction))
            else:
                missing.append(prediction)
        jobs.append((row, frames))
    if missing and not allow_missing:
        listed = "\n  ".join(missing[:_MAX_LISTED_MISSING])
        raise FileNotFoundError(
            f"{len(missing)} prediction files are missing under {pred_root} (pass --allow-missing to score "
            f"the others), first ones:\n  {listed}"
        )
    if missing:
        logger.warning("%d prediction files are missing; those frames are not scored", len(missing))

    accumulator = SemSegAccumulator(NUM_LABELS)
    for row, frames in jobs:
        if not frames:
            continue
        sounding = parse_sounding_categories(row["a_obj"], metadata_path, row["uid"])
        ground_truth = torch.from_numpy(np.stack([read_palette_mask(gt, NUM_LABELS) for gt, _ in frames]))
        # Frames may differ in size between prediction and ground truth; both go to 224x224.
        predictions = [torch.from_numpy(read_palette_mask(pred, NUM_LABELS)) for _, pred in frames]
        prediction = torch.cat([resize_to_eval(p[None]) for p in predictions])
        accumulator.update(prediction, resize_to_eval(filter_label_noise(ground_truth, sounding)))
    results = accumulator.metrics((BACKGROUND, *categories), base, novel)
    results["num_missing_predictions"] = len(missing)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt-root", required=True, help="AVSBench-semantic folder (or its parent)")
    parser.add_argument("--pred-root", required=True, help="folder of <uid>/<frame>.png palette predictions")
    parser.add_argument("--output", required=True, help="metrics JSON to write")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--split-file", default=str(SPLIT_FILE), help="base/novel split JSON")
    parser.add_argument("--allow-missing", action="store_true", help="score only the frames that have a prediction")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        results = evaluate_predictions(args.gt_root, args.pred_root, args.split, args.split_file, args.allow_missing)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    write_json_atomic(args.output, results)
    stem, _ = os.path.splitext(args.output)
    _, base, novel = load_split(args.split_file)
    save_per_class_chart(results, base, novel, f"{stem}_per_class.png")
    print(
        " ".join(f"{k}={results[k]:.4f}" for k in ("mIoU", "mIoU_base", "mIoU_novel", "mIoU_harmonic", "F_score"))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
