"""Dataset readers on files in the real AVSBench-semantic and AVSBench-object layouts."""
from __future__ import annotations

import csv
import json
import os
import shutil

import pytest

from ov_avss.data.catalog import get_dataset_metadata, get_dataset_records
from ov_avss.data.categories import BASE_CATEGORIES, CATEGORIES, NOVEL_CATEGORIES


def _copy_semantic(synthetic_root, tmp_path) -> str:
    shutil.copytree(os.path.join(synthetic_root, "AVSBench-semantic"), tmp_path / "AVSBench-semantic")
    return str(tmp_path)


def _rewrite_metadata(root: str, transform) -> None:
    path = os.path.join(root, "AVSBench-semantic", "metadata.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(transform(rows))


def test_ov_train_base_keeps_base_only_videos(data_cfg):
    records = get_dataset_records("avsbench_ov_train_base", data_cfg)
    metadata = get_dataset_metadata("avsbench_ov_train_base")
    assert metadata.vocabulary == BASE_CATEGORIES and metadata.is_train
    assert records and all(set(r["category_names"]) <= set(BASE_CATEGORIES) for r in records)
    for record in records:
        assert record["split"] == "train" and record["dataset_name"] == "avsbench_ov_train_base"
        assert len(record["frame_paths"]) == record["num_frames"] == {"v1s": 5, "v1m": 5, "v2": 10}[record["subset"]]
        assert all(os.path.isfile(p) for p in record["frame_paths"]) and os.path.isfile(record["audio_path"])
        if record["subset"] == "v1s":
            assert record["mask_paths"][0] is not None and record["mask_paths"][1:] == [None] * 4
        else:
            assert all(os.path.isfile(p) for p in record["mask_paths"])


def test_ov_test_has_all_names_and_split(data_cfg):
    metadata = get_dataset_metadata("avsbench_ov_test")
    assert metadata.vocabulary == CATEGORIES and metadata.evaluator_type == "avss"
    assert metadata.base_names == BASE_CATEGORIES and metadata.novel_names == NOVEL_CATEGORIES
    records = get_dataset_records("avsbench_ov_test", data_cfg)
    assert len(records) == 8 and all(None not in r["mask_paths"] for r in records)
    assert any(set(r["category_names"]) & set(NOVEL_CATEGORIES) for r in records)
    assert len(get_dataset_records("avsbench_ov_val_all", data_cfg)) == 3
    closed = get_dataset_metadata("avsbench_semantic_test")
    assert closed.base_names == () and closed.vocabulary == CATEGORIES
    assert len(get_dataset_records("avsbench_semantic_train", data_cfg)) == 12


@pytest.mark.parametrize("subset", ["s4", "ms3"])
def test_object_readers(data_cfg, subset):
    metadata = get_dataset_metadata(f"avsbench_{subset}_train")
    assert metadata.evaluator_type == "binary_avs" and metadata.vocabulary == ("sounding object",)
    for split in ("train", "val", "test"):
        records = get_dataset_records(f"avsbench_{subset}_{split}", data_cfg)
        assert len(records) == 2
        for record in records:
            assert record["subset"] == subset and record["num_frames"] == 5
            assert all(os.path.isfile(p) for p in record["frame_paths"]) and os.path.isfile(record["audio_path"])
            masks = [p for p in record["mask_paths"] if p is not None]
            assert len(masks) == (1 if (subset == "s4" and split == "train") else 5)
            assert all(os.path.isfile(p) for p in masks)


def test_indexing_10k_videos(data_cfg, tmp_path):
    # Only the result is checked; wall time is never asserted (it depends on the machine).
    root = _copy_semantic(data_cfg.DATASETS.ROOT, tmp_path)

    def replicate(rows):
        header, first = rows[0], next(r for r in rows[1:] if r[5] == "test")
        clones = []
        for i in range(10000):
            clone = list(first)
            clone[1] = f"clone{i}"
            clones.append(clone)
            os.makedirs(os.path.join(root, "AVSBench-semantic", clone[6], clone[1]), exist_ok=True)
        return [header, *rows[1:], *clones]

    _rewrite_metadata(root, replicate)
    data_cfg.DATASETS.ROOT = root
    records = get_dataset_records("avsbench_ov_test", data_cfg)
    assert len(records) == 10008


def test_missing_column_is_named(data_cfg, tmp_path):
    root = _copy_semantic(data_cfg.DATASETS.ROOT, tmp_path)
    _rewrite_metadata(root, lambda rows: [[c for i, c in enumerate(r) if i != 4] for r in rows])
    data_cfg.DATASETS.ROOT = root
    with pytest.raises(ValueError, match=r"metadata.csv lacks the column\(s\) \['a_obj'\]"):
        get_dataset_records("avsbench_ov_test", data_cfg)


def test_unknown_sounding_category_is_named(data_cfg, tmp_path):
    root = _copy_semantic(data_cfg.DATASETS.ROOT, tmp_path)
    _rewrite_metadata(root, lambda rows: [rows[0]] + [r[:4] + ["unicorn"] + r[5:] for r in rows[1:]])
    data_cfg.DATASETS.ROOT = root
    with pytest.raises(ValueError, match=r"\['unicorn'\].*label2idx.json"):
        get_dataset_records("avsbench_ov_test", data_cfg)


def test_label2idx_disagreement_is_named(data_cfg, tmp_path):
    root = _copy_semantic(data_cfg.DATASETS.ROOT, tmp_path)
    path = os.path.join(root, "AVSBench-semantic", "label2idx.json")
    with open(path) as f:
        labels = json.load(f)
    del labels["dog"]
    labels["cat"] = 3
    with open(path, "w") as f:
        json.dump(labels, f)
    data_cfg.DATASETS.ROOT = root
    with pytest.raises(ValueError, match=r"absent \['dog'\].*cat: 3 \(expected 12\)"):
        get_dataset_records("avsbench_ov_test", data_cfg)


def test_missing_video_folders_and_empty_split(data_cfg, tmp_path):
    root = _copy_semantic(data_cfg.DATASETS.ROOT, tmp_path)
    data_cfg.DATASETS.ROOT = root
    uid = get_dataset_records("avsbench_ov_test", data_cfg)[0]["uid"]
    shutil.rmtree(next(p for p in (tmp_path / "AVSBench-semantic").glob(f"*/{uid}")))
    with pytest.raises(FileNotFoundError, match=rf"1 video folders of avsbench_ov_test missing, e.g. .*{uid}"):
        get_dataset_records("avsbench_ov_test", data_cfg)
    _rewrite_metadata(root, lambda rows: [r for r in rows if r[5] != "val"])
    with pytest.raises(ValueError, match="no videos of split 'val'"):
        get_dataset_records("avsbench_ov_val_all", data_cfg)
    data_cfg.DATASETS.ROOT = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="label2idx.json"):
        get_dataset_records("avsbench_ov_test", data_cfg)


def test_unknown_dataset_lists_registered_ones():
    with pytest.raises(KeyError, match="avsbench_ov_test"):
        get_dataset_metadata("avsbench_nope")
