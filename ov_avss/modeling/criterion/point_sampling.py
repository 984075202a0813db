"""Point sampling of mask logits and targets (PointRend / Mask2Former), batched with grid_sample."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def point_sample(inputs: torch.Tensor, point_coords: torch.Tensor) -> torch.Tensor:
    """Bilinearly sample ``inputs [N, C, H, W]`` at ``point_coords [N, P, 2]`` given as
    ``(x, y)`` in ``[0, 1]`` (``align_corners=False`` convention) -> ``[N, C, P]``."""
    grid = (2.0 * point_coords - 1.0).unsqueeze(2)  # [N, P, 1, 2]
    return F.grid_sample(inputs, grid.to(inputs.dtype), mode="bilinear", align_corners=False).squeeze(3)


def uncertainty(logits: torch.Tensor) -> torch.Tensor:
    """Points whose logit is closest to 0 are the most uncertain: ``-|logit|``."""
    return -logits.abs()


def uncertain_point_coords_with_randomness(
    logits: torch.Tensor, num_points: int, oversample_ratio: float, importance_sample_ratio: float
) -> torch.Tensor:
    """Importance sampling of point coordinates for the mask losses.

    Draws ``num_points * oversample_ratio`` uniform points per mask, keeps the
    ``importance_sample_ratio * num_points`` most uncertain of them and fills the rest with fresh
    uniform points.

    Args:
        logits: ``[N, 1, H, W]`` mask logits (no gradient needed).

    Returns:
        ``[N, num_points, 2]`` coordinates in ``[0, 1]``.
    """
    if oversample_ratio < 1:
        raise ValueError(f"OVERSAMPLE_RATIO must be >= 1, got {oversample_ratio}")
    if not 0 <= importance_sample_ratio <= 1:
        raise ValueError(f"IMPORTANCE_SAMPLE_RATIO must be in [0, 1], got {importance_sample_ratio}")
    num_masks = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    candidates = torch.rand(num_masks, num_sampled, 2, device=logits.device)
    candidate_uncertainty = uncertainty(point_sample(logits, candidates))[:, 0, :]  # [N, S]
    num_uncertain = int(importance_sample_ratio * num_points)
    num_random = num_points - num_uncertain
    top = candidate_uncertainty.topk(num_uncertain, dim=1).indices  # [N, U]
    chosen = torch.gather(candidates, 1, top[..., None].expand(-1, -1, 2))
    if num_random > 0:
        chosen = torch.cat((chosen, torch.rand(num_masks, num_random, 2, device=logits.device)), dim=1)
    return chosen
