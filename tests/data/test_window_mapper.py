"""The window mapper on generated windows: shapes, window-consistent augmentation, targets, errors."""
from __future__ import annotations

import logging
import os
import shutil

import cv2
import numpy as np
import pytest
import torch

from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.categories import CATEGORY_TO_INDEX, LABEL_NAMES
from ov_avss.data.window_mapper import WindowMapper
from ov_avss.data.image_io import read_palette_mask, reset_unknown_colour_warnings
from ov_avss.data.palette import PALETTE


def _record(cfg, name, subset=None):
    records = get_dataset_records(name, cfg)
    return next(r for r in records if subset is None or r["subset"] == subset)


def test_train_window_contract(data_cfg):
    record = _record(data_cfg, "avsbench_ov_train_base", "v1m")
    mapper = WindowMapper(data_cfg, "avsbench_ov_train_base", is_train=True)
    window = mapper(record, [0, 1, 2, 3, 4], np.random.default_rng(0))
    frames, targets = window["frames"], window["targets"]
    assert frames.dtype == torch.uint8 and frames.shape[:2] == (5, 3)
    assert min(frames.shape[-2:]) in (48, 64)
    assert window["audio"].shape == (5, 1, 96, 64) and window["audio"].dtype == torch.float32
    assert (window["height"], window["width"]) == (64, 80)
    assert window["frame_valid"].tolist() == [True] * 5
    assert targets["masks"].dtype == torch.bool and targets["masks"].shape[1:] == frames.shape[:1] + frames.shape[2:]
    names = [window["vocabulary"][i] for i in targets["labels"].tolist()]
    assert set(names) <= set(record["category_names"]) and names
    assert all(targets["masks"][i].any() for i in range(len(names)))


def test_flip_and_scale_are_shared_by_the_window(data_cfg):
    record = _record(data_cfg, "avsbench_ov_train_base", "v1m")
    test_mapper = WindowMapper(data_cfg, "avsbench_ov_test", is_train=False)
    data_cfg.INPUT.MIN_SIZE_TRAIN = (64,)
    mapper = WindowMapper(data_cfg, "avsbench_ov_train_base", is_train=True)
    reference = test_mapper(record, list(range(5)))["sem_seg_gt"]
    flipped_seen = set()
    for seed in range(6):
        window = mapper(record, list(range(5)), np.random.default_rng(seed))
        union = window["targets"]["masks"].any(dim=0)  # [T, H, W]
        assert union.shape == (5, 64, 80)
        straight = torch.equal(union, reference > 0)
        flipped = torch.equal(union, (reference > 0).flip(-1))
        assert straight or flipped  # every frame flipped together, or none
        flipped_seen.add(flipped and not straight)
    assert flipped_seen == {True, False}


def test_v1s_training_supervises_first_frame_only(data_cfg):
    record = _record(data_cfg, "avsbench_ov_train_base", "v1s")
    window = WindowMapper(data_cfg, "avsbench_ov_train_base", is_train=True)(record, list(range(5)), np.random.default_rng(1))
    assert window["frame_valid"].tolist() == [True, False, False, False, False]
    assert not window["targets"]["masks"][:, 1:].any()


def test_test_window_keeps_ground_truth_at_original_size(data_cfg):
    record = _record(data_cfg, "avsbench_ov_test", "v2")
    window = WindowMapper(data_cfg, "avsbench_ov_test", is_train=False)(record, [5, 6, 7, 8, 9])
    assert window["frames"].shape == (5, 3, 96, 120)
    assert window["sem_seg_gt"].shape == (5, 64, 80) and window["sem_seg_gt"].dtype == torch.int64
    assert window["frame_indices"] == [5, 6, 7, 8, 9]
    # Ground truth in the dataset's labels: label k is LABEL_NAMES[k], 255 where not annotated.
    labels = set(window["sem_seg_gt"].unique().tolist()) - {0}
    assert labels and {LABEL_NAMES[k] for k in labels} <= set(record["category_names"])


