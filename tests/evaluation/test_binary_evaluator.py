"""BinaryAVSEvaluator (S4 / MS3) on hand-computed frames."""
from __future__ import annotations

import pytest
import torch

from ov_avss.config import get_cfg
from ov_avss.evaluation import BinaryAVSEvaluator, build_evaluator


def test_jaccard_and_max_f(tmp_path):
    evaluator = build_evaluator(get_cfg(), "avsbench_s4_test", str(tmp_path))
    assert isinstance(evaluator, BinaryAVSEvaluator)
    gt = torch.zeros(3, 2, 2, dtype=torch.int64)
    gt[0, 0, :] = 1  # frame 0: two positive pixels, predicted exactly with probability 0.9
    gt[2, 0, 0] = 1  # frame 2: one positive pixel, 0.6 predicted everywhere
    prob = torch.zeros(3, 2, 2)
    prob[0, 0, :] = 0.9
    prob[2] = 0.6
    # Frame 1: empty ground truth and empty prediction.
    evaluator.process([{"sem_seg_gt": gt}], [{"sounding_prob": prob}])
    results = evaluator.evaluate()["binary_avs"]
    assert results["num_frames"] == 3
    assert results["mIoU"] == pytest.approx((1.0 + 1.0 + 0.25) / 3)
    f_frame2 = 1.3 * 0.25 * 1.0 / (0.3 * 0.25 + 1.0)
    # At thresholds <= 0.6 frame 0 scores 1 and frame 2 f_frame2; empty ground truth scores 0.
    assert results["F_score"] == pytest.approx((1.0 + 0.0 + f_frame2) / 3)
    assert (tmp_path / "binary_metrics.json").is_file()


def test_unannotated_frames_are_skipped(tmp_path):
    evaluator = BinaryAVSEvaluator("avsbench_s4_train", get_cfg(), str(tmp_path))
    gt = torch.full((2, 2, 2), 255, dtype=torch.int64)
    gt[0] = torch.tensor([[1, 0], [0, 0]])
    prob = torch.tensor([[[0.7, 0.2], [0.1, 0.4]], [[1.0, 1.0], [1.0, 1.0]]])
    evaluator.process([{"sem_seg_gt": gt}], [{"sounding_prob": prob}])
    results = evaluator.evaluate()["binary_avs"]
    assert results == {"mIoU": pytest.approx(1.0), "F_score": pytest.approx(1.0), "num_frames": 1}
