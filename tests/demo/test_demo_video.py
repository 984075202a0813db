"""End-to-end demo on fabricated media with the tiny config (random weights): every output is
decoded and checked against the others."""
from __future__ import annotations

import json
import os

import av
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from ov_avss.data.palette import PALETTE
from weight_server import closed_port_url

from .demo_cli import REPO_ROOT, load_demo_cli
from .media_fixtures import encode_video, write_frame_folder

TINY_CONFIG = os.path.join(REPO_ROOT, "configs", "tiny", "OV_AVSS_tiny.yaml")
VOCABULARY = ["dog", "piano", "man"]


demo = load_demo_cli()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    paths = {
        "video": str(root / "tone.mp4"),
        "silent_video": str(root / "silent.mp4"),
        "folder": str(root / "clip"),
    }
    encode_video(paths["video"], seconds=3, fps=10, width=80, height=64)
    encode_video(paths["silent_video"], seconds=2, fps=10, width=80, height=64, audio_rate=None)
    write_frame_folder(paths["folder"], num_frames=4, width=72, height=56)
    return paths


def _run(args: list[str]) -> int:
    return demo.main(["--config-file", TINY_CONFIG, "--no-progress", *args])


def _check_outputs(output_dir: str, num_frames: int, height: int, width: int, vocabulary: list[str],
                   expect_audio: bool = True) -> None:
    with av.open(os.path.join(output_dir, "overlay.mp4")) as container:
        assert len(container.streams.video) == 1
        assert len(container.streams.audio) == (1 if expect_audio else 0)
        decoded = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(decoded) == num_frames
    assert decoded[0].shape[:2] == (height + height % 2, width + width % 2)
    if expect_audio:
        with av.open(os.path.join(output_dir, "overlay.mp4")) as container:
            num_samples = sum(frame.samples for frame in container.decode(audio=0))
            rate = container.streams.audio[0].rate
        # The tone lasts as long as the sampled frames (AAC adds at most a few priming frames).
        assert abs(num_samples / rate - num_frames) < 0.2

    with open(os.path.join(output_dir, "segments.json"), encoding="utf-8") as f:
        segments_json = json.load(f)
    assert segments_json["vocabulary"] == vocabulary
    assert [frame["index"] for frame in segments_json["frames"]] == list(range(num_frames))
    allowed_colors = {tuple(color) for color in PALETTE[: len(vocabulary) + 1]}
    num_segments = 0
    for frame in segments_json["frames"]:
        png = Image.open(os.path.join(output_dir, frame["png"]))
        assert png.mode == "P" and png.size == (width, height)
        colors = {tuple(c) for c in np.asarray(png.convert("RGB")).reshape(-1, 3)}
        assert colors <= allowed_colors, f"{frame['png']} has colours outside the vocabulary's palette"
        label_map = np.asarray(png)
        rebuilt = np.zeros_like(label_map)
        for segment in frame["segments"]:
            assert isinstance(segment["mask"]["counts"], str)
            assert vocabulary[segment["label"] - 1] == segment["category"]
            assert 0.0 <= segment["score"] <= 1.0
            decoded_mask = mask_utils.decode({"size": segment["mask"]["size"],
                                              "counts": segment["mask"]["counts"].encode("ascii")}).astype(bool)
            assert decoded_mask.any()
            assert not (rebuilt[decoded_mask] > 0).any(), "segments of one frame overlap"
            rebuilt[decoded_mask] = segment["label"]
            num_segments += 1
        np.testing.assert_array_equal(rebuilt, label_map)
    assert num_segments > 0, "the tiny model predicted nothing; the output checks did not run"


def test_video_file_with_audio(media, tmp_path):
    output_dir = str(tmp_path / "out")
    # 3 s at 1 fps = 3 frames, in windows of 2 frames: the second window is a partial one.
    code = _run(["--input", media["video"], "--vocabulary", ",".join(VOCABULARY), "--output", output_dir,
                 "INPUT.SAMPLING_FRAME_NUM", "2"])
    assert code == 0
    _check_outputs(output_dir, num_frames=3, height=64, width=80, vocabulary=VOCABULARY)


def test_frame_folder_with_wav_and_vocabulary_file(media, tmp_path):
    vocabulary_file = tmp_path / "names.txt"
    vocabulary_file.write_text("# sounding things\nguitar\n\nwoman\n", encoding="utf-8")
    output_dir = str(tmp_path / "out")
    code = _run(["--input", media["folder"], "--vocabulary-file", str(vocabulary_file), "--output", output_dir,
                 "--opts", "INPUT.SAMPLING_FRAME_NUM", "3"])
    assert code == 0
    _check_outputs(output_dir, num_frames=4, height=56, width=72, vocabulary=["guitar", "woman"])


