"""AVISeg records through ``AVISClipMapper`` into AVISM: training clips (consistent resize and
flip of frames and masks) give finite losses; test videos give whole-video tracks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ov_avss.data.avis_mapper import AVISClipMapper
from ov_avss.data.catalog import get_dataset_records
from ov_avss.modeling import build_model_without_pretrained_files


@pytest.fixture(scope="module")
def cfg(synthetic_cfg):
    return synthetic_cfg


def test_training_clips_are_consistent_and_train(cfg):
    mapper = AVISClipMapper(cfg, is_train=True)
    records = get_dataset_records("aviseg_train", cfg)
    rng = np.random.default_rng(0)
    clips = [mapper(record, rng) for record in records]
    for record, clip in zip(records, clips):
        frames, masks = clip["frames"], clip["instances"]["masks"]
        assert frames.shape[:2] == (5, 3) and min(frames.shape[-2:]) == cfg.INPUT.MIN_SIZE_TRAIN[0]
        assert masks.shape == (len(record["tracks"]), 5, *frames.shape[-2:]) and masks.dtype == torch.bool
        assert clip["audio"].shape == (5, 1, 96, 64)
        assert clip["instances"]["labels"].tolist() == [t["label"] for t in record["tracks"]]
    # Flipping is per clip: the same record and seed with and without a flip give mirrored masks.
    flipped = unflipped = None
    plain = AVISClipMapper(_no_flip(cfg), is_train=True)
    for seed in range(20):
        clip = mapper(records[0], np.random.default_rng(seed))
        reference = plain(records[0], np.random.default_rng(seed))
        if torch.equal(clip["frames"], reference["frames"].flip(-1)) and not torch.equal(clip["frames"], reference["frames"]):
            flipped, unflipped = clip, reference
            break
    assert flipped is not None
    assert torch.equal(flipped["instances"]["masks"], unflipped["instances"]["masks"].flip(-1))

    torch.manual_seed(0)
    model = build_model_without_pretrained_files(cfg).train()
    losses = model(clips)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()


def _no_flip(cfg):
    config = cfg.clone()
    config.defrost()
    config.INPUT.RANDOM_FLIP = "none"
    return config


def test_test_videos_are_whole_and_keep_their_size(cfg):
    mapper = AVISClipMapper(cfg, is_train=False)
    record = get_dataset_records("aviseg_val", cfg)[0]
    video = mapper(record)
    assert video["frames"].shape[0] == record["length"] and min(video["frames"].shape[-2:]) == cfg.INPUT.MIN_SIZE_TEST
    assert (video["height"], video["width"]) == (record["height"], record["width"])
    torch.manual_seed(0)
    output = build_model_without_pretrained_files(cfg).eval()([video])[0]
    assert output["pred_masks"].shape[1:] == (record["length"], record["height"], record["width"])


def test_unsupported_augmentation_is_named(cfg):
    config = cfg.clone()
    config.defrost()
    config.INPUT.CROP.ENABLED = True
    with pytest.raises(ValueError, match="INPUT.CROP.ENABLED"):
        AVISClipMapper(config, is_train=True)
