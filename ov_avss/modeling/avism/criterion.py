"""AVISM's losses: Hungarian matching of predictions to instance tracks with class, mask and
dice terms, for the frame decoder (one frame = one set) and the video module (one video = one
set, each track's masks over all the video's frames)."""
from __future__ import annotations

import torch

from ..criterion.matcher import VideoHungarianMatcher
from ..criterion.set_criterion import SetCriterion

__all__ = ["TrackSetCriterion"]


class TrackSetCriterion(SetCriterion):
    """Class-aware set loss over tracks (Mask2Former / VITA's definition): the ``SetCriterion``
    core with a class-aware matcher and per-track mask losses.

    Matching cost per (query, track): ``-cost_class * p(track class) + cost_mask * BCE +
    cost_dice * dice``, the mask terms on ``num_points`` random points shared by all frames and
    concatenated over the frames. Losses: cross-entropy over K+1 classes on every query (the
    no-object class weighted by ``no_object_weight``); BCE and dice of the matched queries'
    masks on importance-sampled points (``num_points`` drawn in each frame), each computed per
    track over all of its ``T * num_points`` points (BCE their mean, dice over them all), summed
    over tracks and divided by the number of tracks. Returned losses are weighted and carry
    ``prefix``; deep-supervision copies get the suffix ``_i``. The matching costs are the loss
    weights (as in the release).
    """

    def __init__(
        self,
        num_classes: int,
        prefix: str,
        class_weight: float,
        mask_weight: float,
        dice_weight: float,
        no_object_weight: float,
        num_points: int,
        oversample_ratio: float,
        importance_sample_ratio: float,
    ) -> None:
        matcher = VideoHungarianMatcher(class_weight, mask_weight, dice_weight, num_points, class_agnostic=False)
        super().__init__(
            matcher, num_classes=num_classes, prefix=prefix,
            weights={"ce": class_weight, "mask": mask_weight, "dice": dice_weight},
            no_object_weight=no_object_weight, num_points=num_points, oversample_ratio=oversample_ratio,
            importance_sample_ratio=importance_sample_ratio, mask_loss_unit="track",
        )

    def forward(self, outputs: dict, targets: list[dict]) -> dict[str, torch.Tensor]:
        """Args:
            outputs: ``pred_logits [S, Q, K+1]``, ``pred_masks [S, Q, T, h, w]`` and optional
                ``aux_outputs`` (same keys), S sets.
            targets: per set ``labels`` int64 ``[N]`` and ``masks`` float ``[N, T, H, W]``.
        """
        return self.losses_and_indices(outputs, targets)[0]
