"""The dataset check finds every missing or malformed file of every video before training, and
names the video, the file and what was expected."""
from __future__ import annotations

import os
import shutil

import cv2
import numpy as np
import pytest

from ov_avss.data.build import build_train_loader
from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.dataset_check import DatasetCheckError, check_records

TRAIN = "avsbench_ov_train_base"


@pytest.fixture
def broken_cfg(data_cfg, tmp_path):
    """A copy of the synthetic root with four training videos damaged, one way each; returns the
    config and ``{uid: the problem's file}``."""
    shutil.copytree(os.path.join(data_cfg.DATASETS.ROOT, "AVSBench-semantic"), tmp_path / "AVSBench-semantic")
    data_cfg.DATASETS.ROOT = str(tmp_path)
    records = get_dataset_records(TRAIN, data_cfg)
    assert len(records) >= 4
    missing_frame = records[0]["frame_paths"][2]
    os.remove(missing_frame)
    bad_wav = records[1]["audio_path"]
    with open(bad_wav, "wb") as f:
        f.write(b"ID3\x03 this is an mp3 renamed to wav")
    mask_record = records[2]
    wrong_mask = next(p for p in mask_record["mask_paths"] if p is not None)
    cv2.imwrite(wrong_mask, np.zeros((10, 12, 3), np.uint8))
    garbage_frame = records[3]["frame_paths"][0]
    with open(garbage_frame, "wb") as f:
        f.write(b"not a jpeg")
    damaged = {
        records[0]["uid"]: missing_frame,
        records[1]["uid"]: bad_wav,
        records[2]["uid"]: wrong_mask,
        records[3]["uid"]: garbage_frame,
    }
    return data_cfg, damaged


def test_every_problem_is_found_and_named(broken_cfg):
    cfg, damaged = broken_cfg
    problems, num_videos, truncated = check_records(get_dataset_records(TRAIN, cfg))
    assert not truncated and num_videos == len(get_dataset_records(TRAIN, cfg))
    assert len(problems) == 4, problems
    by_uid = {uid: [p for p in problems if f"video {uid}:" in p] for uid in damaged}
    for uid, path in damaged.items():
        assert len(by_uid[uid]) == 1 and path in by_uid[uid][0], (uid, problems)
    texts = dict((uid, lines[0]) for uid, lines in by_uid.items())
    uids = list(damaged)
    assert texts[uids[0]].endswith("is missing")
    assert "not a RIFF/WAVE file" in texts[uids[1]]
    assert "is 12x10 but its frame" in texts[uids[2]] and "is 80x64" in texts[uids[2]]
    assert "not a readable image" in texts[uids[3]]


def test_problem_cap(broken_cfg):
    cfg, _ = broken_cfg
    problems, _, truncated = check_records(get_dataset_records(TRAIN, cfg), max_problems=2)
    assert len(problems) == 2 and truncated


def test_train_loader_checks_before_the_first_batch_and_can_be_told_not_to(broken_cfg):
    cfg, damaged = broken_cfg
    cfg.DATASETS.TRAIN = (TRAIN,)
    with pytest.raises(DatasetCheckError, match=r"4 problems in \d+ videos \(set DATALOADER.CHECK_FILES False") as info:
        build_train_loader(cfg)
    assert all(any(path in p for p in info.value.problems) for path in damaged.values())
    cfg.DATALOADER.CHECK_FILES = False
    build_train_loader(cfg)  # builds; the damage would surface when a video is read


def test_clean_data_passes(data_cfg):
    assert check_records(get_dataset_records(TRAIN, data_cfg))[0] == []


def test_training_on_aviseg_checks_its_files_first(tmp_path):
    """The AVISeg loader runs the same up-front check: a frame whose size differs from the one
    the annotation file states is named before iteration 0."""
    from helpers import synthetic_aviseg_cfg

    cfg = synthetic_aviseg_cfg(tmp_path, seed=2, num_videos={"train": 2, "val": 0, "test": 0})
    records = get_dataset_records("aviseg_train", cfg)
    frames = records[1]["frame_paths"]
    for path in frames:
        cv2.imwrite(path, np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(DatasetCheckError, match=rf"aviseg_train video {records[1]['uid']}: frames are 30x20 but the annotation file states"):
        next(iter(build_train_loader(cfg)))
