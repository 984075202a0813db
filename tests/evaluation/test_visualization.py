"""PredictionOverlayWriter: overlay JPEGs of the first windows, palette colours where the predicted
mask is, the frame elsewhere, and nothing when TEST.VISUALIZE_NUM_CLIPS is 0."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.window_mapper import WindowMapper
from ov_avss.data.categories import CATEGORIES, CATEGORY_TO_INDEX
from ov_avss.data.image_io import read_frame
from ov_avss.data.palette import PALETTE
from ov_avss.data.synthetic import make_synthetic_avsbench
from ov_avss.visualization import MASK_OPACITY
from ov_avss.evaluation import AVSSEvaluator, build_evaluator
from ov_avss.evaluation.evaluator import DatasetEvaluators
from ov_avss.evaluation.visualization import PredictionOverlayWriter

DATASET = "avsbench_ov_test"
HEIGHT, WIDTH = 48, 64
# JPEG of a flat colour next to noisy synthetic texture: a few grey levels of error.
JPEG_TOLERANCE = 14


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("datasets")
    make_synthetic_avsbench(str(root), seed=3, num_train_videos=1, num_val_videos=0, num_test_videos=3, size=(HEIGHT, WIDTH))
    return str(root)


def make_cfg(root: str, num_videos: int):
    cfg = get_cfg()
    cfg.DATASETS.ROOT = root
    cfg.TEST.VISUALIZE_NUM_CLIPS = num_videos
    return cfg


def predicted_window(record: dict, category: str, cfg) -> tuple[dict, dict]:
    """The test mapper's video input of the whole record (``cfg`` names the number of overlay
    windows) and an output whose one segment (``category``) covers the left half of every frame."""
    num_frames = int(record["num_frames"])
    masks = torch.zeros((1, num_frames, HEIGHT, WIDTH), dtype=torch.bool)
    masks[..., : WIDTH // 2] = True
    label = CATEGORIES.index(category)  # 0-based into the 70-name vocabulary
    window = WindowMapper(cfg, DATASET, is_train=False)(record, range(num_frames))
    window["vocabulary"] = list(CATEGORIES)
    output = {
        "sem_seg": masks[0].long() * (label + 1),
        "segments": {
            "scores": torch.tensor([0.9]),
            "labels": torch.tensor([label]),
            "query_indices": torch.tensor([0]),
            "masks": masks,
        },
    }
    return window, output


def test_overlays_of_the_first_windows_show_palette_colours(dataset_root, tmp_path):
    records = get_dataset_records(DATASET, make_cfg(dataset_root, 0))
    cfg = make_cfg(dataset_root, 2)
    evaluator = build_evaluator(cfg, DATASET, str(tmp_path))
    assert isinstance(evaluator, DatasetEvaluators)
    evaluator.reset()
    for record in records:
        window, output = predicted_window(record, "dog", cfg)
        evaluator.process([window], [output])
    results = evaluator.evaluate()
    assert set(results) == {"sem_seg"}  # the overlay writer adds files, not metrics

    overlay_root = tmp_path / "overlays"
    assert sorted(os.listdir(overlay_root)) == sorted(r["uid"] for r in records[:2])
    dog_colour = PALETTE[CATEGORY_TO_INDEX["dog"]].astype(np.float64)
    for record in records[:2]:
        names = sorted(os.listdir(overlay_root / record["uid"]))
        assert names == sorted(f"{t}.jpg" for t in range(int(record["num_frames"])))
        for t in range(int(record["num_frames"])):
            overlay = read_frame(str(overlay_root / record["uid"] / f"{t}.jpg")).astype(np.float64)
            frame = read_frame(record["frame_paths"][t]).astype(np.float64)
            assert overlay.shape == frame.shape == (HEIGHT, WIDTH, 3)
            # Away from the outline (column WIDTH/2) and the name (drawn at the mask's centre).
            inside = np.s_[2:8, 2:12]
            outside = np.s_[2:-2, WIDTH // 2 + 3 : -2]
            blended = (1 - MASK_OPACITY) * frame[inside] + MASK_OPACITY * dog_colour
            assert np.abs(overlay[inside] - blended).mean() < JPEG_TOLERANCE
            # ... and the palette colour is what moved it away from the frame.
            assert np.abs(overlay[inside] - blended).mean() < 0.5 * np.abs(overlay[inside] - frame[inside]).mean()
            assert np.abs(overlay[outside] - frame[outside]).mean() < JPEG_TOLERANCE
    assert not (overlay_root / records[2]["uid"]).exists()
    leftovers = [name for _, _, files in os.walk(overlay_root) for name in files if not name.endswith(".jpg")]
    assert leftovers == []  # no temporary files left behind


def test_visualize_num_clips_zero_writes_nothing(dataset_root, tmp_path):
    records = get_dataset_records(DATASET, make_cfg(dataset_root, 0))
    evaluator = build_evaluator(make_cfg(dataset_root, 0), DATASET, str(tmp_path))
    assert isinstance(evaluator, AVSSEvaluator)
    evaluator.reset()
    window, output = predicted_window(records[0], "dog", make_cfg(dataset_root, 0))
    assert "original_frames" not in window  # the mapper keeps them only for overlays
    evaluator.process([window], [output])
    evaluator.evaluate()
    assert not (tmp_path / "overlays").exists()


def test_negative_num_clips_is_rejected(dataset_root, tmp_path):
    with pytest.raises(ValueError, match="TEST.VISUALIZE_NUM_CLIPS"):
        build_evaluator(make_cfg(dataset_root, -1), DATASET, str(tmp_path))


def test_prediction_at_the_wrong_size_names_the_window(dataset_root, tmp_path):
    records = get_dataset_records(DATASET, make_cfg(dataset_root, 0))
    cfg = make_cfg(dataset_root, 1)
    writer = PredictionOverlayWriter(DATASET, cfg, str(tmp_path))
    window, output = predicted_window(records[0], "dog", cfg)
    output["sem_seg"] = output["sem_seg"][:, ::2]
    with pytest.raises(ValueError, match=records[0]["uid"]):
        writer.process([window], [output])


def test_output_without_segments_is_an_error(dataset_root, tmp_path):
    records = get_dataset_records(DATASET, make_cfg(dataset_root, 0))
    cfg = make_cfg(dataset_root, 1)
    writer = PredictionOverlayWriter(DATASET, cfg, str(tmp_path))
    window, output = predicted_window(records[0], "dog", cfg)
    del output["segments"]
    with pytest.raises(KeyError, match="segments"):
        writer.process([window], [output])


def test_input_without_original_frames_is_an_error(dataset_root, tmp_path):
    records = get_dataset_records(DATASET, make_cfg(dataset_root, 0))
    writer = PredictionOverlayWriter(DATASET, make_cfg(dataset_root, 1), str(tmp_path))
    window, output = predicted_window(records[0], "dog", make_cfg(dataset_root, 0))
    with pytest.raises(KeyError, match="original_frames"):
        writer.process([window], [output])
