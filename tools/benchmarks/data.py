"""The data section: the training loader and the AVSS evaluator, each reported independently
(the audio front end is timed by ``--compare``)."""
from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any, Sequence

import torch

from .measure import elapsed_s, error_entry


def _benchmark_loader(args: argparse.Namespace, work_dir: str) -> dict[str, Any]:
    from ov_avss.config import get_cfg
    from ov_avss.data.build import build_train_loader
    from ov_avss.data.synthetic import make_synthetic_avsbench

    make_synthetic_avsbench(work_dir, seed=0, num_train_videos=args.data_clips, num_val_videos=1, num_test_videos=1)
    cfg = get_cfg()
    if args.config:
        cfg.merge_from_file(args.config[0])
    cfg.DATASETS.ROOT = work_dir
    cfg.DATASETS.TRAIN = ("avsbench_ov_train_base",)
    cfg.SEED = 0
    loader = build_train_loader(cfg)
    # The first batch pays for starting the workers and is not timed.
    next(loader)
    counts: list[int] = []
    elapsed = elapsed_s(lambda: counts.extend(len(next(loader)) for _ in range(args.loader_batches)))
    windows = sum(counts)
    return {
        "clips_per_s": windows / elapsed,
        "clips": windows,
        "clips_per_batch": int(cfg.SOLVER.IMS_PER_BATCH),
        "num_workers": int(cfg.DATALOADER.NUM_WORKERS),
        "min_size_train": list(cfg.INPUT.MIN_SIZE_TRAIN),
        "synthetic_train_clips": args.data_clips,
    }


def evaluator_input_window(index: int, ground_truth: torch.Tensor, sounding: Sequence[str]) -> dict[str, Any]:
    """An ``avsbench_ov_test`` ``VideoInput`` for the evaluator: ``ground_truth`` ``[T, H, W]`` in
    the dataset's 71 labels, the full vocabulary, ``sounding`` as its sounding categories. The
    evaluator reads no frames or audio: they are blank 8x8 frames and zero audio, expanded
    views that take no memory per window."""
    from ov_avss.data.catalog import get_dataset_metadata
    from ov_avss.structures import make_video_input

    num_frames, height, width = ground_truth.shape
    return make_video_input(
        uid=f"window{index}",
        dataset_name="avsbench_ov_test",
        frame_indices=range(num_frames),
        height=height,
        width=width,
        frames=torch.zeros((1, 3, 8, 8), dtype=torch.uint8).expand(num_frames, -1, -1, -1),
        audio=torch.zeros((1, 1, 96, 64)).expand(num_frames, -1, -1, -1),
        vocabulary=get_dataset_metadata("avsbench_ov_test").vocabulary,
        sounding_categories=sounding,
        sem_seg_gt=ground_truth,
    )


def _benchmark_evaluator(args: argparse.Namespace, work_dir: str) -> dict[str, Any]:
    from ov_avss.data.categories import CATEGORIES
    from ov_avss.evaluation.avss_evaluator import AVSSEvaluator

    num_frames, height, width = 5, 360, 640
    generator = torch.Generator().manual_seed(0)
    windows = []
    for index in range(args.repeats):
        ground_truth = torch.randint(0, 4, (num_frames, height, width), generator=generator)
        prediction = torch.randint(0, 4, (num_frames, height, width), generator=generator)
        windows.append((
            evaluator_input_window(index, ground_truth, CATEGORIES[:3]),
            {"sem_seg": prediction, "sounding_prob": (prediction > 0).float()},
        ))
    evaluator = AVSSEvaluator("avsbench_ov_test", None, os.path.join(work_dir, "evaluator"))
    evaluator.reset()

    def process() -> None:
        for inputs, outputs in windows:
            evaluator.process([inputs], [outputs])

    process_s = elapsed_s(process)
    total_s = process_s + elapsed_s(evaluator.evaluate)
    frames = num_frames * len(windows)
    return {
        "frames_per_s_process": frames / process_s,
        "frames_per_s_with_evaluate": frames / total_s,
        "frames": frames,
        "frame_size": [height, width],
    }


def benchmark_data(args: argparse.Namespace) -> dict[str, Any]:
    """Training loader and AVSS evaluator, each reported independently (the audio front end is
    timed by ``--compare``)."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ov_avss_benchmark_") as work_dir:
        for name, function in (
            ("train_loader", lambda: _benchmark_loader(args, work_dir)),
            ("evaluator", lambda: _benchmark_evaluator(args, work_dir)),
        ):
            try:
                result[name] = function()
            except Exception as error:  # reported in the JSON; the other parts still run
                result[name] = error_entry(f"data/{name}", error)
    return result
