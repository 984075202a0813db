"""tools/check_dataset.py: lists every problem and ends with one error line and exit 2; exit 0
on clean data."""
from __future__ import annotations

import os

from ov_avss.config import get_cfg
from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.synthetic import make_synthetic_avsbench

from tool_loader import load_tool

TRAIN = "avsbench_ov_train_base"


def test_problems_are_listed_and_exit_2_then_clean_data_passes(tmp_path, capsys):
    make_synthetic_avsbench(str(tmp_path), seed=3, num_train_clips=4, num_val_clips=0, num_test_clips=2, size=(32, 48))
    cfg = get_cfg()
    cfg.DATASETS.ROOT = str(tmp_path)
    records = get_dataset_records(TRAIN, cfg)
    tool = load_tool("check_dataset")
    args = ["--dataset", TRAIN, "--dataset", "avsbench_ov_test", "DATASETS.ROOT", str(tmp_path)]
    assert tool.main(args) == 0
    assert "all files of 6 clips are fine" in capsys.readouterr().out

    removed = [records[0]["frame_paths"][1], records[-1]["audio_path"]]
    for path in removed:
        os.remove(path)
    assert tool.main(args) == 2
    out, err = capsys.readouterr()
    assert all(f"clip {r['uid']}: {p} is missing" in out for r, p in zip((records[0], records[-1]), removed))
    assert err.strip().splitlines() == [f"error: 2 problems in 6 clips of {TRAIN}, avsbench_ov_test"]


def test_unknown_dataset_is_one_error_line(tmp_path, capsys):
    tool = load_tool("check_dataset")
    assert tool.main(["--dataset", "no_such_dataset", "DATASETS.ROOT", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "no_such_dataset" in err[0]
