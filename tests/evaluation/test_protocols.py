"""Each evaluation protocol equals an independent per-frame implementation of its published
definition (docs/evaluation.md), written here in plain numpy, on fabricated data with the hard
cases: empty ground-truth frames, classes absent from the ground truth, stray label-noise
pixels, 5- and 10-frame windows and masks of mixed sizes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers import evaluation_window
from ov_avss.config import get_cfg
from ov_avss.data.categories import BASE_CATEGORIES, CATEGORIES, CATEGORY_TO_INDEX, NOVEL_CATEGORIES
from ov_avss.evaluation import AVSSEvaluator, BinaryAVSEvaluator

N = 71
BETA2 = 0.3


# ---------------------------------------------------------------------------------------------
# Fabricated semantic windows
# ---------------------------------------------------------------------------------------------
def semantic_windows(seed: int = 0) -> list[dict]:
    """Windows in the 71-label space: ``gt`` / ``pred`` int64 [T, H, W] of one size per window."""
    rng = np.random.default_rng(seed)
    specs = [(5, 60, 80), (10, 224, 224), (5, 100, 150), (10, 48, 64), (5, 300, 224)]
    windows = []
    for index, (frames, height, width) in enumerate(specs):
        sounding = sorted(rng.choice(np.arange(1, N), size=int(rng.integers(1, 4)), replace=False).tolist())
        gt = np.zeros((frames, height, width), dtype=np.int64)
        pred = np.zeros_like(gt)
        for t in range(frames):
            if t % 4 == 3:
                continue  # an empty (all-background) ground-truth frame
            for label in sounding:
                top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
                gt[t, top : top + height // 3, left : left + width // 3] = label
            # Stray label-noise pixels of a category that does not sound in the window.
            noise = int(rng.integers(1, N))
            gt[t, rng.integers(0, height, 6), rng.integers(0, width, 6)] = noise
        for t in range(frames):
            pred[t] = np.where(rng.random((height, width)) < 0.8, gt[t], 0)
            # A predicted class absent from the ground truth.
            absent = int(rng.integers(1, N))
            top, left = rng.integers(0, height - 8), rng.integers(0, width - 8)
            pred[t, top : top + 8, left : left + 8] = absent
        windows.append({
            "uid": f"clip{index}",
            "gt": gt,
            "pred": pred,
            "sounding": [CATEGORIES[k - 1] for k in sounding],
        })
    return windows


def _resize_gt(frame: np.ndarray) -> np.ndarray:
    # The releases: PIL Image.resize((224, 224), Image.NEAREST) of the ground truth.
    return np.asarray(Image.fromarray(frame.astype(np.uint8)).resize((224, 224), Image.NEAREST)).astype(np.int64)


def _resize_pred(frame: np.ndarray) -> np.ndarray:
    # The OV-AVSS release: torch.nn.Upsample(size=(224, 224), mode="nearest") of the prediction.
    tensor = torch.from_numpy(frame)[None, None].float()
    return F.interpolate(tensor, size=(224, 224), mode="nearest")[0, 0].long().numpy()


def _frame_areas(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(intersection, predicted, ground-truth) pixel counts per label of one frame."""
    inter = np.bincount(pred[pred == gt], minlength=N)[:N].astype(np.float64)
    area_pred = np.bincount(pred.ravel(), minlength=N)[:N].astype(np.float64)
    area_gt = np.bincount(gt.ravel(), minlength=N)[:N].astype(np.float64)
    return inter, area_pred, area_gt


