"""One layer of the multi-scale deformable-attention encoder (Deformable DETR, post-norm)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ov_avss.ops import MSDeformAttn

__all__ = ["DeformableEncoderLayer", "encoder_reference_points"]


class DeformableEncoderLayer(nn.Module):
    """Deformable self-attention over all levels, then a ReLU FFN; residual + LayerNorm after
    each (parameter names as in Deformable DETR / Mask2Former).

    Args:
        d_model: token channels.
        dim_feedforward: FFN hidden width.
        dropout: dropout after attention, inside and after the FFN.
        num_levels: feature levels attended.
        num_heads: attention heads.
        num_points: sampling points per head and level.
        msda_impl: ``MSDeformAttn`` implementation ("auto", "kernel" or "pytorch").
    """

    def __init__(
        self,
        d_model: int,
        dim_feedforward: int,
        dropout: float,
        num_levels: int,
        num_heads: int,
        num_points: int,
        msda_impl: str = "auto",
    ):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, num_levels, num_heads, num_points, impl=msda_impl)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(
        self,
        tokens: torch.Tensor,
        position_embedding: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor,
    ) -> torch.Tensor:
        """
        Args:
            tokens: ``[N, S, C]`` all levels flattened.
            position_embedding: ``[N, S, C]`` (sine + level embedding), added to the queries.
            reference_points: ``[N, S, L, 2]`` normalised (x, y).
            spatial_shapes: int64 ``[L, 2]``; level_start_index: int64 ``[L]``.

        Returns:
            ``[N, S, C]``.
        """
        attended = self.self_attn(
            tokens + position_embedding, reference_points, tokens, spatial_shapes, level_start_index, None
        )
        tokens = self.norm1(tokens + self.dropout1(attended))
        hidden = self.linear2(self.dropout2(F.relu(self.linear1(tokens))))
        return self.norm2(tokens + self.dropout3(hidden))


def encoder_reference_points(level_sizes: list[tuple[int, int]], batch: int, device: torch.device) -> torch.Tensor:
    """Pixel centres of every level, normalised to [0, 1], as reference points for all levels.

    Features are never padded here (every level is fully valid), so a token's reference point
    is the same normalised location on every level.

    Returns:
        ``[batch, S, L, 2]`` (x, y) with ``S = sum(H_l * W_l)``.
    """
    per_level = []
    for height, width in level_sizes:
        rows = (torch.arange(height, dtype=torch.float32, device=device) + 0.5) / height
        columns = (torch.arange(width, dtype=torch.float32, device=device) + 0.5) / width
        grid_y, grid_x = torch.meshgrid(rows, columns, indexing="ij")
        per_level.append(torch.stack((grid_x.reshape(-1), grid_y.reshape(-1)), dim=-1))
    points = torch.cat(per_level, dim=0)  # [S, 2]
    return points[None, :, None, :].expand(batch, -1, len(level_sizes), -1)
