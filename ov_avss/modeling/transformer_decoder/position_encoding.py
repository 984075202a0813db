"""Sine position encoding over (time, height, width) for video-level attention keys."""
from __future__ import annotations

import math

import torch
from torch import nn


class PositionEmbeddingSine3D(nn.Module):
    """Fixed sine/cosine encoding of frame, row and column positions (Mask2Former video).

    Half of the channels encode the row, half the column (interleaved sin/cos, DETR style); the
    frame position is encoded over all channels and added. Positions are normalised to
    ``(0, 2*pi]`` so the encoding does not depend on the feature map size.
    """

    def __init__(self, num_pos_feats: int = 128, temperature: float = 10000.0) -> None:
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.scale = 2 * math.pi

    def _frequencies(self, num_feats: int, device: torch.device) -> torch.Tensor:
        dim_t = torch.arange(num_feats, dtype=torch.float32, device=device)
        return self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)

    @staticmethod
    def _interleave_sin_cos(angles: torch.Tensor) -> torch.Tensor:
        """``[..., F]`` angles -> ``[..., F]`` with sin on even and cos on odd channels."""
        return torch.stack((angles[..., 0::2].sin(), angles[..., 1::2].cos()), dim=-1).flatten(-2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features [B, T, C, H, W]`` (only its shape and device are used) -> ``[B, T, 2F, H, W]``
        with ``F = num_pos_feats``."""
        if features.dim() != 5:
            raise ValueError(f"PositionEmbeddingSine3D expects [B, T, C, H, W], got {tuple(features.shape)}")
        batch, frames, _, height, width = features.shape
        device = features.device
        eps = 1e-6
        z_pos = torch.arange(1, frames + 1, dtype=torch.float32, device=device) / (frames + eps) * self.scale
        y_pos = torch.arange(1, height + 1, dtype=torch.float32, device=device) / (height + eps) * self.scale
        x_pos = torch.arange(1, width + 1, dtype=torch.float32, device=device) / (width + eps) * self.scale

        spatial_freq = self._frequencies(self.num_pos_feats, device)
        temporal_freq = self._frequencies(self.num_pos_feats * 2, device)
        pos_y = self._interleave_sin_cos(y_pos[:, None] / spatial_freq)  # [H, F]
        pos_x = self._interleave_sin_cos(x_pos[:, None] / spatial_freq)  # [W, F]
        pos_z = self._interleave_sin_cos(z_pos[:, None] / temporal_freq)  # [T, 2F]

        spatial = torch.cat(
            (
                pos_y[:, None, :].expand(height, width, self.num_pos_feats),
                pos_x[None, :, :].expand(height, width, self.num_pos_feats),
            ),
            dim=-1,
        )  # [H, W, 2F]
        pos = spatial[None] + pos_z[:, None, None, :]  # [T, H, W, 2F]
        pos = pos.permute(0, 3, 1, 2)  # [T, 2F, H, W]
        return pos[None].expand(batch, -1, -1, -1, -1).to(features.dtype)
