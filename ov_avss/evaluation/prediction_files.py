"""Scoring exported prediction PNGs (``<pred_root>/<uid>/<t>.png``, as ``TEST.EXPORT_PREDICTIONS``
writes them) against a registered dataset's ground truth, by the dataset's own scoring code:
``SemanticScorer`` for label maps, ``BinaryAVSEvaluator`` for sounding probabilities.
``tools/evaluate_predictions.py`` is the command line."""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch

from ..data.catalog import get_dataset_metadata
from ..data.label_maps import read_label_maps
from ..data.image_io import read_palette_mask
from .semantic_scorer import SemanticScorer
from .binary_evaluator import BinaryAVSEvaluator
from .export import read_probability_png

# One record and the frames (positions t in the video) whose prediction file exists.
PredictionJob = tuple[dict, list[int]]


def prediction_path(pred_root: str, uid: str, frame: int) -> str:
    """Where the prediction of frame ``frame`` of video ``uid`` lies."""
    return os.path.join(pred_root, uid, f"{int(frame)}.png")


def find_prediction_files(records: Sequence[dict], pred_root: str) -> tuple[list[PredictionJob], list[str]]:
    """Per record, its annotated frames that have a prediction file; and the missing files."""
    jobs, missing = [], []
    for record in records:
        frames = []
        for t, mask_path in enumerate(record["mask_paths"]):
            if mask_path is None:
                continue
            if os.path.isfile(prediction_path(pred_root, record["uid"], t)):
                frames.append(t)
            else:
                missing.append(prediction_path(pred_root, record["uid"], t))
        jobs.append((record, frames))
    return jobs, missing


def score_semantic_files(
    dataset_name: str,
    jobs: Sequence[PredictionJob],
    pred_root: str,
    base_names: Sequence[str] = (),
    novel_names: Sequence[str] = (),
) -> dict[str, Any]:
    """``SemanticScorer.report`` of palette-PNG predictions in the dataset's labels, by the
    dataset's protocols. Prediction and ground truth may differ in size: each is resized to
    224x224 as the evaluator does."""
    metadata = get_dataset_metadata(dataset_name)
    label_space = metadata.label_space
    scorer = SemanticScorer(label_space, metadata.protocols)
    for record, frames in jobs:
        for t in frames:
            ground_truth = torch.from_numpy(read_label_maps(record, [t], label_space))
            path = prediction_path(pred_root, record["uid"], t)
            prediction = torch.from_numpy(read_palette_mask(path, label_space.num_labels, label_space.palette))[None]
            try:
                scorer.update(prediction, ground_truth, record["category_names"])
            except ValueError as e:
                raise ValueError(f"Prediction {path}: {e}") from e
    return scorer.report(base_names, novel_names)


def score_binary_files(dataset_name: str, jobs: Sequence[PredictionJob], pred_root: str, cfg) -> dict[str, Any]:
    """``BinaryAVSEvaluator`` results of grey-PNG sounding probabilities, scored at the ground
    truth's size, windows in dataset order (``TEST.AVSBENCH_BINARY_BATCH_CLIPS`` per batch)."""
    evaluator = BinaryAVSEvaluator(dataset_name, cfg)
    label_space = get_dataset_metadata(dataset_name).label_space
    evaluator.reset()
    for record, frames in jobs:
        if not frames:
            continue
        ground_truth = read_label_maps(record, frames, label_space)
        probabilities = []
        for t, mask in zip(frames, ground_truth):
            path = prediction_path(pred_root, record["uid"], t)
            probability = read_probability_png(path)
            if probability.shape != mask.shape:
                raise ValueError(
                    f"Prediction {path} is {probability.shape[1]}x{probability.shape[0]} but its ground truth "
                    f"{record['mask_paths'][t]} is {mask.shape[1]}x{mask.shape[0]}; binary predictions are scored "
                    "at the ground truth's size"
                )
            probabilities.append(probability)
        evaluator.process(
            [{"uid": record["uid"], "frame_indices": frames, "sem_seg_gt": torch.from_numpy(ground_truth)}],
            [{"sounding_prob": torch.from_numpy(np.stack(probabilities))}],
        )
    return evaluator.evaluate()["binary_avs"]
