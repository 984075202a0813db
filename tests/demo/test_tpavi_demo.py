"""The TPAVI demo (tiny TPAVI config, random weights) on a fabricated video: a partial last window
(padded inside the model), overlay video, palette PNGs of the model's classes, segments.json that
rebuilds every PNG; a vocabulary is refused."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from .demo_cli import REPO_ROOT, load_demo_cli
from .media_fixtures import encode_video

TINY_TPAVI = os.path.join(REPO_ROOT, "configs", "tiny", "TPAVI_tiny.yaml")
demo = load_demo_cli()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("media") / "tone.mp4")
    encode_video(path, seconds=3, fps=10, width=80, height=64)
    return path


@pytest.mark.parametrize("overrides, vocabulary", [
    ([], ["sounding object"]),
    (["MODEL.TPAVI.NUM_CLASSES", "71", "MODEL.TPAVI.AVM_LOSS", "hard_mask_frame_mean",
      "DATASETS.TEST", "('avsbench_semantic_test',)"], None),
], ids=["binary", "semantic"])
def test_demo_writes_consistent_outputs(video, tmp_path, overrides, vocabulary):
    output_dir = str(tmp_path / "out")
    code = demo.main(["--config-file", TINY_TPAVI, "--no-progress", "--input", video, "--output", output_dir,
                      "--opts", *overrides])
    assert code == 0
    with open(os.path.join(output_dir, "segments.json"), encoding="utf-8") as f:
        segments_json = json.load(f)
    if vocabulary is not None:
        assert segments_json["vocabulary"] == vocabulary
    assert len(segments_json["vocabulary"]) in (1, 70)
    assert [frame["index"] for frame in segments_json["frames"]] == [0, 1, 2]  # 3 s at 1 fps, window 5
    assert os.path.getsize(os.path.join(output_dir, "overlay.mp4")) > 0
    for frame in segments_json["frames"]:
        label_map = np.asarray(Image.open(os.path.join(output_dir, frame["png"])))
        assert label_map.shape == (64, 80) and int(label_map.max()) <= len(segments_json["vocabulary"])
        rebuilt = np.zeros_like(label_map)
        for segment in frame["segments"]:
            assert segments_json["vocabulary"][segment["label"] - 1] == segment["category"]
            assert 0.0 <= segment["score"] <= 1.0
            mask = mask_utils.decode({"size": segment["mask"]["size"], "counts": segment["mask"]["counts"].encode("ascii")})
            rebuilt[mask.astype(bool)] = segment["label"]
        np.testing.assert_array_equal(rebuilt, label_map)


def test_vocabulary_is_refused(video, tmp_path, capsys):
    code = demo.main(["--config-file", TINY_TPAVI, "--no-progress", "--input", video, "--output", str(tmp_path / "o"),
                      "--vocabulary", "dog"])
    assert code == 2
    assert "TPAVI segments the classes it was trained on" in capsys.readouterr().err
