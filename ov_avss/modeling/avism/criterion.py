"""AVISM's losses: Hungarian matching of predictions to instance tracks with class, mask and
dice terms, for the frame decoder (one frame = one set) and the video module (one clip = one
set, each track's masks over all the clip's frames)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from ...utils import comm
from ..criterion.matcher import batch_dice_cost, batch_sigmoid_ce_cost
from ..criterion.point_sampling import point_sample, uncertain_point_coords_with_randomness
from ..criterion.set_criterion import dice_loss, sigmoid_ce_loss

__all__ = ["TrackSetCriterion"]


class TrackSetCriterion(nn.Module):
    """Class-aware set loss over tracks (Mask2Former / VITA's definition).

    Matching cost per (query, track): ``-cost_class * p(track class) + cost_mask * BCE +
    cost_dice * dice``, the mask terms on ``num_points`` random points shared by all frames and
    concatenated over the frames. Losses: cross-entropy over K+1 classes on every query (the
    no-object class weighted by ``no_object_weight``); BCE and dice of the matched queries'
    masks on importance-sampled points (``num_points`` drawn in each frame), each computed per
    track over all of its ``T * num_points`` points (BCE their mean, dice over them all), summed
    over tracks and divided by the number of tracks. Returned
    losses are weighted and carry ``prefix``; deep-supervision copies get the suffix ``_i``.
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
        super().__init__()
        self.num_classes = num_classes
        self.prefix = prefix
        self.weights = {"ce": class_weight, "mask": mask_weight, "dice": dice_weight}
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        class_weights = torch.ones(num_classes + 1)
        class_weights[-1] = no_object_weight
        # Not persistent: a constant rebuilt from the config (the release stores it; it is dropped).
        self.register_buffer("empty_weight", class_weights, persistent=False)

    def forward(self, outputs: dict, targets: list[dict]) -> dict[str, torch.Tensor]:
        """Args:
            outputs: ``pred_logits [S, Q, K+1]``, ``pred_masks [S, Q, T, h, w]`` and optional
                ``aux_outputs`` (same keys), S sets.
            targets: per set ``labels`` int64 ``[N]`` and ``masks`` float ``[N, T, H, W]``.
        """
        return self.losses_and_indices(outputs, targets)[0]

    def losses_and_indices(
        self, outputs: dict, targets: list[dict]
    ) -> tuple[dict[str, torch.Tensor], list[list[tuple[torch.Tensor, torch.Tensor]]]]:
        """The losses, and the matching they used for each prediction round: the ``aux_outputs``
        in order, then the last (per round, per set ``(query_indices, target_indices)``)."""
        num_masks = torch.tensor([float(sum(len(t["labels"]) for t in targets))], device=outputs["pred_logits"].device)
        num_masks = float(torch.clamp(comm.all_reduce_sum(num_masks) / comm.get_world_size(), min=1).item())
        losses, last = self._losses(outputs, targets, num_masks, "")
        rounds = []
        for index, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_losses, indices = self._losses(aux, targets, num_masks, f"_{index}")
            losses.update(aux_losses)
            rounds.append(indices)
        return losses, rounds + [last]

    @torch.no_grad()
    def match(self, outputs: dict, targets: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per set ``(query_indices, track_indices)``."""
        indices = []
        for logits, masks, target in zip(outputs["pred_logits"], outputs["pred_masks"], targets):
            num_tracks = len(target["labels"])
            if num_tracks == 0:
                empty = torch.empty(0, dtype=torch.int64)
                indices.append((empty, empty))
                continue
            cost = -self.weights["ce"] * logits.float().softmax(-1)[:, target["labels"]]  # [Q, N]
            coords = torch.rand(1, self.num_points, 2, device=masks.device)
            pred_points = point_sample(masks.float(), coords.expand(masks.shape[0], -1, -1)).flatten(1)
            target_points = point_sample(target["masks"].float(), coords.expand(num_tracks, -1, -1)).flatten(1)
            cost = cost + self.weights["mask"] * batch_sigmoid_ce_cost(pred_points, target_points)
            cost = cost + self.weights["dice"] * batch_dice_cost(pred_points, target_points)
            queries, tracks = linear_sum_assignment(cost.cpu().numpy())
            indices.append((torch.as_tensor(queries, dtype=torch.int64), torch.as_tensor(tracks, dtype=torch.int64)))
        return indices

    def _losses(
        self, outputs: dict, targets: list[dict], num_masks: float, suffix: str
    ) -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        indices = self.match(outputs, targets)
        logits, pred_masks = outputs["pred_logits"].float(), outputs["pred_masks"]
        device = logits.device
        set_idx = torch.cat([torch.full_like(q, i) for i, (q, _) in enumerate(indices)]).to(device)
        query_idx = torch.cat([q for q, _ in indices]).to(device)
        target_classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64, device=device)
        target_classes[set_idx, query_idx] = torch.cat([t["labels"][j.to(device)] for t, (_, j) in zip(targets, indices)])
        losses = {"ce": F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight)}

        if len(query_idx) == 0:
            zero = pred_masks.sum() * 0.0  # keeps every rank's graph the same
            losses.update(mask=zero, dice=zero)
        else:
            matched = pred_masks[set_idx, query_idx].flatten(0, 1)[:, None].float()  # [M*T, 1, h, w]
            target_masks = torch.cat([t["masks"][j.to(device)] for t, (_, j) in zip(targets, indices)])
            target_masks = target_masks.flatten(0, 1)[:, None].float()  # [M*T, 1, H, W]
            with torch.no_grad():
                coords = uncertain_point_coords_with_randomness(
                    matched, self.num_points, self.oversample_ratio, self.importance_sample_ratio
                )
                point_targets = point_sample(target_masks, coords).squeeze(1)
            point_logits = point_sample(matched, coords).squeeze(1)
            # Points are drawn per frame but scored per track: [M*T, P] -> [M, T*P] (the release's).
            point_logits = point_logits.view(len(query_idx), -1)
            point_targets = point_targets.view(len(query_idx), -1)
            losses["mask"] = sigmoid_ce_loss(point_logits, point_targets, num_masks)
            losses["dice"] = dice_loss(point_logits, point_targets, num_masks)
        return {f"{self.prefix}{name}{suffix}": value * self.weights[name] for name, value in losses.items()}, indices
