#!/usr/bin/env python
"""Generate the synthetic AVSBench-semantic dataset (the quickstart's default data).

    python tools/make_synthetic_avsbench.py [--out datasets/synthetic] [--seed 0]
        [--num-train-clips 80] [--num-val-clips 8] [--num-test-clips 24]
        [--categories car,dog,...] [--size 128 128] [--with-object]

Writes ``<out>/AVSBench-semantic/`` in the real layout (and ``<out>/AVSBench-object/`` with
``--with-object``); point ``DATASETS.ROOT`` (or ``$OVAVSS_DATASETS``) at ``<out>``. The same
arguments always give byte-identical files. See ``ov_avss/data/synthetic.py`` for the design.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence


import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from ov_avss.data.synthetic import (  # noqa: E402
    DEFAULT_CATEGORIES,
    DEFAULT_SIZE,
    make_synthetic_avsbench,
    make_synthetic_avsbench_object,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="datasets/synthetic", help="datasets root to write into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-train-clips", type=int, default=80)
    parser.add_argument("--num-val-clips", type=int, default=8)
    parser.add_argument("--num-test-clips", type=int, default=24)
    parser.add_argument(
        "--categories", default=",".join(DEFAULT_CATEGORIES),
        help="comma-separated AVSBench names; at least one base category",
    )
    parser.add_argument("--size", type=int, nargs=2, default=list(DEFAULT_SIZE), metavar=("H", "W"))
    parser.add_argument("--with-object", action="store_true", help="also write an AVSBench-object (S4/MS3) variant")
    parser.add_argument("--object-clips-per-split", type=int, default=4)
    args = parser.parse_args(argv)
    for flag, value in (("--num-train-clips", args.num_train_clips), ("--num-test-clips", args.num_test_clips)):
        if value < 1:
            parser.error(f"{flag} must be at least 1, got {value}")
    if args.num_val_clips < 0:
        parser.error(f"--num-val-clips must be >= 0, got {args.num_val_clips}")
    categories = [name.strip() for name in args.categories.split(",") if name.strip()]
    start = time.perf_counter()
    try:
        root = make_synthetic_avsbench(
            args.out, seed=args.seed, num_train_videos=args.num_train_clips, num_val_videos=args.num_val_clips,
            num_test_videos=args.num_test_clips, categories=categories, size=tuple(args.size),
        )
        print(f"wrote {root}")
        if args.with_object:
            object_root = make_synthetic_avsbench_object(
                args.out, seed=args.seed, videos_per_split=args.object_clips_per_split,
                categories=categories, size=tuple(args.size),
            )
            print(f"wrote {object_root}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
