"""The set-criterion core: Hungarian-matched class and point-sampled mask losses with deep
supervision, which OV-AVSS's ``VideoSetCriterion`` and AVISM's ``TrackSetCriterion`` specialise."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...utils import comm
from .matcher import VideoHungarianMatcher
from .point_sampling import point_sample, uncertain_point_coords_with_randomness

Indices = list[tuple[torch.Tensor, torch.Tensor]]


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


class SetCriterion(nn.Module):
    """Hungarian-matched losses over sets of video queries, with deep supervision.

    For the final prediction and each of its ``aux_outputs`` (in that order, which is the order
    of the random point draws): match with ``matcher``, then

    - ``ce``: cross-entropy over ``num_classes + 1`` classes on every query: a matched query's
      target is its object's class (``matcher.target_classes``), the others the no-object class
      ``num_classes``, weighted by ``no_object_weight``;
    - ``mask`` / ``dice``: on matched queries, BCE and dice on ``num_points`` importance-sampled
      points drawn in each frame, scored per ``mask_loss_unit``: ``"frame"`` (each valid frame
      of each match on its own ``P`` points; frames with ``frame_valid == False`` are left out)
      or ``"track"`` (each match over all ``T * P`` points of its frames);

    each summed and divided by the number of ground-truth objects in the batch (averaged over
    processes, at least 1). Returned losses are multiplied by ``weights`` and named
    ``{prefix}{ce|mask|dice}``; deep-supervision copies carry the suffix ``_i`` (``i`` = index
    of the auxiliary prediction).
    """

    def __init__(
        self,
        matcher: VideoHungarianMatcher,
        num_classes: int,
        prefix: str,
        weights: dict[str, float],
        no_object_weight: float,
        num_points: int,
        oversample_ratio: float,
        importance_sample_ratio: float,
        mask_loss_unit: Literal["frame", "track"],
    ) -> None:
        """
        Args:
            matcher: the Hungarian matcher (its ``class_agnostic`` sets the matched classes).
            num_classes: ``K``; the logits have ``K + 1`` classes, the last "no object".
            prefix: of every loss name, e.g. ``"loss_"``.
            weights: loss weights under ``ce``, ``mask`` and ``dice``.
            no_object_weight: cross-entropy weight of the no-object class.
            num_points, oversample_ratio, importance_sample_ratio: point sampling of the mask
                losses (``uncertain_point_coords_with_randomness``).
            mask_loss_unit: ``"frame"`` or ``"track"`` (class docstring).
        """
        super().__init__()
        if set(weights) != {"ce", "mask", "dice"}:
            raise ValueError(f"SetCriterion: weights must have the keys ce, mask, dice, got {sorted(weights)}")
        if mask_loss_unit not in ("frame", "track"):
            raise ValueError(f"SetCriterion: mask_loss_unit must be 'frame' or 'track', got {mask_loss_unit!r}")
        self.matcher = matcher
        self.num_classes = num_classes
        self.prefix = prefix
        self.weights = dict(weights)
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        self.mask_loss_unit = mask_loss_unit
        class_weights = torch.ones(num_classes + 1)
        class_weights[-1] = no_object_weight
        # Not persistent: a constant rebuilt from the config (release checkpoints store their own,
        # e.g. an 81-class one from COCO; the name map drops it).
        self.register_buffer("empty_weight", class_weights, persistent=False)

    def losses_and_indices(self, outputs: dict, targets: list[dict]) -> tuple[dict[str, torch.Tensor], list[Indices]]:
        """Losses for a batch.

        Args:
            outputs: ``pred_logits [S, Q, K+1]``, ``pred_masks [S, Q, T, h, w]`` and optional
                ``aux_outputs`` (same keys), S sets.
            targets: per set ``masks`` ``[N, T, H, W]``, (class-aware matcher) ``labels`` int64
                ``[N]`` and (``"frame"`` unit) optional ``frame_valid`` bool ``[T]``.

        Raises:
            ValueError: per-track losses with targets carrying ``frame_valid``.
            FloatingPointError: a prediction holds NaN/inf, which the Hungarian matcher cannot
                cost (the trainer adds the iteration to the message).

        Returns:
            ``(losses, rounds)``: the weighted loss dict and the matching each prediction round
            used: the ``aux_outputs`` in order, then the final one (per round, per set
            ``(query_indices, target_indices)``).
        """
        if self.mask_loss_unit == "track" and any("frame_valid" in t for t in targets):
            raise ValueError("SetCriterion: per-track mask losses score every frame; targets must not carry frame_valid")
        _check_finite(outputs)
        device = outputs["pred_logits"].device
        num_masks = torch.tensor([float(sum(t["masks"].shape[0] for t in targets))], device=device)
        num_masks = float(torch.clamp(comm.all_reduce_sum(num_masks) / comm.get_world_size(), min=1).item())

        losses, final_indices = self._round(outputs, targets, num_masks, suffix="")
        rounds = []
        for aux_index, aux in enumerate(outputs.get("aux_outputs", [])):
            aux_losses, aux_indices = self._round(aux, targets, num_masks, suffix=f"_{aux_index}")
            losses.update(aux_losses)
            rounds.append(aux_indices)
        return losses, rounds + [final_indices]

    def match(self, outputs: dict, targets: list[dict]) -> Indices:
        """Per set ``(query_indices, target_indices)`` (no losses)."""
        return self.matcher(outputs, targets)

    def _round(self, outputs: dict, targets: list[dict], num_masks: float, suffix: str) -> tuple[dict, Indices]:
        indices = self.match(outputs, targets)
        losses = {"ce": self.loss_labels(outputs, indices, targets)}
        losses.update(self.loss_masks(outputs, targets, indices, num_masks))
        return {f"{self.prefix}{name}{suffix}": value * self.weights[name] for name, value in losses.items()}, indices

    @staticmethod
    def _flat_indices(indices: Indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-set matchings -> (set index, query index, target index) of every matched pair."""
        set_idx = torch.cat([torch.full_like(query, i) for i, (query, _) in enumerate(indices)])
        query_idx = torch.cat([query for query, _ in indices])
        target_idx = torch.cat([target for _, target in indices])
        return set_idx, query_idx, target_idx

    def loss_labels(self, outputs: dict, indices: Indices, targets: list[dict] | None = None) -> torch.Tensor:
        """Weighted cross-entropy of ``pred_logits [S, Q, K+1]``: matched queries -> their
        object's class, the others -> no object. ``targets`` may be None with a class-agnostic
        matcher (every object is class 0)."""
        logits = outputs["pred_logits"].float()
        device = logits.device
        set_idx, query_idx, _ = self._flat_indices(indices)
        target_classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64, device=device)
        if self.matcher.class_agnostic:
            matched_classes = torch.zeros(len(query_idx), dtype=torch.int64, device=device)
        else:
            classes = [self.matcher.target_classes(t) for t in targets]  # per set [N]
            matched_classes = torch.cat([c[j.to(c.device)].to(device) for c, (_, j) in zip(classes, indices)])
        target_classes[set_idx.to(device), query_idx.to(device)] = matched_classes
        return F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight)

    @staticmethod
    def _frame_valid(target: dict, num_frames: int) -> torch.Tensor:
        """The frames of a set that carry ground truth: bool ``[T]`` (all without ``frame_valid``)."""
        if "frame_valid" in target:
            return target["frame_valid"]
        return torch.ones(num_frames, dtype=torch.bool)

    def loss_masks(
        self, outputs: dict, targets: list[dict], indices: Indices, num_masks: float
    ) -> dict[str, torch.Tensor]:
        """Point-sampled BCE and dice of matched masks (``mask_loss_unit``, class docstring)."""
        pred_masks = outputs["pred_masks"]
        device = pred_masks.device
        set_idx, query_idx, _ = self._flat_indices(indices)
        set_idx, query_idx = set_idx.to(device), query_idx.to(device)
        matched_masks = pred_masks[set_idx, query_idx]  # [M, T, h, w]
        if matched_masks.shape[0] == 0:
            return _zero_mask_losses(pred_masks)
        target_masks = torch.cat(
            [t["masks"][j.to(t["masks"].device)].to(device) for t, (_, j) in zip(targets, indices)]
        )  # [M, T, H, W]
        if self.mask_loss_unit == "frame":
            frame_valid = torch.stack([self._frame_valid(t, pred_masks.shape[2]).to(device) for t in targets])[set_idx]
            pred_frames = matched_masks[frame_valid]  # [V, h, w]
            target_frames = target_masks[frame_valid]  # [V, H, W]
            num_rows = pred_frames.shape[0]
            if num_rows == 0:
                return _zero_mask_losses(pred_masks)
        else:
            pred_frames = matched_masks.flatten(0, 1)  # [M*T, h, w]
            target_frames = target_masks.flatten(0, 1)  # [M*T, H, W]
            num_rows = matched_masks.shape[0]
        pred_frames = pred_frames[:, None].float()  # [F, 1, h, w]
        target_frames = target_frames[:, None].float()  # [F, 1, H, W]
        with torch.no_grad():
            coords = uncertain_point_coords_with_randomness(
                pred_frames, self.num_points, self.oversample_ratio, self.importance_sample_ratio
            )
            point_targets = point_sample(target_frames, coords).squeeze(1)  # [F, P]
        point_logits = point_sample(pred_frames, coords).squeeze(1)
        # Points drawn per frame, scored per unit: [F, P] -> [R, F/R * P].
        point_logits, point_targets = point_logits.view(num_rows, -1), point_targets.view(num_rows, -1)
        return {
            "mask": sigmoid_ce_loss(point_logits, point_targets, num_masks),
            "dice": dice_loss(point_logits, point_targets, num_masks),
        }


def _zero_mask_losses(pred_masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Zero mask losses still connected to the graph, so every rank runs the same backward."""
    zero = pred_masks.sum() * 0.0
    return {"mask": zero, "dice": zero}


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