def test_object_masks_are_binary(data_cfg):
    record = _record(data_cfg, "avsbench_s4_test")
    window = WindowMapper(data_cfg, "avsbench_s4_test", is_train=False)(record, list(range(5)))
    assert set(window["sem_seg_gt"].unique().tolist()) <= {0, 1} and window["vocabulary"] == ["sounding object"]
    train = _record(data_cfg, "avsbench_s4_train")
    window = WindowMapper(data_cfg, "avsbench_s4_train", is_train=True)(train, list(range(5)), np.random.default_rng(0))
    assert window["frame_valid"].tolist() == [True] + [False] * 4
    assert window["targets"]["labels"].tolist() in ([0], [])


def _copy_video(record, tmp_path):
    video_dir = os.path.dirname(os.path.dirname(record["frame_paths"][0]))
    target = tmp_path / "clip"
    shutil.copytree(video_dir, target)
    moved = dict(record)
    moved["frame_paths"] = [str(target / "frames" / os.path.basename(p)) for p in record["frame_paths"]]
    moved["mask_paths"] = [None if p is None else str(target / "labels_rgb" / os.path.basename(p)) for p in record["mask_paths"]]
    moved["audio_path"] = str(target / "audio.wav")
    return moved


def test_noisy_labels_are_dropped_in_training_and_unknown_colours_warned(data_cfg, tmp_path, caplog):
    record = _copy_video(_record(data_cfg, "avsbench_ov_train_base", "v1m"), tmp_path)
    mask = cv2.imread(record["mask_paths"][0])
    stray = [n for n in ("airplane", "baby", "bell") if n not in record["category_names"]][0]
    mask[:4, :4] = PALETTE[CATEGORY_TO_INDEX[stray]][::-1]  # BGR
    mask[-3:, -3:] = (7, 7, 7)  # not a palette colour
    cv2.imwrite(record["mask_paths"][0], mask)
    mapper = WindowMapper(data_cfg, "avsbench_ov_train_base", is_train=True)
    # Files read earlier in the process (other tests) use up the named warnings; after a reset
    # the next file is named again.
    for _ in range(25):
        read_palette_mask(record["mask_paths"][0], len(CATEGORY_TO_INDEX) + 1)
    reset_unknown_colour_warnings()
    with caplog.at_level(logging.WARNING, logger="ov_avss.data.image_io"):
        window = mapper(record, list(range(5)), np.random.default_rng(0))
    names = {window["vocabulary"][i] for i in window["targets"]["labels"].tolist()}
    assert stray not in names
    assert "labels_rgb/0.png has 9 pixels whose colour is not in the palette" in caplog.text


def test_bad_files_raise_errors_naming_them(data_cfg, tmp_path):
    record = _copy_video(_record(data_cfg, "avsbench_ov_test", "v1m"), tmp_path)
    mapper = WindowMapper(data_cfg, "avsbench_ov_test", is_train=False)
    cv2.imwrite(record["mask_paths"][2], np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError, match=r"labels_rgb/2.png is 10x10 but its frame .*frames/2.jpg is 80x64"):
        mapper(record, list(range(5)))
    with open(record["frame_paths"][1], "wb") as f:
        f.write(b"\xff\xd8 truncated jpeg")
    with pytest.raises(ValueError, match=r"frames/1.jpg \(corrupt"):
        mapper(record, list(range(5)))
    os.remove(record["frame_paths"][1])
    with pytest.raises(FileNotFoundError, match="frames/1.jpg"):
        mapper(record, list(range(5)))


def test_unsupported_config_values_are_named(data_cfg):
    data_cfg.INPUT.RANDOM_FLIP = "sideways"
    with pytest.raises(ValueError, match="INPUT.RANDOM_FLIP = 'sideways'"):
        WindowMapper(data_cfg, "avsbench_ov_train_base", is_train=True)


def test_per_frame_scale_and_crop(data_cfg):
    record = _record(data_cfg, "avsbench_ov_train_base", "v1m")
    data_cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
    data_cfg.INPUT.CROP.ENABLED = True
    data_cfg.INPUT.CROP.TYPE = "absolute"
    data_cfg.INPUT.CROP.SIZE = (40, 50)
    window = WindowMapper(data_cfg, "avsbench_ov_train_base", is_train=True)(record, list(range(5)), np.random.default_rng(3))
    assert window["frames"].shape == (5, 3, 40, 50)
    assert window["targets"]["masks"].shape[1:] == (5, 40, 50)