def test_silent_video_runs_only_when_allowed(media, tmp_path, capsys):
    output_dir = str(tmp_path / "out")
    assert _run(["--input", media["silent_video"], "--output", output_dir]) == 2
    assert "no audio track" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(output_dir, "overlay.mp4"))

    assert _run(["--input", media["silent_video"], "--output", output_dir, "--allow-silent"]) == 0
    with open(os.path.join(output_dir, "segments.json"), encoding="utf-8") as f:
        assert len(json.load(f)["vocabulary"]) == 70  # default vocabulary: the AVSBench names
    _check_outputs(output_dir, num_frames=2, height=64, width=80,
                   vocabulary=json.load(open(os.path.join(output_dir, "segments.json")))["vocabulary"],
                   expect_audio=False)


@pytest.mark.parametrize(
    "extra_args, message",
    [
        (["--vocabulary", " , ,"], "is empty"),
        (["--vocabulary", "dog,piano,dog"], "['dog'] more than once"),
        (["--vocabulary-file", "/nonexistent/names.txt"], "Vocabulary file not found"),
        (["--fps", "0"], "--fps must be positive"),
    ],
)
def test_bad_vocabulary_and_options_exit_2(media, tmp_path, capsys, extra_args, message):
    code = _run(["--input", media["video"], "--output", str(tmp_path / "out"), *extra_args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_unreadable_and_missing_inputs_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    assert _run(["--input", str(broken), "--output", str(tmp_path / "out")]) == 2
    assert str(broken) in capsys.readouterr().err

    assert _run(["--input", str(tmp_path / "missing.mp4"), "--output", str(tmp_path / "out")]) == 2
    assert "Input not found" in capsys.readouterr().err

    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    assert _run(["--input", str(empty_folder), "--output", str(tmp_path / "out")]) == 2
    assert "No frame files" in capsys.readouterr().err


def test_unreachable_weights_address_exits_2_with_one_error_line(media, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FVCORE_CACHE", str(tmp_path / "cache"))
    url = closed_port_url("/model_final.pth")
    assert _run(["--input", media["video"], "--output", str(tmp_path / "out"), "MODEL.WEIGHTS", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: MODEL.WEIGHTS: Cannot reach {url}")
    assert not (tmp_path / "out").exists()


def test_rerun_replaces_masks_and_files_are_ordinary(media, tmp_path, capsys):
    output_dir = tmp_path / "out"
    assert _run(["--input", media["folder"], "--output", str(output_dir), "--vocabulary", "dog,man"]) == 0
    assert len(os.listdir(output_dir / "masks")) == 4
    assert _run(["--input", media["video"], "--output", str(output_dir), "--vocabulary", "dog,man"]) == 0
    assert sorted(os.listdir(output_dir / "masks")) == [f"{i:06d}.png" for i in range(3)]  # no stale 4th frame
    assert sorted(os.listdir(output_dir)) == ["masks", "overlay.mp4", "segments.json"]  # no staging left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(output_dir / "overlay.mp4").st_mode & 0o777 == 0o666 & ~umask

    out = capsys.readouterr().out
    assert "segments per name: " in out
    assert "frames with no segment: " in out and " of 3" in out


def test_failed_run_keeps_the_previous_outputs(media, tmp_path, monkeypatch):
    output_dir = tmp_path / "out"
    assert _run(["--input", media["folder"], "--output", str(output_dir), "--vocabulary", "dog,man"]) == 0
    before = {name: (output_dir / name).read_bytes() for name in ("overlay.mp4", "segments.json")}
    from ov_avss.demo import pipeline

    calls = []
    real_draw = pipeline.draw_segments

    def draw_then_fail(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_draw(*args)

    monkeypatch.setattr(pipeline, "draw_segments", draw_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        _run(["--input", media["video"], "--output", str(output_dir), "--vocabulary", "dog,man"])
    assert sorted(os.listdir(output_dir)) == ["masks", "overlay.mp4", "segments.json"]
    assert len(os.listdir(output_dir / "masks")) == 4
    assert {name: (output_dir / name).read_bytes() for name in before} == before


def test_ffmpeg_frame_names_from_1(media, tmp_path):
    folder = tmp_path / "ffmpeg_frames"
    folder.mkdir()
    source = os.path.join(media["folder"], "frames")
    for index in range(4):
        with open(os.path.join(source, f"{index}.jpg"), "rb") as f:
            (folder / f"{index + 1:05d}.jpg").write_bytes(f.read())
    audio = os.path.join(media["folder"], "audio.wav")
    output_dir = str(tmp_path / "out")
    assert _run(["--input", str(folder), "--audio", audio, "--output", output_dir, "--vocabulary", "dog,man"]) == 0
    _check_outputs(output_dir, num_frames=4, height=56, width=72, vocabulary=["dog", "man"])


def test_all_empty_frames_with_random_weights_get_a_hint(media, tmp_path, capsys):
    output_dir = str(tmp_path / "out")
    code = _run(["--input", media["video"], "--output", output_dir, "--vocabulary", "dog,man",
                 "MODEL.MASK_FORMER.TEST.MASK_LOGIT_THRESHOLD", "1000.0"])
    assert code == 0
    out = capsys.readouterr().out
    assert "segments per name: none" in out and "frames with no segment: 3 of 3" in out
    assert "hint: no frame has a segment; expected here because MODEL.WEIGHTS is empty" in out
