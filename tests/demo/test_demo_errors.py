"""The demo's bad inputs found after parsing (config values, checkpoints, the output folder, a
failing input) end in one ``error:`` line and exit 2 and leave no new output folder; its hints
say what is true of the run."""
from __future__ import annotations

import os
import threading

import pytest
import torch

from helpers import TINY_AVISM_CONFIG, TINY_OV_AVSS_CONFIG, load_config
from ov_avss.modeling.meta_arch.build import build_model

from .demo_cli import load_demo_cli
from .media_fixtures import encode_video, write_frame_folder

TINY_CONFIG = str(TINY_OV_AVSS_CONFIG)
demo = load_demo_cli()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    paths = {"video": str(root / "tone.mp4"), "silent_video": str(root / "silent.mp4"), "folder": str(root / "clip")}
    encode_video(paths["video"], seconds=2, fps=10, width=80, height=64)
    encode_video(paths["silent_video"], seconds=2, fps=10, width=80, height=64, audio_rate=None)
    write_frame_folder(paths["folder"], num_frames=3, width=72, height=56)
    return paths


@pytest.fixture(scope="module")
def trained_weights(tmp_path_factory):
    """The tiny model's own weights as a checkpoint: it fits the model of the tiny config."""
    path = tmp_path_factory.mktemp("weights") / "model_final.pth"
    torch.save({"model": build_model(load_config(TINY_OV_AVSS_CONFIG)).state_dict(), "iteration": 99}, path)
    return str(path)


def _error(capsys, args: list[str]) -> str:
    assert demo.main(["--config-file", TINY_CONFIG, "--no-progress", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    # main returned 2: no exception escaped. (stderr may also hold "--- Logging error ---"
    # reports of log handlers that earlier tests bound to since-closed captured streams.)
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


def test_override_of_the_wrong_type_names_the_key(media, tmp_path, capsys):
    line = _error(capsys, ["--input", media["video"], "--output", str(tmp_path / "out"), "INPUT.MIN_SIZE_TEST", "big"])
    assert "INPUT.MIN_SIZE_TEST" in line and "big" in line
    assert not (tmp_path / "out").exists()


def test_truncated_checkpoint_names_the_file(media, tmp_path, capsys, trained_weights):
    truncated = tmp_path / "model_final.pth"
    with open(trained_weights, "rb") as f:
        truncated.write_bytes(f.read()[:4096])
    line = _error(capsys, ["--input", media["video"], "--output", str(tmp_path / "out"), "MODEL.WEIGHTS", str(truncated)])
    assert f"{truncated} (4096 bytes): it is truncated" in line
    assert not (tmp_path / "out").exists()


def test_checkpoint_of_another_architecture_is_refused(media, tmp_path, capsys):
    avism = tmp_path / "avism_final.pth"
    torch.save({"model": build_model(load_config(TINY_AVISM_CONFIG)).state_dict(), "iteration": 59}, avism)
    line = _error(capsys, ["--input", media["video"], "--output", str(tmp_path / "out"), "MODEL.WEIGHTS", str(avism)])
    assert f"checkpoint {avism} does not fit the model built from {TINY_CONFIG}: " in line
    assert "model tensors match" in line and "(missing)" in line
    assert not (tmp_path / "out").exists()


def test_output_that_cannot_be_written(media, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert "is an existing file" in _error(capsys, ["--input", media["video"], "--output", str(a_file)])
    assert "cannot be written" in _error(capsys, ["--input", media["video"], "--output", str(a_file / "out")])
    assert a_file.read_text() == ""


def test_input_failing_in_the_run_leaves_no_output_folder(media, tmp_path, capsys):
    folder = tmp_path / "frames"
    write_frame_folder(str(folder), num_frames=3, width=72, height=56)
    frames = folder / "frames" if (folder / "frames").is_dir() else folder
    (frames / "1.jpg").write_bytes(b"not a jpeg")
    audio = os.path.join(media["folder"], "audio.wav")
    line = _error(capsys, ["--input", str(folder), "--audio", audio, "--output", str(tmp_path / "out"),
                           "--vocabulary", "dog"])
    assert "1.jpg" in line
    assert not (tmp_path / "out").exists()


def test_vocabulary_from_a_pipe_is_read(media, tmp_path):
    pipe = tmp_path / "names"
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_text("dog\npiano\n"))
    writer.start()
    code = demo.main(["--config-file", TINY_CONFIG, "--no-progress", "--input", media["video"],
                      "--output", str(tmp_path / "out"), "--vocabulary-file", str(pipe)])
    if writer.is_alive():  # the demo never opened the pipe: unblock the writer, then fail
        with open(pipe, encoding="utf-8") as f:
            f.read()
    writer.join()
    assert code == 0
    assert "dog" in (tmp_path / "out" / "segments.json").read_text()


def test_empty_result_of_a_trained_checkpoint_does_not_blame_random_weights(media, tmp_path, capsys, trained_weights):
    strict = ["MODEL.MASK_FORMER.TEST.MASK_LOGIT_THRESHOLD", "1000.0", "MODEL.WEIGHTS", trained_weights]
    args = ["--config-file", TINY_CONFIG, "--no-progress", "--output", str(tmp_path / "out"), "--vocabulary", "dog"]
    assert demo.main([*args, "--input", media["video"], *strict]) == 0
    out = capsys.readouterr().out
    assert "frames with no segment: 2 of 2" in out
    assert "RANDOM_INIT" not in out and "expected here" not in out
    assert "the vocabulary may not name what sounds" in out

    assert demo.main([*args, "--input", media["silent_video"], "--allow-silent", *strict]) == 0
    out = capsys.readouterr().out
    assert "hint: no frame has a segment; the model heard silence" in out and "RANDOM_INIT" not in out
