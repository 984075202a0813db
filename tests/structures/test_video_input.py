"""make_video_input: the checked construction of a VideoInput, and the mappers' outputs are VideoInputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.window_mapper import WindowMapper
from ov_avss.data.synthetic import make_synthetic_avsbench
from ov_avss.structures import VideoInput, make_video_input


def _fields(num_frames: int = 2, **overrides) -> dict:
    fields = {
        "uid": "c",
        "dataset_name": "d",
        "frame_indices": range(num_frames),
        "height": 12,
        "width": 16,
        "frames": torch.zeros((num_frames, 3, 6, 8), dtype=torch.uint8),
        "audio": torch.zeros((num_frames, 1, 96, 64)),
        "vocabulary": ("dog",),
    }
    fields.update(overrides)
    return fields


def test_defaults_and_keys():
    window = make_video_input(**_fields(), sem_seg_gt=torch.zeros((2, 12, 16), dtype=torch.int64))
    assert window["frame_indices"] == [0, 1] and window["vocabulary"] == ["dog"]
    assert window["frame_valid"].tolist() == [True, True] and window["sounding_categories"] == []
    assert set(window) == VideoInput.__required_keys__ | {"sem_seg_gt"}


@pytest.mark.parametrize(
    "overrides, optional, message",
    [
        ({"frames": torch.zeros((3, 3, 6, 8), dtype=torch.uint8)}, {}, r"frames must be uint8 \[T = 2"),
        ({"frames": torch.zeros((2, 3, 6, 8))}, {}, "frames must be uint8"),
        ({"audio": torch.zeros((1, 1, 96, 64))}, {}, "audio has 1 entries for 2 frames"),
        ({"frame_valid": torch.ones(3, dtype=torch.bool)}, {}, r"frame_valid must be bool \[2\]"),
        ({}, {"sem_seg_gt": torch.zeros((1, 12, 16))}, "sem_seg_gt has 1 frames"),
        ({}, {"labels": torch.zeros(2)}, r"unknown keys \['labels'\]"),
        # Original frames are at the original size (12x16), not the resized one.
        ({}, {"original_frames": torch.zeros((2, 3, 6, 8), dtype=torch.uint8)}, r"original_frames must be uint8 \[T, 3, H0, W0\] = \[2, 3, 12, 16\]"),
    ],
)
def test_inconsistent_inputs_are_refused_naming_the_window(overrides, optional, message):
    with pytest.raises(ValueError, match=f"Video input c: {message}"):
        make_video_input(**_fields(**overrides), **optional)


def test_window_mapper_outputs_are_video_inputs(tmp_path):
    make_synthetic_avsbench(str(tmp_path), seed=0, num_train_videos=2, num_val_videos=0, num_test_videos=2, size=(32, 40))
    cfg = get_cfg()
    cfg.DATASETS.ROOT = str(tmp_path)
    cfg.INPUT.MIN_SIZE_TRAIN = (32,)
    cases = (("avsbench_ov_train_base", True, "targets"), ("avsbench_ov_test", False, "sem_seg_gt"))
    for name, is_train, mode_key in cases:
        record = get_dataset_records(name, cfg)[0]
        window = WindowMapper(cfg, name, is_train)(record, [0, 1], np.random.default_rng(0))
        assert set(window) == VideoInput.__required_keys__ | {mode_key}
