"""Clip-level Hungarian matching between video queries and ground-truth objects."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from .point_sampling import point_sample


def batch_dice_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice cost between every prediction and every target.

    Args:
        logits: ``[Q, P]`` mask logits at sampled points.
        targets: ``[N, P]`` binary targets at the same points.

    Returns:
        ``[Q, N]``, ``1 - (2|p∩t| + 1) / (|p| + |t| + 1)``.
    """
    probs = logits.sigmoid()
    numerator = 2 * probs @ targets.T
    denominator = probs.sum(-1)[:, None] + targets.sum(-1)[None, :]
    return 1 - (numerator + 1) / (denominator + 1)


def batch_sigmoid_ce_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy between every prediction ``[Q, P]`` and every target ``[N, P]``
    -> ``[Q, N]``."""
    num_points = logits.shape[1]
    pos = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
    neg = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction="none")
    return (pos @ targets.T + neg @ (1 - targets).T) / num_points


class VideoHungarianMatcher(nn.Module):
    """One-to-one assignment of queries to a clip's objects, costed over all valid frames.

    Cost = ``cost_class * (-p_object) + cost_mask * BCE + cost_dice * dice``, with the mask
    costs computed on ``num_points`` random points shared by all frames and evaluated on the
    frames that carry ground truth (``frame_valid``). Matching is class-agnostic: every target
    is a "sounding object".
    """

    def __init__(self, cost_class: float, cost_mask: float, cost_dice: float, num_points: int) -> None:
        super().__init__()
        if cost_class == 0 and cost_mask == 0 and cost_dice == 0:
            raise ValueError("All matching costs are 0")
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points

    @torch.no_grad()
    def forward(self, outputs: dict, targets: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Match each clip of the batch.

        Args:
            outputs: ``pred_logits [B, Q, 2]`` and ``pred_masks [B, Q, T, h, w]``.
            targets: per clip ``masks`` bool ``[N, T, H, W]`` and ``frame_valid`` bool ``[T]``.

        Returns:
            Per clip ``(query_indices, target_indices)``, int64 ``[min(Q, N)]`` each.
        """
        pred_logits = outputs["pred_logits"]
        pred_masks = outputs["pred_masks"]
        indices = []
        for clip_index, target in enumerate(targets):
            # Per-clip loop: clips have different object counts (B is small).
            target_masks = target["masks"]
            num_targets = target_masks.shape[0]
            device = pred_logits.device
            if num_targets == 0:
                empty = torch.empty(0, dtype=torch.int64)
                indices.append((empty, empty))
                continue
            object_prob = pred_logits[clip_index].float().softmax(-1)[:, 0]  # [Q]
            cost = -self.cost_class * object_prob[:, None].expand(-1, num_targets)

            valid = target["frame_valid"].to(device)
            if bool(valid.any()):
                clip_masks = pred_masks[clip_index][:, valid].float()  # [Q, Tv, h, w]
                clip_targets = target_masks[:, valid].to(device=device, dtype=torch.float32)
                coords = torch.rand(1, self.num_points, 2, device=device)
                pred_points = point_sample(
                    clip_masks, coords.expand(clip_masks.shape[0], -1, -1)
                ).flatten(1)  # [Q, Tv*P]
                target_points = point_sample(
                    clip_targets, coords.expand(num_targets, -1, -1)
                ).flatten(1)  # [N, Tv*P]
                cost = cost + self.cost_mask * batch_sigmoid_ce_cost(pred_points, target_points)
                cost = cost + self.cost_dice * batch_dice_cost(pred_points, target_points)
            query_idx, target_idx = linear_sum_assignment(cost.cpu().numpy())
            indices.append(
                (torch.as_tensor(query_idx, dtype=torch.int64), torch.as_tensor(target_idx, dtype=torch.int64))
            )
        return indices
