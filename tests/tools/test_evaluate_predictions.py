"""tools/evaluate_predictions.py on synthetic ground truth: every setting, perfect, partial and
missing predictions, and its CLI errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import evaluation_window
from ov_avss.config import get_cfg
from ov_avss.data.catalog import get_dataset_records
from ov_avss.data.image_io import read_binary_mask
from ov_avss.data.synthetic import make_synthetic_avsbench, make_synthetic_avsbench_object
from ov_avss.evaluation.binary_evaluator import BinaryAVSEvaluator
from ov_avss.evaluation.export import export_probabilities

from tool_loader import load_tool


@pytest.fixture(scope="module")
def datasets_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gt")
    make_synthetic_avsbench(str(root), seed=2, num_train_videos=2, num_val_videos=0, num_test_videos=5, size=(56, 56))  # 224 = 4 x 56: both resizes agree
    make_synthetic_avsbench_object(str(root), seed=2, videos_per_split=5, size=(40, 56))
    return root


def _copy_gt_as_predictions(gt_root: Path, pred_root: Path) -> None:
    for mask in gt_root.glob("*/*/labels_rgb/*.png"):
        uid = mask.parent.parent.name
        (pred_root / uid).mkdir(parents=True, exist_ok=True)
        shutil.copy(mask, pred_root / uid / mask.name)


def _run(*args: str) -> int:
    return load_tool("evaluate_predictions").main(list(args))


@pytest.mark.parametrize("setting", ["avsbench_ov", "avss"])
def test_perfect_semantic_predictions_score_one(datasets_root, tmp_path, setting):
    _copy_gt_as_predictions(datasets_root / "AVSBench-semantic", tmp_path / "pred")
    output = tmp_path / "metrics.json"
    assert _run("--setting", setting, "--gt-root", str(datasets_root), "--pred-root", str(tmp_path / "pred"),
                "--output", str(output)) == 0
    metrics = json.loads(output.read_text())
    expected_protocol = {"avsbench_ov": "ov_avss", "avss": "avsbench_avss"}[setting]
    assert metrics["setting"] == setting and metrics["protocol"] == expected_protocol
    if setting == "avsbench_ov":
        assert metrics["mIoU"] == pytest.approx(1.0) and metrics["mIoU_base"] == pytest.approx(1.0)
        assert metrics["F_score"] == pytest.approx(1.0)
        assert {"mIoU_novel", "mIoU_harmonic"} <= set(metrics)
    else:
        # AVSBench averages over all 71 labels: the labels that never occur count 0.
        occurring = len(metrics["per_class"])
        assert occurring < 71
        assert metrics["mIoU"] == pytest.approx(occurring / 71) and metrics["F_score"] == pytest.approx(occurring / 71)
        assert metrics["ov_avss"]["mIoU"] == pytest.approx(1.0)
    assert all(v["iou"] == pytest.approx(1.0) for v in metrics["per_class"].values())
    assert (tmp_path / "metrics_per_class.png").is_file()


def test_missing_predictions_error_unless_allowed(datasets_root, tmp_path, capsys):
    _copy_gt_as_predictions(datasets_root / "AVSBench-semantic", tmp_path / "pred")
    removed = sorted((tmp_path / "pred").glob("*/0.png"))[0]
    removed.unlink()
    output = tmp_path / "metrics.json"
    args = ["--setting", "avsbench_ov", "--gt-root", str(datasets_root / "AVSBench-semantic"),
            "--pred-root", str(tmp_path / "pred"), "--output", str(output)]
    assert _run(*args) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: 1 prediction files are missing") and str(removed) in error[0]
    assert not output.exists()
    assert _run(*args, "--allow-missing") == 0
    metrics = json.loads(output.read_text())
    assert metrics["num_missing_predictions"] == 1 and metrics["mIoU"] == pytest.approx(1.0)


def test_wrong_predictions_lower_the_score(datasets_root, tmp_path):
    _copy_gt_as_predictions(datasets_root / "AVSBench-semantic", tmp_path / "pred")
    # Every prediction becomes the same frame of one window: right for that frame only.
    single = next((datasets_root / "AVSBench-semantic").glob("*/*/labels_rgb/0.png"))
    for path in (tmp_path / "pred").glob("*/*.png"):
        shutil.copy(single, path)
    metrics = load_tool("evaluate_predictions").evaluate_predictions(
        "avsbench_ov", str(datasets_root), str(tmp_path / "pred")
    )
    assert 0.0 <= metrics["mIoU"] < 1.0 and 0.0 <= metrics["F_score"] < 1.0


@pytest.mark.parametrize("setting", ["s4", "ms3"])
def test_binary_settings_equal_the_evaluator(datasets_root, tmp_path, setting):
    """Grey PNGs written by the export are scored as the evaluator scores the probabilities."""
    records = get_dataset_records(f"avsbench_{setting}_test", _cfg(datasets_root))
    evaluator = BinaryAVSEvaluator(f"avsbench_{setting}_test")
    generator = torch.Generator().manual_seed(3)
    for record in records:
        gt = torch.from_numpy(np.stack([read_binary_mask(p) for p in record["mask_paths"]]))
        # Probabilities on the 1/255 grid, so the PNGs hold them exactly.
        prob = torch.randint(0, 256, gt.shape, generator=generator).float() / 255
        prob = torch.where(gt > 0, prob.clamp(min=0.3), prob * 0.6)
        export_probabilities(str(tmp_path / "pred"), record["uid"], range(len(gt)), prob)
        window = evaluation_window(
            record["uid"], gt, frame_indices=range(len(gt)), vocabulary=["sounding object"],
            dataset_name=f"avsbench_{setting}_test",
        )
        evaluator.process([window], [{"sounding_prob": prob}])
    expected = evaluator.evaluate()["binary_avs"]
    output = tmp_path / "metrics.json"
    assert _run("--setting", setting, "--gt-root", str(datasets_root / "AVSBench-object"),
                "--pred-root", str(tmp_path / "pred"), "--output", str(output)) == 0
    metrics = json.loads(output.read_text())
    assert metrics["protocol"] == "avsbench_binary"
    for key in ("mIoU", "F_score", "mIoU_pooled", "F_score_pooled"):
        assert metrics[key] == pytest.approx(expected[key], abs=1e-9)
    assert 0.0 < metrics["mIoU"] < 1.0


def _cfg(root: Path):
    cfg = get_cfg()
    cfg.DATASETS.ROOT = str(root)
    return cfg


def test_cli_errors_are_one_line_and_exit_2(datasets_root, tmp_path, capsys):
    common = ["--pred-root", str(tmp_path), "--output", str(tmp_path / "m.json")]
    assert _run("--setting", "s4", "--gt-root", str(tmp_path / "nowhere"), *common) == 2
    assert capsys.readouterr().err.strip().startswith("error: No AVSBench-object folder")
    assert _run("--setting", "ms3", "--gt-root", str(datasets_root), "--batch-clips", "0", *common) == 2
    assert "--batch-clips must be >= 1" in capsys.readouterr().err


def test_released_label_numbering_scores_the_same(datasets_root, tmp_path):
    """A root whose label2idx.json numbers from 1, as released, is accepted and re-scores like the
    0-based one."""
    released = tmp_path / "released"
    shutil.copytree(datasets_root / "AVSBench-semantic", released / "AVSBench-semantic")
    label_file = released / "AVSBench-semantic" / "label2idx.json"
    labels = json.loads(label_file.read_text())
    label_file.write_text(json.dumps({name: index + 1 for name, index in labels.items()}))
    _copy_gt_as_predictions(datasets_root / "AVSBench-semantic", tmp_path / "pred")
    # Every prediction one window's first frame, so the scores lie strictly between 0 and 1 and the
    # equality below is not that of two perfect (or two empty) results.
    single = next((datasets_root / "AVSBench-semantic").glob("*/*/labels_rgb/0.png"))
    for path in (tmp_path / "pred").glob("*/*.png"):
        shutil.copy(single, path)
    tool = load_tool("evaluate_predictions")
    for setting in ("avsbench_ov", "avss"):
        original = tool.evaluate_predictions(setting, str(datasets_root), str(tmp_path / "pred"))
        assert 0.0 < original["mIoU"] < 1.0
        assert tool.evaluate_predictions(setting, str(released), str(tmp_path / "pred")) == original


def test_soft_binary_masks_warn_once_per_file(tmp_path, caplog):
    """The release reads MS3 masks as soft values: a mask with values other than 0 / 255 is
    thresholded at > 127 and reported once per file (the tool and the loaders read masks so)."""
    import cv2

    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[0, :2] = 255
    mask[1, 0], mask[1, 1] = 128, 127
    soft, clean = str(tmp_path / "soft.png"), str(tmp_path / "clean.png")
    cv2.imwrite(soft, mask)
    cv2.imwrite(clean, np.where(mask > 127, 255, 0).astype(np.uint8))
    with caplog.at_level("WARNING", logger="ov_avss.data.image_io"):
        for _ in range(2):
            assert read_binary_mask(soft).tolist() == (mask > 127).astype(np.int64).tolist()
            assert read_binary_mask(clean).tolist() == (mask > 127).astype(np.int64).tolist()
    warned = [r.getMessage() for r in caplog.records if "values other than" in r.getMessage()]
    assert len(warned) == 1 and soft in warned[0] and "2 pixels" in warned[0]
