#!/usr/bin/env python
"""Generate the synthetic AVISeg dataset (audio-visual instance segmentation).

    python tools/make_synthetic_aviseg.py [--out datasets/synthetic] [--seed 0]
        [--num-train-videos 24] [--num-val-videos 4] [--num-test-videos 6]
        [--categories person,violin,...] [--size 96 128] [--frames 8 12]

Writes ``<out>/AVISeg/`` in the real layout; point ``DATASETS.ROOT`` (or ``$OVAVSS_DATASETS``)
at ``<out>`` to use ``aviseg_train`` / ``aviseg_val`` / ``aviseg_test``. The same arguments
always give byte-identical files. See ``ov_avss/data/aviseg_synthetic.py`` for the design.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from ov_avss.data.aviseg_synthetic import (  # noqa: E402
    DEFAULT_CATEGORIES,
    DEFAULT_FRAMES,
    DEFAULT_SIZE,
    make_synthetic_aviseg,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="datasets/synthetic", help="datasets root to write into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-train-videos", type=int, default=24)
    parser.add_argument("--num-val-videos", type=int, default=4)
    parser.add_argument("--num-test-videos", type=int, default=6)
    parser.add_argument("--categories", default=",".join(DEFAULT_CATEGORIES), help="comma-separated AVISeg names")
    parser.add_argument("--size", type=int, nargs=2, default=list(DEFAULT_SIZE), metavar=("H", "W"))
    parser.add_argument("--frames", type=int, nargs=2, default=list(DEFAULT_FRAMES), metavar=("MIN", "MAX"))
    args = parser.parse_args(argv)
    counts = {"train": args.num_train_videos, "val": args.num_val_videos, "test": args.num_test_videos}
    if any(v < 0 for v in counts.values()):
        print(f"error: video counts must be >= 0, got {counts}", file=sys.stderr)
        return 2
    categories = [name.strip() for name in args.categories.split(",") if name.strip()]
    start = time.perf_counter()
    try:
        root = make_synthetic_aviseg(
            args.out, seed=args.seed, num_videos=counts, categories=categories,
            size=tuple(args.size), frames=tuple(args.frames),
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {root} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
