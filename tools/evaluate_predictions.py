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
  ``--batch-clips`` test windows) and ``mIoU_pooled``, ``F_score_pooled``.
- ``avis``: AVISeg instance tracks, ``--gt-json {split}.json --pred-json results.json`` (the
  AVISM reference's format) instead of the two roots; JSON ``FSLA``, ``HOTA``, ``mAP`` in percent
  as published, with the FAn / FAs / FAm breakdown (docs/avis.md). ``--output`` defaults to
  ``avis_metrics.json`` beside the predictions.

    python tools/evaluate_predictions.py --setting avis --gt-json datasets/AVISeg/test.json \\
        --pred-json output/inference/aviseg_test/results.json

``--gt-root`` is the datasets root (or the ``AVSBench-semantic`` / ``AVSBench-object`` folder
itself). Predictions are ``<pred-root>/<uid>/<t>.png``, ``t`` the frame's position in the video
from 0 (what ``TEST.EXPORT_PREDICTIONS`` writes): palette images (RGB or indexed) of the dataset's
labels for the semantic settings, 8-bit grey images holding the sounding probability x 255 for
S4 / MS3. Semantic results also hold ``per_class``, with a bar chart saved as
``<output stem>_per_class.png``. Errors end with one ``error:`` line and exit status 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Sequence

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from ov_avss.config import get_cfg  # noqa: E402
from ov_avss.data.catalog import get_dataset_metadata, get_dataset_records  # noqa: E402
from ov_avss.data.categories import SPLIT_FILE, load_split  # noqa: E402
from ov_avss.data.datasets.avsbench_object import OBJECT_DIR  # noqa: E402
from ov_avss.data.datasets.avsbench_semantic import SEMANTIC_DIR  # noqa: E402
from ov_avss.data.label_space import BINARY_PNG  # noqa: E402
from ov_avss.evaluation.avis import evaluate_avis  # noqa: E402
from ov_avss.evaluation.chart import save_per_class_chart  # noqa: E402
from ov_avss.evaluation.prediction_files import (  # noqa: E402
    find_prediction_files,
    score_binary_files,
    score_semantic_files,
)
from ov_avss.utils.file_io import write_json_atomic  # noqa: E402

logger = logging.getLogger("evaluate_predictions")
_MAX_LISTED_MISSING = 10
# setting -> (ground-truth folder, registered dataset prefix); the dataset's metadata gives the
# label space and the protocols (the first is reported).
SETTINGS = {
    "avsbench_ov": (SEMANTIC_DIR, "avsbench_ov"),
    "avss": (SEMANTIC_DIR, "avsbench_semantic"),
    "s4": (OBJECT_DIR, "avsbench_s4"),
    "ms3": (OBJECT_DIR, "avsbench_ms3"),
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
    # The OV training set is the base-only videos; the OV validation set holds all 70 names.
    if prefix == "avsbench_ov" and split != "test":
        return {"train": "avsbench_ov_train_base", "val": "avsbench_ov_val_all"}[split]
    return f"{prefix}_{split}"


def evaluate_predictions(
    setting: str,
    gt_root: str,
    pred_root: str,
    split: str = "test",
    split_file: str = str(SPLIT_FILE),
    batch_windows: int | None = None,
    allow_missing: bool = False,
) -> dict[str, Any]:
    """Score every annotated frame of ``split``; returns the metrics dict (see module docstring).

    ``batch_windows`` defaults to ``TEST.AVSBENCH_BINARY_BATCH_CLIPS``. For ``avsbench_ov`` the
    result holds ``base`` and ``novel``, the split's names (for the chart).

    Raises:
        FileNotFoundError: prediction files are missing (listing the first ones) and
            ``allow_missing`` is False, or the ground truth is incomplete.
        ValueError: bad arguments or ground truth.
    """
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting '{setting}'; expected one of {sorted(SETTINGS)}")
    cfg = get_cfg()
    if batch_windows is not None:
        cfg.TEST.AVSBENCH_BINARY_BATCH_CLIPS = batch_windows
    if cfg.TEST.AVSBENCH_BINARY_BATCH_CLIPS < 1:
        raise ValueError(f"--batch-clips must be >= 1, got {cfg.TEST.AVSBENCH_BINARY_BATCH_CLIPS}")
    folder, prefix = SETTINGS[setting]
    cfg.DATASETS.ROOT = resolve_datasets_root(gt_root, folder)
    if not os.path.isdir(pred_root):
        raise FileNotFoundError(f"Prediction folder not found: {pred_root}")
    dataset_name = _dataset_name(prefix, split)
    label_space = get_dataset_metadata(dataset_name).label_space
    base: tuple[str, ...] = ()
    novel: tuple[str, ...] = ()
    if setting == "avsbench_ov":
        categories, base, novel = load_split(split_file)
        if tuple(categories) != label_space.category_names:
            raise ValueError(
                f"Split file {split_file} must list the 70 AVSBench categories in palette order; it may only "
                f"change which of them are base and novel"
            )
    records = get_dataset_records(dataset_name, cfg)

    jobs, missing = find_prediction_files(records, pred_root)
    if missing and not allow_missing:
        listed = "; ".join(missing[:_MAX_LISTED_MISSING])
        raise FileNotFoundError(
            f"{len(missing)} prediction files are missing under {pred_root} (pass --allow-missing to score "
            f"the others), first ones: {listed}"
        )
    if missing:
        logger.warning("%d prediction files are missing; those frames are not scored", len(missing))
    if label_space.mask_format == BINARY_PNG:
        results = score_binary_files(dataset_name, jobs, pred_root, cfg)
    else:
        results = score_semantic_files(dataset_name, jobs, pred_root, base, novel)
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
        help="S4 / MS3: windows per max-F batch (default TEST.AVSBENCH_BINARY_BATCH_CLIPS, the release's "
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
