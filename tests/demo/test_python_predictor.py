"""``ov_avss.AudioVisualPredictor``: the demo's predictions as Python objects, equal to what
``demo_video/demo.py`` writes for the same input (tiny config, fixed random weights from a file)."""
from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from ov_avss import AudioVisualPredictor
from ov_avss.audio.log_mel import load_audio
from ov_avss.data.image_io import read_frame
from ov_avss.demo import DemoInputError, SegmentationResult

from .demo_cli import REPO_ROOT, load_demo_cli
from .media_fixtures import encode_video, write_frame_folder

TINY_CONFIG = os.path.join(REPO_ROOT, "configs", "tiny", "OV_AVSS_tiny.yaml")
VOCABULARY = ["dog", "piano", "man"]
WINDOW = ["INPUT.SAMPLING_FRAME_NUM", "2"]

demo = load_demo_cli()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    paths = {"video": str(root / "tone.mp4"), "folder": str(root / "clip"), "weights": str(root / "tiny.pth")}
    encode_video(paths["video"], seconds=3, fps=10, width=80, height=64)
    write_frame_folder(paths["folder"], num_frames=4, width=72, height=56)
    torch.manual_seed(0)
    untrained = AudioVisualPredictor(TINY_CONFIG)
    torch.save({"model": untrained.model.state_dict()}, paths["weights"])
    return paths


@pytest.fixture(scope="module")
def predictor(media):
    return AudioVisualPredictor(TINY_CONFIG, weights=media["weights"], opts=WINDOW, device="cpu")


def _decode(rle: dict) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def _assert_equal_results(first: SegmentationResult, second: SegmentationResult) -> None:
    assert first.vocabulary == second.vocabulary
    assert [f.index for f in first.frames] == [f.index for f in second.frames]
    for a, b in zip(first.frames, second.frames):
        np.testing.assert_array_equal(a.label_map, b.label_map)
        assert [(s.name, s.label) for s in a.segments] == [(s.name, s.label) for s in b.segments]
        np.testing.assert_allclose([s.score for s in a.segments], [s.score for s in b.segments], rtol=1e-6)
        for s, t in zip(a.segments, b.segments):
            np.testing.assert_array_equal(s.mask, t.mask)


def test_video_results_equal_the_demos_files(media, predictor, tmp_path):
    output_dir = tmp_path / "demo"
    code = demo.main([
        "--config-file", TINY_CONFIG, "--no-progress", "--input", media["video"], "--vocabulary", ",".join(VOCABULARY),
        "--output", str(output_dir), *WINDOW, "MODEL.WEIGHTS", media["weights"],
    ])
    assert code == 0
    written = json.loads((output_dir / "segments.json").read_text())

    result = predictor(media["video"], VOCABULARY)
    assert isinstance(result, SegmentationResult)
    assert result.vocabulary == tuple(VOCABULARY) and result.fps == 1.0
    assert [(f.index, f.time) for f in result.frames] == [(f["index"], f["time"]) for f in written["frames"]]
    num_segments = 0
    for frame, record in zip(result.frames, written["frames"]):
        assert frame.label_map.dtype == np.uint8 and frame.label_map.shape == (64, 80)
        np.testing.assert_array_equal(frame.label_map, np.asarray(Image.open(output_dir / record["png"])))
        assert [(s.name, s.label) for s in frame.segments] == [(r["category"], r["label"]) for r in record["segments"]]
        np.testing.assert_allclose([s.score for s in frame.segments], [r["score"] for r in record["segments"]], rtol=1e-6)
        for segment, entry in zip(frame.segments, record["segments"]):
            assert segment.mask.dtype == bool
            np.testing.assert_array_equal(segment.mask, _decode(entry["mask"]))
            num_segments += 1
    assert num_segments > 0, "the tiny model predicted nothing; the comparison did not run"


def test_frames_and_waveform_in_memory_equal_the_frame_folder(media, predictor):
    from_folder = predictor(media["folder"], VOCABULARY)
    frames_dir = os.path.join(media["folder"], "frames")
    frames = np.stack([read_frame(os.path.join(frames_dir, f"{k}.jpg")) for k in range(4)])
    waveform, sample_rate = load_audio(os.path.join(media["folder"], "audio.wav"))
    _assert_equal_results(from_folder, predictor.predict_frames(frames, VOCABULARY, audio=waveform, sample_rate=sample_rate))
    audio_path = os.path.join(media["folder"], "audio.wav")
    _assert_equal_results(from_folder, predictor.predict_frames(torch.from_numpy(frames), VOCABULARY, audio=audio_path))
    _assert_equal_results(from_folder, predictor.predict_frames(frames, VOCABULARY, audio=pathlib.Path(audio_path)))
    assert sum(len(frame.segments) for frame in from_folder.frames) > 0


def test_default_vocabulary_is_the_test_datasets(media, predictor):
    result = predictor.predict_frames(np.zeros((1, 32, 32, 3), np.uint8), allow_silent=True)
    assert len(result.vocabulary) == 70  # AVSBench's names (DATASETS.TEST[0] of the tiny config)


@pytest.mark.parametrize("call, message", [
    (lambda p, m: p(m["video"], "dog,piano"), "must be a list of names"),
    (lambda p, m: p(m["video"], ["dog", "dog"]), "more than once"),
    (lambda p, m: p(m["video"] + ".missing", VOCABULARY), "Input not found"),
    (lambda p, m: p.predict_frames(np.zeros((2, 8, 8, 3), np.float32), VOCABULARY), "RGB uint8 [T, H, W, 3]"),
    (lambda p, m: p.predict_frames(np.zeros((2, 8, 8, 3), np.uint8), VOCABULARY, audio=np.zeros(16000)), "sample_rate"),
    (lambda p, m: p.predict_frames(np.zeros((2, 8, 8, 3), np.uint8), VOCABULARY, audio=np.zeros(16000), sample_rate=16000.5),
     "whole number of Hz"),
    (lambda p, m: p.predict_frames(np.zeros((2, 8, 8, 3), np.uint8), VOCABULARY, audio=np.zeros(16000, np.int16), sample_rate=16000),
     "must be a float tensor in [-1, 1]"),
    (lambda p, m: p.predict_frames(np.zeros((2, 8, 8, 3), np.uint8), VOCABULARY), "allow_silent=True"),
    (lambda p, m: p(m["video"], VOCABULARY, video_id=3), "--video-id is for AVIS configs"),
])
def test_bad_input_raises_a_demo_input_error(media, predictor, call, message):
    with pytest.raises(DemoInputError, match=None) as info:
        call(predictor, media)
    assert message in str(info.value)
