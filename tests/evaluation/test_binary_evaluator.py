"""BinaryAVSEvaluator (S4 / MS3, protocol avsbench_binary) on hand-computed frames."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import evaluation_window
from ov_avss.config import get_cfg
from ov_avss.evaluation import BinaryAVSEvaluator, build_evaluator
from ov_avss.evaluation.export import read_probability_png


def _window(uid, gt, prob):
    window = evaluation_window(uid, gt, frame_indices=range(len(gt)), vocabulary=["sounding object"], dataset_name="avsbench_s4_test")
    return window, {"sounding_prob": prob}


def test_jaccard_and_max_f(tmp_path):
    evaluator = build_evaluator(get_cfg(), "avsbench_s4_test", str(tmp_path))
    assert isinstance(evaluator, BinaryAVSEvaluator)
    gt = torch.zeros(3, 2, 2, dtype=torch.int64)
    gt[0, 0, :] = 1  # frame 0: two positive pixels, predicted exactly with probability 0.9
    gt[2, 0, 0] = 1  # frame 2: one positive pixel, 0.6 predicted everywhere
    prob = torch.zeros(3, 2, 2)
    prob[0, 0, :] = 0.9
    prob[2] = 0.6
    prob[1, 1, 1] = 0.7  # frame 1: empty ground truth, one of 4 pixels predicted
    evaluator.process(*map(list, zip(_window("a", gt, prob))))
    results = evaluator.evaluate()["binary_avs"]
    assert results["protocol"] == "avsbench_binary" and results["num_frames"] == 3
    # The empty frame scores its true-negative fraction, 3/4.
    assert results["mIoU"] == pytest.approx((1.0 + 0.75 + 0.25) / 3)
    f_frame2 = 1.3 * 0.25 * 1.0 / (0.3 * 0.25 + 1.0)
    # The empty frame is left out of F; at thresholds <= 0.6 frame 0 scores 1.
    assert results["F_score"] == pytest.approx((1.0 + f_frame2) / 2)
    # One window is one batch: the pooled values are the same hand-computed numbers.
    assert results["mIoU_pooled"] == pytest.approx((1.0 + 0.75 + 0.25) / 3)
    assert results["F_score_pooled"] == pytest.approx((1.0 + f_frame2) / 2)
    assert (tmp_path / "binary_metrics.json").is_file()


def test_batches_of_windows_and_pooled_variant(tmp_path):
    cfg = get_cfg()
    cfg.TEST.AVSBENCH_BINARY_BATCH_CLIPS = 1
    evaluator = BinaryAVSEvaluator("avsbench_s4_test", cfg, str(tmp_path))
    positive = torch.ones(1, 2, 2, dtype=torch.int64)
    # Window a is right at thresholds <= 0.3, window b only at thresholds > 0.3: per window both reach
    # F = 1, pooled no threshold serves both.
    for uid, value in (("a", 0.3), ("b", 0.9)):
        prob = torch.full((1, 2, 2), value)
        prob[0, 0, 0] = 0.2 if uid == "a" else 0.35
        gt = positive.clone()
        gt[0, 0, 0] = 0
        evaluator.process(*map(list, zip(_window(uid, gt, prob))))
    results = evaluator.evaluate()["binary_avs"]
    assert results["F_score"] == pytest.approx(1.0)
    assert results["F_score_pooled"] < 0.99
    assert results["batch_clips"] == 1 and results["num_clips"] == 2


def test_unannotated_frames_are_skipped(tmp_path):
    evaluator = BinaryAVSEvaluator("avsbench_s4_train", get_cfg(), str(tmp_path))
    gt = torch.full((2, 2, 2), 255, dtype=torch.int64)
    gt[0] = torch.tensor([[1, 0], [0, 0]])
    prob = torch.tensor([[[0.7, 0.2], [0.1, 0.4]], [[1.0, 1.0], [1.0, 1.0]]])
    evaluator.process(*map(list, zip(_window("a", gt, prob))))
    results = evaluator.evaluate()["binary_avs"]
    assert results["mIoU"] == pytest.approx(1.0) and results["F_score"] == pytest.approx(1.0)
    assert results["num_frames"] == 1


def test_export_writes_grey_probability_pngs(tmp_path):
    cfg = get_cfg()
    cfg.TEST.EXPORT_PREDICTIONS = True
    evaluator = BinaryAVSEvaluator("avsbench_ms3_test", cfg, str(tmp_path))
    prob = torch.rand(2, 5, 7, generator=torch.Generator().manual_seed(0))
    window, output = _window("clip", torch.zeros(2, 5, 7, dtype=torch.int64), prob)
    window["frame_indices"] = [3, 4]
    evaluator.process([window], [output])
    for slot, frame in enumerate((3, 4)):
        written = read_probability_png(str(tmp_path / "predictions" / "clip" / f"{frame}.png"))
        assert np.abs(written - prob[slot].numpy()).max() <= 0.5 / 255 + 1e-6


def test_batch_size_must_be_positive(tmp_path):
    cfg = get_cfg()
    cfg.TEST.AVSBENCH_BINARY_BATCH_CLIPS = 0
    with pytest.raises(ValueError, match="AVSBENCH_BINARY_BATCH_CLIPS"):
        BinaryAVSEvaluator("avsbench_s4_test", cfg, str(tmp_path))


def test_shape_errors_name_the_window(tmp_path):
    evaluator = BinaryAVSEvaluator("avsbench_s4_test", get_cfg(), str(tmp_path))
    window, output = _window("clip_x", torch.zeros(2, 4, 4, dtype=torch.int64), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match=r"Window clip_x: sounding_prob \(2, 4, 5\) and sem_seg_gt \(2, 4, 4\)"):
        evaluator.process([window], [output])
