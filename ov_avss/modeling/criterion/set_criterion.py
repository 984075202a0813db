"""Set-prediction losses for video queries: class-agnostic objectness and point-sampled masks."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...utils import comm
from .matcher import VideoHungarianMatcher
from .point_sampling import point_sample, uncertain_point_coords_with_randomness


def sigmoid_ce_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """``[R, P]`` logits vs targets: mean BCE over points, summed over rows, / ``num_masks``."""
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return loss.mean(1).sum() / num_masks


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """``[R, P]`` logits vs targets: per-row dice loss, summed over rows, / ``num_masks``."""
    probs = logits.sigmoid()
    numerator = 2 * (probs * targets).sum(-1)
    denominator = probs.sum(-1) + targets.sum(-1)
    return (1 - (numerator + 1) / (denominator + 1)).sum() / num_masks


class VideoSetCriterion(nn.Module):
    """Hungarian-matched losses over a clip, with deep supervision.

    - ``loss_ce``: 2-way cross-entropy (sounding object / no object) on every query, the
      no-object class weighted by ``no_object_weight``.
    - ``loss_mask`` / ``loss_dice``: on matched queries, per valid frame, on ``num_points``
      importance-sampled points; summed over frames and divided by the number of ground-truth
      objects in the batch (all processes).

    Frames with ``frame_valid == False`` enter neither the matching cost nor the mask losses.
    Returned losses are already multiplied by their weights; deep-supervision copies carry the
    suffix ``_i`` (``i`` = index of the auxiliary prediction).
    """

    def __init__(
        self,
        matcher: VideoHungarianMatcher,
        weight_dict: dict[str, float],
        no_object_weight: float,
        num_points: int,
        oversample_ratio: float,
        importance_sample_ratio: float,
    ) -> None:
        super().__init__()
        self.matcher = matcher
        self.weight_dict = dict(weight_dict)
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        # Not persistent: the COCO checkpoints carry an 81-class version of this buffer.
        self.register_buffer("empty_weight", torch.tensor([1.0, no_object_weight]), persistent=False)

    @classmethod
    def from_config(cls, cfg) -> "VideoSetCriterion":
        mf = cfg.MODEL.MASK_FORMER
        matcher = VideoHungarianMatcher(
            cost_class=mf.CLASS_WEIGHT, cost_mask=mf.MASK_WEIGHT, cost_dice=mf.DICE_WEIGHT,
            num_points=mf.TRAIN_NUM_POINTS,
        )
        weights = {"loss_ce": mf.CLASS_WEIGHT, "loss_mask": mf.MASK_WEIGHT, "loss_dice": mf.DICE_WEIGHT}
        return cls(
            matcher, weights, mf.NO_OBJECT_WEIGHT, mf.TRAIN_NUM_POINTS, mf.OVERSAMPLE_RATIO,
            mf.IMPORTANCE_SAMPLE_RATIO,
        )

    def forward(self, outputs: dict, targets: list[dict]) -> tuple[dict[str, torch.Tensor], list]:
        """Losses for a batch.

        Args:
            outputs: the transformer decoder's output (``pred_logits [B, Q, 2]``, ``pred_masks
                [B, Q, T, h, w]``, ``aux_outputs``).
            targets: per clip ``masks`` bool ``[N, T, H, W]`` and ``frame_valid`` bool ``[T]``.

        Raises:
            FloatingPointError: a prediction holds NaN/inf, which the Hungarian matcher cannot
                cost (the trainer adds the iteration to the message).

        Returns:
            ``(losses, indices)``: the weighted loss dict and the final prediction's matching
            (per clip ``(query_indices, target_indices)``), reused by the ensemble head.
        """
        _check_finite(outputs)
        device = outputs["pred_logits"].device
        num_masks = torch.tensor(
            [float(sum(t["masks"].shape[0] for t in targets))], device=device
        )
        num_masks = float(torch.clamp(comm.all_reduce_sum(num_masks) / comm.get_world_size(), min=1).item())

        indices = self.matcher(outputs, targets)
        losses = self._weighted_losses(outputs, targets, indices, num_masks, suffix="")
        for aux_index, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_indices = self.matcher(aux, targets)
            losses.update(self._weighted_losses(aux, targets, aux_indices, num_masks, suffix=f"_{aux_index}"))
        return losses, indices

    def _weighted_losses(self, outputs, targets, indices, num_masks: float, suffix: str) -> dict[str, torch.Tensor]:
        losses = {"loss_ce": self.loss_labels(outputs, indices)}
        losses.update(self.loss_masks(outputs, targets, indices, num_masks))
        return {f"{name}{suffix}": value * self.weight_dict[name] for name, value in losses.items()}

    @staticmethod
    def _flat_indices(indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-clip matchings -> (clip index, query index, target index) of every matched pair."""
        clip_idx = torch.cat([torch.full_like(query, i) for i, (query, _) in enumerate(indices)])
        query_idx = torch.cat([query for query, _ in indices])
        target_idx = torch.cat([target for _, target in indices])
        return clip_idx, query_idx, target_idx

    def loss_labels(self, outputs: dict, indices) -> torch.Tensor:
        """Cross-entropy of ``pred_logits [B, Q, 2]``: matched queries -> class 0, others -> 1."""
        logits = outputs["pred_logits"].float()
        clip_idx, query_idx, _ = self._flat_indices(indices)
        target_classes = torch.ones(logits.shape[:2], dtype=torch.int64, device=logits.device)
        target_classes[clip_idx.to(logits.device), query_idx.to(logits.device)] = 0
        return F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight)

    def loss_masks(self, outputs: dict, targets: list[dict], indices, num_masks: float) -> dict[str, torch.Tensor]:
        """Point-sampled BCE and dice of matched masks, on valid frames only."""
        pred_masks = outputs["pred_masks"]
        device = pred_masks.device
        clip_idx, query_idx, target_idx = self._flat_indices(indices)
        clip_idx, query_idx = clip_idx.to(device), query_idx.to(device)
        matched_masks = pred_masks[clip_idx, query_idx]  # [M, T, h, w]
        if matched_masks.shape[0] == 0:
            # Keep the graph connected so every rank runs the same backward.
            zero = pred_masks.sum() * 0.0
            return {"loss_mask": zero, "loss_dice": zero}
        target_masks = torch.cat(
            [target["masks"][target_ids.to(target["masks"].device)].to(device) for target, (_, target_ids)
             in zip(targets, indices)]
        )  # [M, T, H, W]
        frame_valid = torch.stack([target["frame_valid"].to(device) for target in targets])[clip_idx]  # [M, T]

        pred_frames = matched_masks[frame_valid][:, None].float()  # [V, 1, h, w]
        target_frames = target_masks[frame_valid][:, None].float()  # [V, 1, H, W]
        if pred_frames.shape[0] == 0:
            zero = pred_masks.sum() * 0.0
            return {"loss_mask": zero, "loss_dice": zero}
        with torch.no_grad():
            coords = uncertain_point_coords_with_randomness(
                pred_frames, self.num_points, self.oversample_ratio, self.importance_sample_ratio
            )
            point_targets = point_sample(target_frames, coords).squeeze(1)  # [V, P]
        point_logits = point_sample(pred_frames, coords).squeeze(1)
        return {
            "loss_mask": sigmoid_ce_loss(point_logits, point_targets, num_masks),
            "loss_dice": dice_loss(point_logits, point_targets, num_masks),
        }


def _check_finite(outputs: dict) -> None:
    """Name every prediction tensor holding NaN/inf (final and auxiliary outputs)."""
    named = [("", outputs)] + [(f"aux_outputs[{i}].", aux) for i, aux in enumerate(outputs.get("aux_outputs", []))]
    tensors = {f"{prefix}{key}": output[key].detach() for prefix, output in named for key in ("pred_logits", "pred_masks")}
    # One device sync for the common, all-finite case.
    if bool(torch.stack([torch.isfinite(values).all() for values in tensors.values()]).all()):
        return
    problems = []
    for name, values in tensors.items():
        num_nan = int(torch.isnan(values).sum())
        num_inf = int(torch.isinf(values).sum())
        if num_nan or num_inf:
            problems.append(f"{name} has {num_nan} NaN and {num_inf} inf of {values.numel()} values")
    raise FloatingPointError("predictions are non-finite before Hungarian matching: " + "; ".join(problems))
