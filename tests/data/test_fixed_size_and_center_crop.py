"""The window mapper's options for AVSBench's TPAVI recipe: frames resized to a fixed size without
keeping the aspect ratio (INPUT.FIXED_SIZE_TRAIN / _TEST), and the centred crop
(INPUT.CROP.TYPE absolute_center) after a short-side resize."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.window_mapper import WindowMapper
from ov_avss.data.transforms import random_crop_box, resize_frames


def _record(cfg, name):
    return get_dataset_records(name, cfg)[0]


def test_fixed_size_in_training_and_testing(data_cfg):
    data_cfg.INPUT.FIXED_SIZE_TRAIN = (32, 32)
    data_cfg.INPUT.FIXED_SIZE_TEST = (32, 32)
    data_cfg.INPUT.RANDOM_FLIP = "none"
    record = _record(data_cfg, "avsbench_ms3_train")
    window = WindowMapper(data_cfg, "avsbench_ms3_train", is_train=True)(record, range(5), np.random.default_rng(0))
    assert window["frames"].shape == (5, 3, 32, 32)  # 64 x 80 squeezed: aspect not kept
    assert window["targets"]["masks"].shape[-2:] == (32, 32)
    test_record = _record(data_cfg, "avsbench_ms3_test")
    test_window = WindowMapper(data_cfg, "avsbench_ms3_test", is_train=False)(test_record, range(5))
    assert test_window["frames"].shape == (5, 3, 32, 32)
    assert tuple(test_window["sem_seg_gt"].shape[-2:]) == (64, 80)  # ground truth kept at original size


def test_s4_training_supervises_only_the_first_frame(data_cfg):
    record = _record(data_cfg, "avsbench_s4_train")
    window = WindowMapper(data_cfg, "avsbench_s4_train", is_train=True)(record, range(5), np.random.default_rng(0))
    assert window["frame_valid"].tolist() == [True, False, False, False, False]


def test_short_side_then_centre_crop(data_cfg):
    data_cfg.INPUT.MIN_SIZE_TRAIN = (40,)
    data_cfg.INPUT.MAX_SIZE_TRAIN = 1000
    data_cfg.INPUT.RANDOM_FLIP = "none"
    data_cfg.INPUT.CROP.ENABLED = True
    data_cfg.INPUT.CROP.TYPE = "absolute_center"
    data_cfg.INPUT.CROP.SIZE = (40, 40)
    record = _record(data_cfg, "avsbench_ms3_train")
    mapper = WindowMapper(data_cfg, "avsbench_ms3_train", is_train=True)
    window = mapper(record, range(5), np.random.default_rng(0))
    again = mapper(record, range(5), np.random.default_rng(1))
    assert window["frames"].shape == (5, 3, 40, 40) and torch.equal(window["frames"], again["frames"])  # no randomness
    # 64 x 80 -> 40 x 50, centre 40 x 40: columns 5..44.
    frames = torch.from_numpy(np.stack([mapper._read_frames(record, range(5))]))[0].permute(0, 3, 1, 2)
    assert torch.equal(window["frames"], resize_frames(frames, (40, 50))[..., 5:45])


def test_centre_box_rounds_as_torchvision():
    assert random_crop_box(224, 299, "absolute_center", (224, 224), np.random.default_rng(0)) == (0, 38, 224, 224)
    assert random_crop_box(10, 10, "absolute_center", (20, 4), np.random.default_rng(0)) == (0, 3, 10, 4)


def test_bad_fixed_size_is_named(data_cfg):
    data_cfg.INPUT.FIXED_SIZE_TEST = (224,)
    with pytest.raises(ValueError, match="INPUT.FIXED_SIZE_TEST"):
        WindowMapper(data_cfg, "avsbench_ms3_test", is_train=False)
