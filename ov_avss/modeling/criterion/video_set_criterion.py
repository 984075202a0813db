"""OV-AVSS's set criterion: class-agnostic objectness and point-sampled masks per valid frame."""
from __future__ import annotations

import torch

from .matcher import VideoHungarianMatcher
from .set_criterion import SetCriterion

_PREFIX = "loss_"


class VideoSetCriterion(SetCriterion):
    """Hungarian-matched losses over a window, with deep supervision (the ``SetCriterion`` core
    with a class-agnostic matcher, ``K = 1`` and per-frame mask losses).

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
        """
        Args:
            matcher: a class-agnostic matcher.
            weight_dict: the weights of ``loss_ce``, ``loss_mask`` and ``loss_dice``.
            no_object_weight, num_points, oversample_ratio, importance_sample_ratio: see
                ``SetCriterion``.
        """
        if not matcher.class_agnostic:
            raise ValueError("VideoSetCriterion: the matcher must be class-agnostic (2-way objectness logits)")
        if not all(name.startswith(_PREFIX) for name in weight_dict):
            raise ValueError(
                f"VideoSetCriterion: weight_dict keys must be loss_ce/loss_mask/loss_dice, got {sorted(weight_dict)}"
            )
        super().__init__(
            matcher, num_classes=1, prefix=_PREFIX,
            weights={name[len(_PREFIX):]: weight for name, weight in weight_dict.items()},
            no_object_weight=no_object_weight, num_points=num_points, oversample_ratio=oversample_ratio,
            importance_sample_ratio=importance_sample_ratio, mask_loss_unit="frame",
        )

    @classmethod
    def from_config(cls, cfg) -> "VideoSetCriterion":
        mf = cfg.MODEL.MASK_FORMER
        matcher = VideoHungarianMatcher(
            cost_class=mf.CLASS_WEIGHT, cost_mask=mf.MASK_WEIGHT, cost_dice=mf.DICE_WEIGHT,
            num_points=mf.TRAIN_NUM_POINTS, class_agnostic=True,
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
            targets: per window ``masks`` bool ``[N, T, H, W]`` and ``frame_valid`` bool ``[T]``.

        Raises:
            FloatingPointError: a prediction holds NaN/inf (``SetCriterion.losses_and_indices``).

        Returns:
            ``(losses, indices)``: the weighted loss dict and the final prediction's matching
            (per window ``(query_indices, target_indices)``), reused by the ensemble head.
        """
        losses, rounds = self.losses_and_indices(outputs, targets)
        return losses, rounds[-1]
