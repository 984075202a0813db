"""tools/check_dataset.py: lists every problem and ends with one error line and exit 2; exit 0
on clean data."""
from __future__ import annotations

import os

import cv2
import numpy as np

from ov_avss.config import get_cfg
from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.synthetic import make_synthetic_avsbench

from tool_loader import load_tool

TRAIN = "avsbench_ov_train_base"


def test_problems_are_listed_and_exit_2_then_clean_data_passes(tmp_path, capsys):
    make_synthetic_avsbench(str(tmp_path), seed=3, num_train_videos=4, num_val_videos=0, num_test_videos=2, size=(32, 48))
    cfg = get_cfg()
    cfg.DATASETS.ROOT = str(tmp_path)
    records = get_dataset_records(TRAIN, cfg)
    tool = load_tool("check_dataset")
    args = ["--dataset", TRAIN, "--dataset", "avsbench_ov_test", "DATASETS.ROOT", str(tmp_path)]
    assert tool.main(args) == 0
    assert "all files of 6 videos are fine" in capsys.readouterr().out

    removed = [records[0]["frame_paths"][1], records[-1]["audio_path"]]
    for path in removed:
        os.remove(path)
    assert tool.main(args) == 2
    out, err = capsys.readouterr()
    assert all(f"video {r['uid']}: {p} is missing" in out for r, p in zip((records[0], records[-1]), removed))
    assert err.strip().splitlines() == [f"error: 2 problems in 6 videos of {TRAIN}, avsbench_ov_test"]


def test_unknown_dataset_is_one_error_line(tmp_path, capsys):
    tool = load_tool("check_dataset")
    assert tool.main(["--dataset", "no_such_dataset", "DATASETS.ROOT", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no_such_dataset" in err[0]


def test_aviseg_datasets_are_checked_like_avsbench_ones(tmp_path, capsys):
    """``--dataset aviseg_train`` or an AVIS config: frames and wavs of every video are checked
    (once this ended in ``error: uid``); a frame that is no image, a wav that is not one and
    frames of another size than the annotation file states are each named."""
    from ov_avss.data.aviseg_synthetic import make_synthetic_aviseg

    make_synthetic_aviseg(str(tmp_path), seed=1, num_videos={"train": 3, "val": 1, "test": 0}, size=(48, 64), frames=(6, 7))
    tool = load_tool("check_dataset")
    from helpers import TINY_AVISM_CONFIG

    config = ["--config-file", str(TINY_AVISM_CONFIG), "DATASETS.ROOT", str(tmp_path)]
    assert tool.main(config) == 0
    out = capsys.readouterr().out
    assert "aviseg_train: 3 videos checked, 0 problems" in out and "aviseg_val: 1 videos checked, 0 problems" in out

    cfg = get_cfg()
    cfg.DATASETS.ROOT = str(tmp_path)
    records = get_dataset_records("aviseg_train", cfg)
    not_an_image, wrong_size = records[0]["frame_paths"][2], records[1]["frame_paths"][0]
    with open(not_an_image, "wb") as f:
        f.write(b"not a jpeg")
    cv2.imwrite(wrong_size, np.zeros((10, 12, 3), np.uint8))
    with open(records[2]["audio_path"], "wb") as f:
        f.write(b"ID3\x03 an mp3 renamed to wav")
    assert tool.main(["--dataset", "aviseg_train", "DATASETS.ROOT", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    name = lambda r: f"aviseg_train video {r['uid']}: "  # noqa: E731
    assert f"{name(records[0])}frame {not_an_image} is not a readable image" in out
    assert f"{name(records[1])}frames differ in size (12x10, 64x48)" in out
    assert f"{name(records[2])}audio " in out and "not a RIFF/WAVE file" in out
    assert err.strip().splitlines() == ["error: 3 problems in 3 videos of aviseg_train"]
