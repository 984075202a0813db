"""tools/evaluate_predictions.py on synthetic ground truth: perfect, partial and missing predictions."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ov_avss.data.synthetic import make_synthetic_avsbench

from tool_loader import load_tool


@pytest.fixture(scope="module")
def ground_truth(tmp_path_factory):
    root = tmp_path_factory.mktemp("gt")
    make_synthetic_avsbench(str(root), seed=2, num_train_clips=2, num_val_clips=0, num_test_clips=5, size=(48, 48))
    return root / "AVSBench-semantic"


def _copy_gt_as_predictions(gt_root: Path, pred_root: Path) -> None:
    for mask in gt_root.glob("*/*/labels_rgb/*.png"):
        uid = mask.parent.parent.name
        (pred_root / uid).mkdir(parents=True, exist_ok=True)
        shutil.copy(mask, pred_root / uid / mask.name)


def test_perfect_predictions_score_one(ground_truth, tmp_path):
    _copy_gt_as_predictions(ground_truth, tmp_path / "pred")
    output = tmp_path / "metrics.json"
    assert load_tool("evaluate_predictions").main(["--gt-root", str(ground_truth.parent), "--pred-root", str(tmp_path / "pred"), "--output", str(output)]) == 0
    metrics = json.loads(output.read_text())
    assert metrics["mIoU"] == pytest.approx(1.0) and metrics["F_score"] == pytest.approx(1.0)
    assert metrics["mIoU_base"] == pytest.approx(1.0)
    assert all(v["iou"] == pytest.approx(1.0) for v in metrics["per_class"].values())
    assert (tmp_path / "metrics_per_class.png").is_file()


def test_missing_predictions_error_unless_allowed(ground_truth, tmp_path, capsys):
    _copy_gt_as_predictions(ground_truth, tmp_path / "pred")
    removed = sorted((tmp_path / "pred").glob("*/0.png"))[0]
    removed.unlink()
    output = tmp_path / "metrics.json"
    args = ["--gt-root", str(ground_truth), "--pred-root", str(tmp_path / "pred"), "--output", str(output)]
    assert load_tool("evaluate_predictions").main(args) == 1
    error = capsys.readouterr().err
    assert "1 prediction files are missing" in error and str(removed) in error
    assert not output.exists()
    assert load_tool("evaluate_predictions").main([*args, "--allow-missing"]) == 0
    metrics = json.loads(output.read_text())
    assert metrics["num_missing_predictions"] == 1 and metrics["mIoU"] == pytest.approx(1.0)


def test_wrong_predictions_lower_the_score(ground_truth, tmp_path):
    _copy_gt_as_predictions(ground_truth, tmp_path / "pred")
    # Every prediction becomes the same frame of one clip: right for that frame only.
    single = next(ground_truth.glob("*/*/labels_rgb/0.png"))
    for path in (tmp_path / "pred").glob("*/*.png"):
        shutil.copy(single, path)
    metrics = load_tool("evaluate_predictions").evaluate_predictions(str(ground_truth), str(tmp_path / "pred"))
    assert 0.0 <= metrics["mIoU"] < 1.0 and 0.0 <= metrics["F_score"] < 1.0
