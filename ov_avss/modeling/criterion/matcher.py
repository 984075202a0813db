"""Hungarian matching between queries and ground-truth objects over a window's frames."""
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
    """One-to-one assignment of queries to a set's objects, costed over its frames.

    Cost = ``cost_class * (-p(object's class)) + cost_mask * BCE + cost_dice * dice``, with the
    mask costs computed on ``num_points`` random points shared by all frames (concatenated over
    the frames) and evaluated on the frames that carry ground truth (the target's optional
    ``frame_valid``; without it, every frame). ``class_agnostic`` (OV-AVSS): every target is a
    "sounding object", class 0 of the 2-way logits, whatever its ``labels``; otherwise
    (AVISM) the class is the target's ``labels``.
    """

    def __init__(
        self, cost_class: float, cost_mask: float, cost_dice: float, num_points: int, class_agnostic: bool = True
    ) -> None:
        super().__init__()
        if cost_class == 0 and cost_mask == 0 and cost_dice == 0:
            raise ValueError("All matching costs are 0")
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points
        self.class_agnostic = class_agnostic

    def target_classes(self, target: dict) -> torch.Tensor:
        """The class index of each of a set's ``N`` targets in the logits: int64 ``[N]``."""
        if self.class_agnostic:
            return torch.zeros(target["masks"].shape[0], dtype=torch.int64, device=target["masks"].device)
        return target["labels"]

    @torch.no_grad()
    def forward(self, outputs: dict, targets: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Match each set of the batch.

        Args:
            outputs: ``pred_logits [B, Q, K+1]`` and ``pred_masks [B, Q, T, h, w]``.
            targets: per set ``masks`` ``[N, T, H, W]``, optional ``frame_valid`` bool ``[T]``
                and (class-aware) ``labels`` int64 ``[N]``.

        Returns:
            Per set ``(query_indices, target_indices)``, int64 ``[min(Q, N)]`` each.
        """
        pred_logits = outputs["pred_logits"]
        pred_masks = outputs["pred_masks"]
        device = pred_logits.device
        indices = []
        for set_index, target in enumerate(targets):
            # Per-set loop: sets have different object counts (B is small).
            target_masks = target["masks"]
            num_targets = target_masks.shape[0]
            if num_targets == 0:
                empty = torch.empty(0, dtype=torch.int64)
                indices.append((empty, empty))
                continue
            class_probs = pred_logits[set_index].float().softmax(-1)  # [Q, K+1]
            cost = -self.cost_class * class_probs[:, self.target_classes(target).to(device)]  # [Q, N]

            set_masks = pred_masks[set_index]  # [Q, T, h, w]
            if "frame_valid" in target:
                valid = target["frame_valid"].to(device)
                set_masks, target_masks = set_masks[:, valid], target_masks[:, valid]
            if set_masks.shape[1] > 0:
                set_masks = set_masks.float()
                target_masks = target_masks.to(device=device, dtype=torch.float32)
                coords = torch.rand(1, self.num_points, 2, device=device)
                pred_points = point_sample(set_masks, coords.expand(set_masks.shape[0], -1, -1)).flatten(1)  # [Q, T*P]
                target_points = point_sample(target_masks, coords.expand(num_targets, -1, -1)).flatten(1)  # [N, T*P]
                cost = cost + self.cost_mask * batch_sigmoid_ce_cost(pred_points, target_points)
                cost = cost + self.cost_dice * batch_dice_cost(pred_points, target_points)
            query_idx, target_idx = linear_sum_assignment(cost.cpu().numpy())
            indices.append(
                (torch.as_tensor(query_idx, dtype=torch.int64), torch.as_tensor(target_idx, dtype=torch.int64))
            )
        return indices
