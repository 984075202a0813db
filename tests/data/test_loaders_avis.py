"""The loaders pick the mapper from the dataset metadata: AVISeg gets 5-frame training videos
with instance targets and whole test videos, and TEST.AUDIO_ABLATION through the same key."""
from __future__ import annotations

import itertools

import pytest
import torch

from helpers import TEST_AUDIO_ENCODER, rms_per_second, synthetic_aviseg_cfg
from ov_avss.audio import audio_examples_for_frames
from ov_avss.audio.log_mel import load_audio, silence_log_mel
from ov_avss.data.build import DATASET_KINDS, build_test_loader, build_train_loader
from ov_avss.data.catalog import get_dataset_metadata, get_dataset_records


@pytest.fixture(scope="module")
def avis_cfg(tmp_path_factory):
    return synthetic_aviseg_cfg(
        tmp_path_factory.mktemp("aviseg"), seed=2, num_videos={"train": 3, "val": 2, "test": 1},
        overrides=["INPUT.MIN_SIZE_TRAIN", (32,), "INPUT.MIN_SIZE_TEST", 32],
    )


def test_metadata_names_the_mapper():
    assert get_dataset_metadata("aviseg_train").mapper == "video"
    assert get_dataset_metadata("avsbench_ov_test").mapper == "window"
    assert set(DATASET_KINDS) == {"video", "window"}


def test_avis_train_loader_gives_windows_with_tracks(avis_cfg):
    batches = list(itertools.islice(build_train_loader(avis_cfg), 3))
    records = {r["uid"]: r for r in get_dataset_records("aviseg_train", avis_cfg)}
    for batch in batches:
        assert len(batch) == avis_cfg.SOLVER.IMS_PER_BATCH
        for video in batch:
            assert video["frames"].shape[:2] == (5, 3) and min(video["frames"].shape[-2:]) == 32
            assert video["audio"].shape == (5, 1, 96, 64)  # log-mel: the synthetic set has no FEATAudios
            masks = video["targets"]["masks"]
            assert masks.shape[:2] == (len(records[video["uid"]]["tracks"]), 5)
    # Seeded like the video loader: the same config gives the same batches.
    again = list(itertools.islice(build_train_loader(avis_cfg), 3))
    assert [[(v["uid"], v["frame_indices"]) for v in b] for b in again] == [[(v["uid"], v["frame_indices"]) for v in b] for b in batches]


def test_avis_test_loader_gives_whole_videos_and_zeroes_audio(avis_cfg):
    records = get_dataset_records("aviseg_val", avis_cfg)
    videos = [batch[0] for batch in build_test_loader(avis_cfg, "aviseg_val")]
    assert [v["uid"] for v in videos] == [r["uid"] for r in records]
    assert [v["frame_indices"] for v in videos] == [list(range(r["num_frames"])) for r in records]
    cfg = avis_cfg.clone()
    cfg.TEST.AUDIO_ABLATION = "zero"
    zeroed = [batch[0] for batch in build_test_loader(cfg, "aviseg_val")]
    for video, silent in zip(videos, zeroed):
        assert not torch.equal(video["audio"], silent["audio"])
        assert torch.equal(silent["audio"], silence_log_mel(len(video["frame_indices"])))
        assert torch.equal(silent["frames"], video["frames"])
    cfg.TEST.AUDIO_ABLATION = "other"
    with pytest.raises(ValueError, match="TEST.AUDIO_ABLATION = 'other'"):
        build_test_loader(cfg, "aviseg_val")


def test_avis_shuffle_gives_each_video_another_videos_audio(tmp_path):
    cfg = synthetic_aviseg_cfg(
        tmp_path, seed=4, num_videos={"train": 1, "val": 3, "test": 0}, overrides=["INPUT.MIN_SIZE_TEST", 32],
    )
    records = get_dataset_records("aviseg_val", cfg)
    own = [audio_examples_for_frames(r["audio_path"], range(r["num_frames"])) for r in records]
    videos = [batch[0] for batch in build_test_loader(cfg, "aviseg_val")]
    cfg.TEST.AUDIO_ABLATION = "shuffle"
    shuffled = [batch[0] for batch in build_test_loader(cfg, "aviseg_val")]
    donors = []
    for index, (video, other) in enumerate(zip(videos, shuffled)):
        assert torch.equal(other["frames"], video["frames"])
        # Another video's audio at the same seconds, repeated where that video is shorter.
        matches = [
            d for d in range(len(records))
            if torch.equal(other["audio"], own[d][[t % own[d].shape[0] for t in video["frame_indices"]]])
        ]
        assert matches and index not in matches
        donors.append(matches[0])
    assert sorted(donors) == [0, 1, 2]  # a permutation: every video gives its audio once
    assert [b[0]["uid"] for b in build_test_loader(cfg, "aviseg_val")] == [v["uid"] for v in videos]


def test_avis_audio_is_the_front_end_of_model_audio_name(avis_cfg):
    """A second registered audio front end reaches the AVIS loader through MODEL.AUDIO.NAME alone."""
    cfg = avis_cfg.clone()
    cfg.MODEL.AUDIO.NAME = TEST_AUDIO_ENCODER
    records = get_dataset_records("aviseg_val", cfg)
    videos = [batch[0] for batch in build_test_loader(cfg, "aviseg_val")]
    for record, video in zip(records, videos):
        waveform, rate = load_audio(record["audio_path"])
        expected = rms_per_second(waveform, rate)[: record["num_frames"]]
        assert video["audio"].shape == (record["num_frames"], 2)
        torch.testing.assert_close(video["audio"], expected)