def _frame_f(inter, area_pred, area_gt) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = inter / area_pred, inter / area_gt
        f = (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
    return np.nan_to_num(f, nan=0.0)


def reference_ov_avss(windows) -> dict[str, float]:
    """AVSBench-OV: label noise -> background, one confusion matrix, nanmean IoU (OV-AVSS release
    ``scores_gzsl``); F per class and frame averaged over its frames, then over occurring classes."""
    hist = np.zeros((N, N))
    f_sum, frames = np.zeros(N), np.zeros(N)
    base = [CATEGORY_TO_INDEX[n] for n in BASE_CATEGORIES]
    novel = [CATEGORY_TO_INDEX[n] for n in NOVEL_CATEGORIES]
    for window in windows:
        keep = [0, *(CATEGORY_TO_INDEX[n] for n in window["sounding"])]
        for gt_frame, pred_frame in zip(window["gt"], window["pred"]):
            gt = _resize_gt(gt_frame)
            gt[~np.isin(gt, keep)] = 0
            pred = _resize_pred(pred_frame)
            hist += np.bincount(N * gt.ravel() + pred.ravel(), minlength=N * N).reshape(N, N)
            inter, area_pred, area_gt = _frame_areas(pred, gt)
            union = area_pred + area_gt - inter
            f_sum += _frame_f(inter, area_pred, area_gt)
            frames += union > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.diag(hist) / (hist.sum(axis=1) + hist.sum(axis=0) - np.diag(hist))
    seen, unseen = np.nanmean(iou[base]), np.nanmean(iou[novel])
    f_class = f_sum[frames > 0] / frames[frames > 0]
    return {
        "mIoU": float(np.nanmean(iou)),
        "mIoU_base": float(seen),
        "mIoU_novel": float(unseen),
        "mIoU_harmonic": float(2 / (1 / seen + 1 / unseen)),
        "F_score": float(f_class.mean()),
    }


def reference_avsbench_avss(windows) -> dict[str, float]:
    """AVSBench AVSS (``compute_color_metrics.py`` + ``test.py``): per-frame IoU and F per class
    summed over frames, divided by the frames where the class occurs, mean over all 71 labels."""
    ious, fscores, counts = np.zeros(N), np.zeros(N), np.zeros(N)
    for window in windows:
        for gt_frame, pred_frame in zip(window["gt"], window["pred"]):
            gt, pred = _resize_gt(gt_frame), _resize_pred(pred_frame)
            inter, area_pred, area_gt = _frame_areas(pred, gt)
            union = area_pred + area_gt - inter
            ious += inter / (2.220446049250313e-16 + union)
            counts[union > 0] += 1
            fscores += _frame_f(inter, area_pred, area_gt)
    with np.errstate(divide="ignore", invalid="ignore"):
        miou, f = ious / counts, fscores / counts
    return {"mIoU": float(np.nan_to_num(miou).mean()), "F_score": float(np.nan_to_num(f).mean())}


def _run_semantic(dataset_name: str, windows, tmp_path) -> dict:
    evaluator = AVSSEvaluator(dataset_name, get_cfg(), str(tmp_path))
    evaluator.reset()
    for window in windows:
        inputs = evaluation_window(
            window["uid"], torch.from_numpy(window["gt"]), frame_indices=range(len(window["gt"])),
            vocabulary=CATEGORIES, sounding_categories=window["sounding"], dataset_name=dataset_name,
        )
        evaluator.process([inputs], [{"sem_seg": torch.from_numpy(window["pred"])}])
    return evaluator.evaluate()


def test_ov_avss_equals_the_published_definition(tmp_path):
    windows = semantic_windows(0)
    results = _run_semantic("avsbench_ov_test", windows, tmp_path)["sem_seg"]
    assert results["protocol"] == "ov_avss"
    expected = reference_ov_avss(windows)
    for key, value in expected.items():
        assert results[key] == pytest.approx(value, abs=1e-4), key


def test_avsbench_avss_equals_the_published_definition(tmp_path):
    windows = semantic_windows(1)
    results = _run_semantic("avsbench_semantic_test", windows, tmp_path)
    assert results["sem_seg"]["protocol"] == "avsbench_avss"
    expected = reference_avsbench_avss(windows)
    for key, value in expected.items():
        assert results["sem_seg"][key] == pytest.approx(value, abs=1e-4), key
    # The OV-AVSS definition is reported beside it, and differs.
    ov = reference_ov_avss(windows)
    assert results["sem_seg_ov_avss"]["mIoU"] == pytest.approx(ov["mIoU"], abs=1e-4)
    assert abs(results["sem_seg_ov_avss"]["mIoU"] - results["sem_seg"]["mIoU"]) > 1e-3


# ---------------------------------------------------------------------------------------------
# S4 / MS3
# ---------------------------------------------------------------------------------------------
def binary_windows(seed: int) -> list[dict]:
    """Thirteen 5-frame windows (batches of 4, 4, 4, 1), 224x224 and smaller sizes, with empty
    frames; the second batch (windows 4-7) has empty ground truth in every frame, so its F is 0 and
    counts in the mean."""
    rng = np.random.default_rng(seed)
    windows = []
    for index in range(13):
        height, width = (224, 224) if index % 3 else (96, 128)
        gt = np.zeros((5, height, width), dtype=np.int64)
        for t in range(5):
            if (index + t) % 3 == 0 or 4 <= index < 8:
                continue  # empty ground truth
            top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
            gt[t, top : top + height // 3, left : left + width // 4] = 1
        logits = rng.normal(size=gt.shape) + 2.5 * (gt - 0.5) * rng.random()
        probabilities = torch.sigmoid(torch.from_numpy(logits).float()).numpy()
        windows.append({"uid": f"clip{index}", "gt": gt, "prob": probabilities})
    return windows


def _mask_iou(probs, gts) -> float:
    """AVSBench ``mask_iou`` of one batch of frames: mean Jaccard, an empty ground truth scoring
    its true-negative fraction."""
    total = 0.0
    for prob, gt in zip(probs, gts):
        p, g = (prob > 0.5).astype(np.float64), gt.astype(np.float64)
        if g.sum() == 0:
            total += ((1 - g) * (1 - p)).sum() / (p.size + 1e-7)
        else:
            total += (p * g).sum() / (np.maximum(p, g).sum() + 1e-7)
    return total / len(gts)


def _eval_fmeasure(probs, gts) -> float:
    """AVSBench ``Eval_Fmeasure`` of one batch of frames: frames with empty ground truth skipped,
    the F curve averaged over the others, its maximum over the 255 thresholds."""
    thresholds = torch.linspace(0, 1 - 1e-10, 255).numpy()  # the release's float32 thresholds
    score, count = np.zeros(255), 0
    for p, g in zip(probs, gts):
        g = g.astype(np.float32)
        if g.mean() == 0:
            continue
        precision, recall = np.zeros(255), np.zeros(255)
        for i, threshold in enumerate(thresholds):
            y = (p >= threshold).astype(np.float32)
            tp = (y * g).sum()
            precision[i], recall[i] = tp / (y.sum() + 1e-20), tp / (g.sum() + 1e-20)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
        score += np.nan_to_num(f, nan=0.0)
        count += 1
    return float((score / count).max()) if count else 0.0


def reference_binary(windows, batch_windows: int) -> tuple[float, float]:
    """AVSBench test.py: per batch of ``batch_windows`` windows, then the mean of the batch values."""
    mious, fs = [], []
    for start in range(0, len(windows), batch_windows):
        batch = windows[start : start + batch_windows]
        probs = [frame for window in batch for frame in window["prob"]]
        gts = [frame for window in batch for frame in window["gt"]]
        mious.append(_mask_iou(probs, gts))
        fs.append(_eval_fmeasure(probs, gts))
    return float(np.mean(mious)), float(np.mean(fs))


@pytest.mark.parametrize("dataset_name", ["avsbench_s4_test", "avsbench_ms3_test"])
def test_avsbench_binary_equals_the_published_definition(tmp_path, dataset_name):
    windows = binary_windows(2)
    evaluator = BinaryAVSEvaluator(dataset_name, get_cfg(), str(tmp_path))
    for window in windows:
        evaluator.process(
            [
                evaluation_window(
                    window["uid"], torch.from_numpy(window["gt"]), frame_indices=range(len(window["gt"])),
                    vocabulary=["sounding object"], dataset_name=dataset_name,
                )
            ],
            [{"sounding_prob": torch.from_numpy(window["prob"])}],
        )
    results = evaluator.evaluate()["binary_avs"]
    assert results["num_clips"] == 13
    miou, f_score = reference_binary(windows, 4)
    assert results["mIoU"] == pytest.approx(miou, abs=1e-4)
    assert results["F_score"] == pytest.approx(f_score, abs=1e-4)
    pooled_miou, pooled_f = reference_binary(windows, len(windows))
    assert results["mIoU_pooled"] == pytest.approx(pooled_miou, abs=1e-4)
    assert results["F_score_pooled"] == pytest.approx(pooled_f, abs=1e-4)
