"""The demo's audio is the dataset's: for the same file, the frames of a video get the examples
the video mapper feeds at evaluation (before this, the demo took the 0.975 s from each frame's
time: 0.36 s later than the dataset's example by frame 9 of a 10 s video)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from ov_avss.audio import VGGISH_FRONT_END, audio_examples_for_frames
from ov_avss.audio.log_mel import silence_log_mel
from ov_avss.config import get_cfg
from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.window_mapper import WindowMapper
from ov_avss.data.synthetic import make_synthetic_avsbench, wav_bytes
from ov_avss.demo.audio_stream import FrameAlignedAudio
from ov_avss.demo.errors import DemoInputError
from ov_avss.demo.frame_source import VideoFrameSource, open_demo_input

from .media_fixtures import encode_video

DATASET = "avsbench_semantic_test"


@pytest.fixture(scope="module")
def avss_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    make_synthetic_avsbench(str(root), seed=3, num_train_videos=1, num_val_videos=1, num_test_videos=6, size=(48, 64))
    cfg = get_cfg()
    cfg.DATASETS.ROOT = str(root)
    cfg.INPUT.MIN_SIZE_TEST = 48
    return cfg


def _demo_examples(folder: str, audio_path: str | None = None) -> torch.Tensor:
    """The demo's audio for every frame of a frame folder, in windows of 2 frames."""
    demo_input = open_demo_input(folder, audio_path, fps=1.0, allow_silent=False)
    audio = FrameAlignedAudio(demo_input.audio_path, VGGISH_FRONT_END, "zero_examples")
    times = np.array([frame.time for frame in demo_input.frames])
    return torch.cat([audio.examples_at(times[start:start + 2]) for start in range(0, len(times), 2)])


def _dataset_examples(cfg, record: dict) -> torch.Tensor:
    mapper = WindowMapper(cfg, DATASET, is_train=False)
    return mapper(record, list(range(int(record["num_frames"]))))["audio"]


def test_demo_feeds_the_dataset_examples_of_each_window(avss_cfg):
    records = get_dataset_records(DATASET, avss_cfg)
    assert any(int(r["num_frames"]) == 10 for r in records), "no 10 s video to check frame 9 on"
    for record in records:
        folder = os.path.dirname(record["audio_path"])
        dataset = _dataset_examples(avss_cfg, record)
        assert dataset.shape == (int(record["num_frames"]), 1, 96, 64)
        assert torch.equal(_demo_examples(folder), dataset), record["uid"]


def test_resampled_and_short_audio_equals_the_dataset(avss_cfg, tmp_path):
    """A 22.05 kHz track 1.5 s shorter than its 10 s video: both resample through the library and
    complete the video with zero examples."""
    record = next(r for r in get_dataset_records(DATASET, avss_cfg) if int(r["num_frames"]) == 10)
    rng = np.random.default_rng(0)
    seconds, rate = 8.5, 22050
    gate = np.repeat(rng.random(int(seconds * 4)) < 0.5, rate // 4)
    waveform = (0.2 * rng.standard_normal(gate.size) * gate).astype(np.float32)
    path = tmp_path / "audio.wav"
    path.write_bytes(wav_bytes(waveform, sample_rate=rate))
    record = {**record, "audio_path": str(path)}
    dataset = _dataset_examples(avss_cfg, record)
    assert torch.count_nonzero(dataset[8:]) == 0 and torch.count_nonzero(dataset[:8]) > 0
    assert torch.equal(_demo_examples(os.path.dirname(record["frame_paths"][0]), str(path)), dataset)


def test_video_track_frames_at_2_fps(tmp_path):
    """A video's own AAC track, decoded by PyAV: frame k at k / 2 s gets example floor(k / 2)."""
    video = str(tmp_path / "tone.mp4")
    encode_video(video, seconds=3, fps=10, width=64, height=48)
    times = np.array([frame.time for frame in VideoFrameSource(video, fps=2.0)])
    assert times.tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    examples = FrameAlignedAudio(video, VGGISH_FRONT_END, "zero_examples").examples_at(times)
    assert torch.equal(examples, audio_examples_for_frames(video, [0, 0, 1, 1, 2, 2]))
    assert (examples - silence_log_mel(len(times))).max() > 1.0, "the tone was not heard"


def test_silence_without_audio_and_errors_name_the_file(tmp_path):
    assert torch.equal(FrameAlignedAudio(None, VGGISH_FRONT_END, "zero_examples").examples_at(np.arange(30.0)), silence_log_mel(30))
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF this is not a wav file at all")
    with pytest.raises(DemoInputError, match="corrupt.wav"):
        FrameAlignedAudio(str(corrupt), VGGISH_FRONT_END, "zero_examples")
