"""SemSegAccumulator: the vectorised per-frame counting equals a per-frame ``torch.histc`` loop
(the release's way of counting) to 1e-12, and labels out of range are refused."""
from __future__ import annotations

import pytest
import torch

from ov_avss.evaluation.semseg_accumulator import SemSegAccumulator

N = 71
BETA2 = 0.3  # beta^2 of the F-measure (docs/evaluation.md)


def test_accumulator_equals_per_frame_histc_loop():
    generator = torch.Generator().manual_seed(0)
    gt = torch.randint(0, 6, (12, 224, 224), generator=generator)
    pred = torch.randint(0, 6, (12, 224, 224), generator=generator)
    gt[3] = 0
    gt[5, :50] = 255  # partly ignored frame
    gt[7] = 255  # frame without ground truth
    accumulator = SemSegAccumulator(N)
    accumulator.update(pred[:6], gt[:6])
    accumulator.update(pred[6:], gt[6:])

    confusion = torch.zeros(N, N, dtype=torch.float64)
    iou_sum, f_sum, frames = torch.zeros(N, dtype=torch.float64), torch.zeros(N, dtype=torch.float64), torch.zeros(N)
    for t in range(len(gt)):
        valid = gt[t] != 255
        g, p = gt[t][valid].double() + 1, pred[t][valid].double() + 1
        inter = torch.histc(p * (p == g), bins=N, min=1, max=N).double()
        area_pred = torch.histc(p, bins=N, min=1, max=N).double()
        area_gt = torch.histc(g, bins=N, min=1, max=N).double()
        union = area_pred + area_gt - inter
        iou_sum += torch.where(union > 0, inter / union, 0.0)
        precision, recall = inter / area_pred, inter / area_gt
        f = (1 + BETA2) * precision * recall / (BETA2 * precision + recall)
        f_sum += torch.nan_to_num(f, nan=0.0)
        frames += union > 0
        for row in range(N):
            confusion[row] += torch.histc(p[g == row + 1], bins=N, min=1, max=N).double()
    assert torch.equal(accumulator.confusion.double(), confusion)
    assert torch.equal(accumulator.f_frames.double(), frames.double())
    assert torch.allclose(accumulator.iou_sum, iou_sum, rtol=0, atol=1e-12)
    assert torch.allclose(accumulator.f_sum, f_sum, rtol=0, atol=1e-12)


def test_out_of_range_labels_are_refused():
    accumulator = SemSegAccumulator(N)
    good = torch.zeros(1, 4, 4, dtype=torch.int64)
    # 924 and 1847 times 71 wrap around to background keys in int16 (924 * 71 = 65604 = 68).
    for bad_gt in (-1, 71, 300, 924, 1847):
        with pytest.raises(ValueError, match="ground-truth labels"):
            accumulator.update(good, torch.full((1, 4, 4), bad_gt))
    with pytest.raises(ValueError, match="prediction labels"):
        accumulator.update(torch.full((1, 4, 4), 71), good)
