"""tools/evaluate_predictions.py --setting avis: prints and writes FSLA / HOTA / mAP; bad input ends
with one error line."""
from __future__ import annotations

import json

import numpy as np
from pycocotools import mask as mask_utils
from tool_loader import load_tool

evaluate_predictions = load_tool("evaluate_predictions")


def _run(*args: str) -> int:
    return evaluate_predictions.main(["--setting", "avis", *args])


def _rle(mask):
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": r["counts"].decode()}


def _files(tmp_path, pred_segmentations=None):
    mask = np.zeros((20, 30), bool)
    mask[4:12, 5:15] = True
    segs = [_rle(mask), None, _rle(mask)]
    gt = {
        "videos": [{"id": 1, "height": 20, "width": 30, "length": 3, "file_names": [f"v/{t}.jpg" for t in range(3)]}],
        "categories": [{"id": 2, "name": "violin"}],
        "annotations": [{"id": 1, "video_id": 1, "category_id": 2, "segmentations": segs}],
    }
    preds = [{"video_id": 1, "score": 0.9, "category_id": 2,
              "segmentations": segs if pred_segmentations is None else pred_segmentations}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "results.json").write_text(json.dumps(preds))
    return str(tmp_path / "gt.json"), str(tmp_path / "results.json")


def test_writes_metrics_in_percent(tmp_path, capsys):
    gt, pred = _files(tmp_path)
    out = tmp_path / "metrics.json"
    assert _run("--gt-json", gt, "--pred-json", pred, "--output", str(out)) == 0
    metrics = json.loads(out.read_text())
    assert metrics["FSLA"] == 100.0 and metrics["HOTA"] == 100.0 and metrics["mAP"] == 100.0
    assert (metrics["frames_n"], metrics["frames_s"], metrics["frames_m"]) == (1, 2, 0)
    assert metrics["FAm"] is None
    assert "FSLA=100.00 HOTA=100.00 mAP=100.00" in capsys.readouterr().out


def test_bad_prediction_is_one_error_line(tmp_path, capsys):
    gt, pred = _files(tmp_path, pred_segmentations=[None, None])
    assert _run("--gt-json", gt, "--pred-json", pred) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "results.json[0]" in err[0] and "3 frames" in err[0]
    assert not (tmp_path / "avis_metrics.json").exists()


def test_missing_file_is_an_error(tmp_path, capsys):
    gt, _ = _files(tmp_path)
    assert _run("--gt-json", gt, "--pred-json", str(tmp_path / "nope.json")) == 2
    assert "Predictions file not found" in capsys.readouterr().err


def test_avis_needs_both_json_files(tmp_path, capsys):
    gt, _ = _files(tmp_path)
    assert _run("--gt-json", gt) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --setting avis needs --pred-json"]
