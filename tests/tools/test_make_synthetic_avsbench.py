"""tools/make_synthetic_avsbench.py: layout, determinism, design properties."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ov_avss.data.categories import BASE_CATEGORIES, CATEGORY_TO_INDEX
from ov_avss.data.image_io import read_palette_mask
from ov_avss.data.synthetic import DEFAULT_CATEGORIES

from tool_loader import load_tool


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_layout_and_determinism(tmp_path):
    args = ["--num-train-clips", "6", "--num-val-clips", "2", "--num-test-clips", "5", "--size", "48", "64", "--seed", "5"]
    tool = load_tool("make_synthetic_avsbench")
    assert tool.main(["--out", str(tmp_path / "a"), "--with-object", "--object-clips-per-split", "1", *args]) == 0
    assert tool.main(["--out", str(tmp_path / "b"), "--with-object", "--object-clips-per-split", "1", *args]) == 0
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert tool.main(["--out", str(tmp_path / "c"), *args[:-1], "6"]) == 0
    assert _digest(tmp_path / "c" / "AVSBench-semantic") != _digest(tmp_path / "a" / "AVSBench-semantic")

    root = tmp_path / "a" / "AVSBench-semantic"
    labels = json.loads((root / "label2idx.json").read_text())
    assert len(labels) == 71 and labels["background"] == 0 and labels["dog"] == CATEGORY_TO_INDEX["dog"]
    with open(root / "metadata.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["vid", "uid", "s_min", "s_sec", "a_obj", "split", "label"]
    assert [r["split"] for r in rows].count("train") == 6 and [r["split"] for r in rows].count("test") == 5
    for row in rows:
        video = root / row["label"] / row["uid"]
        num_frames = 10 if row["label"] == "v2" else 5
        assert sorted(os.listdir(video / "frames")) == sorted(f"{t}.jpg" for t in range(num_frames))
        masks = sorted(os.listdir(video / "labels_rgb"))
        assert len(masks) == (1 if row["label"] == "v1s" and row["split"] == "train" else num_frames)
        with open(video / "audio.wav", "rb") as f:
            header = f.read(44)
        assert header[:4] == b"RIFF" and int.from_bytes(header[24:28], "little") == 16000
        sounding = set(row["a_obj"].split("_")) - {""}
        assert sounding <= set(DEFAULT_CATEGORIES)
        if row["split"] == "train":
            assert sounding <= set(BASE_CATEGORIES)
        present = set()
        for mask in masks:
            label_map = read_palette_mask(str(video / "labels_rgb" / mask), 71)
            assert label_map.shape == (48, 64)
            present |= set(np.unique(label_map).tolist()) - {0}
        assert present <= {CATEGORY_TO_INDEX[n] for n in sounding}
    assert (tmp_path / "a" / "AVSBench-object" / "Single-source" / "s4_meta_data.csv").is_file()
    assert (tmp_path / "a" / "AVSBench-object" / "Multi-sources" / "ms3_meta_data.csv").is_file()


def test_bad_categories_are_rejected(tmp_path, capsys):
    assert load_tool("make_synthetic_avsbench").main(["--out", str(tmp_path), "--categories", "dog,unicorn"]) == 1
    assert "unicorn" in capsys.readouterr().err
