#!/usr/bin/env python
"""Score audio-visual instance segmentation predictions: FSLA, HOTA, mAP (percent, as published).

    python tools/evaluate_avis.py --gt-json datasets/AVISeg/test.json --pred-json output/results.json
        [--output output/avis_metrics.json]

``--pred-json`` is the reference's ``results.json`` (a list of ``{video_id, score, category_id,
segmentations}`` with one RLE or null per frame). The metrics are printed and written to
``--output`` (default: ``avis_metrics.json`` beside the predictions). Definitions: docs/avis.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from ov_avss.evaluation.avis import evaluate_avis  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt-json", required=True, help="AVISeg annotation file ({split}.json)")
    parser.add_argument("--pred-json", required=True, help="predictions in results.json format")
    parser.add_argument("--output", default=None, help="where to write the metrics JSON")
    args = parser.parse_args(argv)
    output = args.output or os.path.join(os.path.dirname(os.path.abspath(args.pred_json)), "avis_metrics.json")
    try:
        metrics = evaluate_avis(args.gt_json, args.pred_json, output_path=output)
    except (ImportError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=2))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
