"""AVISeg: the annotation-file parser, the reader and its records, the synthetic generator."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil

import numpy as np
import pytest

from ov_avss.config import get_cfg
from ov_avss.data.aviseg_synthetic import make_synthetic_aviseg
from ov_avss.data.catalog import get_dataset_metadata, get_dataset_records
from ov_avss.data.datasets.aviseg import AVISEG_CATEGORIES
from ov_avss.data.datasets.aviseg_annotations import load_aviseg_json
from ov_avss.structures.rle import decode_rle
from ov_avss.evaluation.avis import evaluate_avis

COUNTS = {"train": 3, "val": 1, "test": 2}


@pytest.fixture(scope="module")
def aviseg_root(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("aviseg")
    make_synthetic_aviseg(str(root), seed=3, num_videos=COUNTS, size=(48, 64), frames=(6, 8))
    return str(root)


def _cfg(root):
    cfg = get_cfg()
    cfg.DATASETS.ROOT = root
    return cfg


def _tree_digest(root: str) -> str:
    digest = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def test_registered_with_the_26_name_label_space():
    for split in ("train", "val", "test"):
        meta = get_dataset_metadata(f"aviseg_{split}")
        assert meta.vocabulary == AVISEG_CATEGORIES and len(meta.vocabulary) == 26
        assert meta.evaluator_type == "avis" and meta.is_train == (split == "train")
    assert AVISEG_CATEGORIES[0] == "person" and AVISEG_CATEGORIES[24] == "erhu"


def test_records_index_frames_audio_and_tracks(aviseg_root):
    for split, count in COUNTS.items():
        records = get_dataset_records(f"aviseg_{split}", _cfg(aviseg_root))
        assert len(records) == count
        for r in records:
            assert len(r["frame_paths"]) == r["num_frames"] and all(os.path.isfile(f) for f in r["frame_paths"])
            assert r["frame_times"] == [float(t) for t in range(r["num_frames"])]  # 1 fps
            assert r["uid"] == os.path.basename(os.path.dirname(r["frame_paths"][0]))
            assert os.path.isfile(r["audio_path"]) and r["audio_embedding_paths"] == {}
            assert r["tracks"], "every synthetic video has a sounding track"
            for track in r["tracks"]:
                assert AVISEG_CATEGORIES[track["label"]] == AVISEG_CATEGORIES[track["category_id"] - 1]
                assert len(track["segmentations"]) == r["num_frames"]
                masks = [decode_rle(s, r["height"], r["width"]) for s in track["segmentations"] if s is not None]
                assert masks and all(m.shape == (48, 64) and m.any() for m in masks)


def test_generator_is_deterministic_and_has_appearing_and_silent_instances(aviseg_root, tmp_path):
    again = tmp_path / "again"
    make_synthetic_aviseg(str(again), seed=3, num_videos=COUNTS, size=(48, 64), frames=(6, 8))
    assert _tree_digest(os.path.join(aviseg_root, "AVISeg")) == _tree_digest(str(again / "AVISeg"))
    other = tmp_path / "other"
    make_synthetic_aviseg(str(other), seed=4, num_videos=COUNTS, size=(48, 64), frames=(6, 8))
    assert _tree_digest(str(other / "AVISeg")) != _tree_digest(str(again / "AVISeg"))
    big = tmp_path / "big"
    make_synthetic_aviseg(str(big), seed=0, num_videos={"train": 12}, size=(32, 40), frames=(6, 6))
    videos, _ = load_aviseg_json(str(big / "AVISeg" / "train.json"))
    segs = [t["segmentations"] for v in videos for t in v.tracks]
    assert any(s[0] is None and any(x is not None for x in s) for s in segs)  # starts silent or appears late
    assert any(s[-1] is None for s in segs)                                  # stops sounding or leaves
    assert any(len(v.tracks) >= 2 for v in videos)
    # Silent frames exist (no track annotated), as in AVISeg.
    assert any(all(t["segmentations"][k] is None for t in v.tracks) for v in videos for k in range(v.length))


def test_ground_truth_as_predictions_scores_100(aviseg_root, tmp_path):
    gt_path = os.path.join(aviseg_root, "AVISeg", "test.json")
    videos, _ = load_aviseg_json(gt_path)
    preds = [{"video_id": v.video_id, "score": 1.0, "category_id": t["category_id"], "segmentations": t["segmentations"]}
             for v in videos for t in v.tracks]
    (tmp_path / "results.json").write_text(json.dumps(preds))
    metrics = evaluate_avis(gt_path, str(tmp_path / "results.json"))
    assert metrics["FSLA"] == pytest.approx(100.0) and metrics["mAP"] == pytest.approx(100.0)


def test_bad_annotations_are_named(tmp_path):
    good = {"videos": [{"id": 1, "file_names": ["v/0.jpg", "v/1.jpg"], "height": 4, "width": 5}],
            "categories": [{"id": 3, "name": "guitar"}],
            "annotations": [{"video_id": 1, "category_id": 3, "segmentations": [None, None]}]}
    cases = [
        (lambda d: d["annotations"][0].update(segmentations=[None]), "1 segmentations for a 2-frame video"),
        (lambda d: d["annotations"][0].update(category_id=9), "category_id 9"),
        (lambda d: d["annotations"][0].update(segmentations=[{"size": [8, 8], "counts": "x"}, None]), "RLE size"),
        (lambda d: d["videos"][0].pop("height"), "missing key(s) ['height']"),
    ]
    for mutate, message in cases:
        data = json.loads(json.dumps(good))
        mutate(data)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data))
        with pytest.raises(ValueError, match=re.escape(message)):
            load_aviseg_json(str(path))
    data = json.loads(json.dumps(good))
    data["categories"][0]["name"] = "banjo"  # id 3 is 'guitar' in AVISeg
    os.makedirs(tmp_path / "AVISeg", exist_ok=True)
    (tmp_path / "AVISeg" / "val.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="does not match the AVISeg label space"):
        get_dataset_records("aviseg_val", _cfg(str(tmp_path)))


@pytest.fixture
def aviseg_copy(aviseg_root, tmp_path):
    """A copy of the synthetic root that a test may change."""
    root = tmp_path / "copy"
    shutil.copytree(aviseg_root, root)
    return root


def test_missing_frames_are_reported(aviseg_copy):
    root = aviseg_copy
    record = get_dataset_records("aviseg_val", _cfg(str(root)))[0]
    os.remove(record["frame_paths"][1])
    with pytest.raises(FileNotFoundError, match="AVISeg frame"):
        get_dataset_records("aviseg_val", _cfg(str(root)))


def test_feataudios_are_recorded_as_vggish_embeddings(aviseg_copy):
    root = aviseg_copy
    record = get_dataset_records("aviseg_val", _cfg(str(root)))[0]
    feat_dir = root / "AVISeg" / "val" / "FEATAudios"
    feat_dir.mkdir()
    np.save(feat_dir / f"{record['uid']}.npy", np.zeros((record["num_frames"], 128), np.float32))
    os.remove(record["audio_path"])  # the wav is then optional
    again = get_dataset_records("aviseg_val", _cfg(str(root)))[0]
    assert again["audio_embedding_paths"] == {"VGGish": str(feat_dir / f"{record['uid']}.npy")}
