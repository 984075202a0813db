#!/usr/bin/env python
"""Check every file of every video (AVSBench) or video (AVISeg) of registered datasets, without training.

    python tools/check_dataset.py --config-file configs/avsbench/OV_AVSS_R50.yaml [KEY VALUE ...]
    python tools/check_dataset.py --dataset avsbench_ov_train_base --dataset avsbench_ov_test \\
        DATASETS.ROOT datasets

Checks the datasets given with ``--dataset`` (default: the config's ``DATASETS.TRAIN`` and
``DATASETS.TEST``) the way training does before iteration 0 (``ov_avss/data/dataset_check.py``):
files present, frames and masks readable image headers of matching sizes (AVISeg: the size the
annotation file states), wav headers valid.
Prints one line per problem (all of them, up to ``--max-problems``) and a summary; exits 0 when
all files are fine and 2, with a final ``error: ...`` line, otherwise.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import _repo_path  # noqa: F401  (puts the checkout on sys.path before ov_avss is imported)

from ov_avss.config import get_cfg  # noqa: E402
from ov_avss.data.catalog import get_dataset_records  # noqa: E402
from ov_avss.data.dataset_check import DEFAULT_MAX_PROBLEMS, check_records  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="", help="config whose DATASETS.* to check")
    parser.add_argument("--dataset", action="append", default=[], help="registered dataset name (repeatable)")
    parser.add_argument("--max-problems", type=int, default=DEFAULT_MAX_PROBLEMS, help="stop after this many")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    args = parser.parse_args(argv)
    try:
        cfg = get_cfg()
        if args.config_file:
            cfg.merge_from_file(args.config_file)
        cfg.merge_from_list(list(args.opts))
        names = args.dataset or list(dict.fromkeys([*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST]))
        start = time.perf_counter()
        problems: list[str] = []
        num_videos = 0
        truncated = False
        for name in names:
            found, checked, truncated = check_records(get_dataset_records(name, cfg), args.max_problems - len(problems))
            print(f"{name}: {checked} videos checked, {len(found)} problems")
            problems.extend(found)
            num_videos += checked
            if truncated:
                break
    except (KeyError, ValueError, OSError) as error:
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        print(f"error: {message}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    seconds = time.perf_counter() - start
    if problems:
        more = "at least " if truncated else ""
        print(f"error: {more}{len(problems)} problems in {num_videos} videos of {', '.join(names)}", file=sys.stderr)
        return 2
    print(f"all files of {num_videos} videos are fine ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
