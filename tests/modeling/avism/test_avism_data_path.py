"""AVISeg records through ``AVISVideoMapper`` into AVISM: training videos (consistent resize and
flip of frames and masks) give finite losses; test videos give whole-video tracks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ov_avss.data.avis_mapper import AVISVideoMapper
from ov_avss.data.catalog import get_dataset_records
from ov_avss.modeling import build_model_without_pretrained_files


@pytest.fixture(scope="module")
def cfg(synthetic_cfg):
    return synthetic_cfg


def test_training_windows_are_consistent_and_train(cfg):
    mapper = AVISVideoMapper(cfg, "aviseg_train", is_train=True)
    records = get_dataset_records("aviseg_train", cfg)
    rng = np.random.default_rng(0)
    videos = [mapper(record, rng) for record in records]
    for record, video in zip(records, videos):
        frames, masks = video["frames"], video["targets"]["masks"]
        assert frames.shape[:2] == (5, 3) and min(frames.shape[-2:]) == cfg.INPUT.MIN_SIZE_TRAIN[0]
        assert masks.shape == (len(record["tracks"]), 5, *frames.shape[-2:]) and masks.dtype == torch.bool
        assert video["audio"].shape == (5, 1, 96, 64)
        assert video["targets"]["labels"].tolist() == [t["label"] for t in record["tracks"]]
    # Flipping is per video: the same record and seed with and without a flip give mirrored masks.
    flipped = unflipped = None
    plain = AVISVideoMapper(_with(cfg, "INPUT.RANDOM_FLIP", "none"), "aviseg_train", is_train=True)
    for seed in range(20):
        video = mapper(records[0], np.random.default_rng(seed))
        reference = plain(records[0], np.random.default_rng(seed))
        if torch.equal(video["frames"], reference["frames"].flip(-1)) and not torch.equal(video["frames"], reference["frames"]):
            flipped, unflipped = video, reference
            break
    assert flipped is not None
    assert torch.equal(flipped["targets"]["masks"], unflipped["targets"]["masks"].flip(-1))

    torch.manual_seed(0)
    model = build_model_without_pretrained_files(cfg).train()
    losses = model(videos)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()


def test_test_videos_are_whole_and_keep_their_size(cfg):
    mapper = AVISVideoMapper(cfg, "aviseg_val", is_train=False)
    record = get_dataset_records("aviseg_val", cfg)[0]
    video = mapper(record)
    assert video["frames"].shape[0] == record["num_frames"] and min(video["frames"].shape[-2:]) == cfg.INPUT.MIN_SIZE_TEST
    assert (video["height"], video["width"]) == (record["height"], record["width"])
    torch.manual_seed(0)
    output = build_model_without_pretrained_files(cfg).eval()([video])[0]
    assert output["segments"]["masks"].shape[1:] == (record["num_frames"], record["height"], record["width"])


def _with(cfg, *overrides):
    """A copy of ``cfg`` with ``KEY VALUE ...`` overrides."""
    config = cfg.clone()
    config.defrost()
    config.merge_from_list(list(overrides))
    return config


def test_crop_is_one_box_for_the_whole_window(cfg):
    """CROP before the resize, the same box in every frame and in the masks."""
    record = get_dataset_records("aviseg_train", cfg)[0]
    plain = AVISVideoMapper(
        _with(cfg, "INPUT.RANDOM_FLIP", "none", "INPUT.MIN_SIZE_TRAIN", (48,)), "aviseg_train", is_train=True
    )
    cropping = AVISVideoMapper(
        _with(cfg, "INPUT.RANDOM_FLIP", "none", "INPUT.MIN_SIZE_TRAIN", (32,), "INPUT.CROP.ENABLED", True,
              "INPUT.CROP.TYPE", "absolute", "INPUT.CROP.SIZE", (32, 40)),
        "aviseg_train",
        is_train=True,
    )
    boxes = set()
    for seed in range(6):
        whole = plain(record, np.random.default_rng(seed))  # 48x64: no resize
        cropped = cropping(record, np.random.default_rng(seed))  # 32x40 crop: no resize either
        assert cropped["frames"].shape[-2:] == (32, 40)
        assert cropped["frame_indices"] == whole["frame_indices"]
        found = [
            (top, left) for top in range(17) for left in range(25)
            if torch.equal(cropped["frames"], whole["frames"][..., top : top + 32, left : left + 40])
        ]
        assert found, "no single box gives every cropped frame"
        top, left = found[0]
        expected = whole["targets"]["masks"][..., top : top + 32, left : left + 40]
        assert torch.equal(cropped["targets"]["masks"], expected)
        boxes.add((top, left))
    assert len(boxes) > 1  # the box is random


def test_unsupported_augmentation_is_named(cfg):
    with pytest.raises(ValueError, match="INPUT.CROP.TYPE"):
        AVISVideoMapper(_with(cfg, "INPUT.CROP.ENABLED", True, "INPUT.CROP.TYPE", "relative_range"), "aviseg_train", is_train=True)
    with pytest.raises(ValueError, match="INPUT.RANDOM_FLIP"):
        AVISVideoMapper(_with(cfg, "INPUT.RANDOM_FLIP", "flip_by_frame"), "aviseg_train", is_train=True)
