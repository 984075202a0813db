"""2-D sine position encoding of feature-map pixels (DETR / Mask2Former pixel decoder)."""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["PositionEmbeddingSine"]


class PositionEmbeddingSine(nn.Module):
    """Fixed sine/cosine encoding of row and column positions.

    ``forward(features [N, C, H, W]) -> [N, 2F, H, W]`` with ``F = num_pos_feats``: the first F
    channels encode the row, the last F the column, sin on even and cos on odd channels.
    Positions ``1..H`` (``1..W``) are normalised to ``(0, 2*pi]`` so the encoding does not
    depend on the feature map size. Only the shape and device of ``features`` are used.
    """

    def __init__(self, num_pos_feats: int = 128, temperature: float = 10000.0):
        super().__init__()
        if num_pos_feats % 2 != 0:
            raise ValueError(f"PositionEmbeddingSine: num_pos_feats must be even, got {num_pos_feats}")
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.scale = 2 * math.pi

    def _encode(self, positions: torch.Tensor) -> torch.Tensor:
        """``positions [P]`` (already scaled) -> ``[P, F]`` interleaved sin/cos."""
        channel = torch.arange(self.num_pos_feats, dtype=torch.float32, device=positions.device)
        frequencies = self.temperature ** (2 * torch.div(channel, 2, rounding_mode="floor") / self.num_pos_feats)
        angles = positions[:, None] / frequencies
        return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=-1).flatten(1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 4:
            raise ValueError(f"PositionEmbeddingSine expects [N, C, H, W], got {tuple(features.shape)}")
        batch, _, height, width = features.shape
        device = features.device
        eps = 1e-6
        rows = torch.arange(1, height + 1, dtype=torch.float32, device=device) / (height + eps) * self.scale
        columns = torch.arange(1, width + 1, dtype=torch.float32, device=device) / (width + eps) * self.scale
        row_encoding = self._encode(rows)  # [H, F]
        column_encoding = self._encode(columns)  # [W, F]
        encoding = torch.cat(
            (
                row_encoding[:, None, :].expand(height, width, self.num_pos_feats),
                column_encoding[None, :, :].expand(height, width, self.num_pos_feats),
            ),
            dim=-1,
        )  # [H, W, 2F]
        return encoding.permute(2, 0, 1)[None].expand(batch, -1, -1, -1)
