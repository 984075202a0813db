"""The running state of semantic scoring: a confusion matrix and per-class sums of per-frame IoU
and F, from which every semantic protocol (``semantic_protocols``) computes its metrics."""
from __future__ import annotations

import torch

from ..utils import comm
from .confusion import frame_confusions
from .evaluator import F_BETA_SQUARED


class SemSegAccumulator:
    """Accumulates, in a label space of ``num_labels`` labels, the confusion matrix and the per-class sums of
    per-frame IoU and F over the frames where each class occurs.

    All state is four tensors on one device; ``all_reduce`` sums them over ranks with a single
    collective.
    """

    def __init__(self, num_labels: int, device: torch.device | str = "cpu"):
        self.num_labels = num_labels
        self.device = torch.device(device)
        self.confusion = torch.zeros((num_labels, num_labels), dtype=torch.int64, device=self.device)
        self.f_sum = torch.zeros(num_labels, dtype=torch.float64, device=self.device)
        self.iou_sum = torch.zeros(num_labels, dtype=torch.float64, device=self.device)
        self.f_frames = torch.zeros(num_labels, dtype=torch.int64, device=self.device)

    def to(self, device: torch.device | str) -> "SemSegAccumulator":
        device = torch.device(device)
        self.device = device
        self.confusion, self.f_sum, self.iou_sum, self.f_frames = (
            t.to(device) for t in (self.confusion, self.f_sum, self.iou_sum, self.f_frames)
        )
        return self

    def update(self, prediction: torch.Tensor, ground_truth: torch.Tensor) -> None:
        """Add frames: ``prediction`` and ``ground_truth`` int ``[T, H, W]`` in label space
        (ground truth ``IGNORE_LABEL`` = ignored), already at evaluation size."""
        self.add_frame_confusions(frame_confusions(prediction.to(self.device), ground_truth.to(self.device), self.num_labels))

    def add_frame_confusions(self, per_frame: torch.Tensor) -> None:
        """Add per-frame confusion matrices int64 ``[T, n, n]`` (row = ground truth, column =
        prediction)."""
        n = self.num_labels
        if per_frame.ndim != 3 or tuple(per_frame.shape[1:]) != (n, n):
            raise ValueError(f"per-frame confusions must be [T, {n}, {n}], got {tuple(per_frame.shape)}")
        per_frame = per_frame.to(self.device)
        self.confusion += per_frame.sum(dim=0)
        true_positive = per_frame.diagonal(dim1=1, dim2=2).double()
        gt_pixels = per_frame.sum(dim=2).double()
        predicted_pixels = per_frame.sum(dim=1).double()
        union = gt_pixels + predicted_pixels - true_positive
        precision = true_positive / predicted_pixels.clamp(min=1)
        recall = true_positive / gt_pixels.clamp(min=1)
        denominator = F_BETA_SQUARED * precision + recall
        f_score = torch.where(
            true_positive > 0, (1 + F_BETA_SQUARED) * precision * recall / denominator.clamp(min=1e-12), 0.0
        )
        self.f_sum += f_score.sum(dim=0)
        self.iou_sum += (true_positive / union.clamp(min=1)).sum(dim=0)
        self.f_frames += (union > 0).sum(dim=0)

    def all_reduce(self) -> None:
        """Sum the state over ranks with one all-reduce (float64 holds the counts exactly)."""
        n = self.num_labels
        packed = torch.cat([self.confusion.flatten().double(), self.f_frames.double(), self.f_sum, self.iou_sum])
        comm.all_reduce_sum(packed)
        self.confusion = packed[: n * n].round().long().view(n, n)
        self.f_frames = packed[n * n : n * n + n].round().long()
        self.f_sum = packed[n * n + n : n * n + 2 * n]
        self.iou_sum = packed[n * n + 2 * n :]

    def frame_averages(self, sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-class mean over the frames where the class occurs (0 where it never does), and
        which classes occur."""
        frames = self.f_frames.cpu()
        occurs = frames > 0
        return torch.where(occurs, sums.cpu() / frames.clamp(min=1), torch.zeros_like(sums.cpu())), occurs
