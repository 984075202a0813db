"""``MSDeformAttn``: the multi-scale deformable attention layer of Deformable DETR.

Parameter names (``sampling_offsets``, ``attention_weights``, ``value_proj``, ``output_proj``)
and initialisation follow Deformable DETR, so Mask2Former / OV-AVSS checkpoints load as-is.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .ms_deform_attn_function import MSDA_IMPLEMENTATIONS, ms_deform_attn

__all__ = ["MSDeformAttn"]


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention.

    Args:
        d_model: channels C of queries and values; must be divisible by ``n_heads``.
        n_levels: number of feature levels L.
        n_heads: attention heads M.
        n_points: sampling points P per head and level.
        impl: ``"auto"``, ``"kernel"`` or ``"pytorch"`` (see :func:`ms_deform_attn`).
    """

    def __init__(
        self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4, impl: str = "auto"
    ) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"MSDeformAttn: d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        if impl not in MSDA_IMPLEMENTATIONS:
            raise ValueError(f"MSDeformAttn: impl must be one of {MSDA_IMPLEMENTATIONS}, got {impl!r}")
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.impl = impl
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR initialisation: offsets start on rays in n_heads directions, the
        p-th point at distance p + 1 (in pixels of each level), uniform attention."""
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        directions = torch.stack([angles.cos(), angles.sin()], dim=-1)
        # Scale each direction so its larger coordinate is +-1 (rays end on the unit square).
        directions = directions / directions.abs().max(dim=-1, keepdim=True).values
        distances = torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, self.n_points, 1)
        grid = directions.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1) * distances
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.constant_(self.attention_weights.weight, 0.0)
        nn.init.constant_(self.attention_weights.bias, 0.0)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.constant_(self.value_proj.bias, 0.0)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.constant_(self.output_proj.bias, 0.0)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        input_spatial_shapes: torch.Tensor,
        input_level_start_index: torch.Tensor,
        input_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from each query to P points per head around its reference point on every level.

        Args:
            query: ``[N, Lq, C]``.
            reference_points: ``[N, Lq, L, 2]`` normalised (x, y), or ``[N, Lq, L, 4]`` boxes
                (cx, cy, w, h) whose half size scales the offsets.
            input_flatten: ``[N, S, C]``, the flattened levels one after another.
            input_spatial_shapes: int64 ``[L, 2]``, (H, W) per level.
            input_level_start_index: int64 ``[L]``.
            input_padding_mask: bool ``[N, S]``, True at padding tokens (their values are
                zeroed), or None.

        Returns:
            ``[N, Lq, C]``.
        """
        batch, num_queries, channels = query.shape
        _, num_tokens, _ = input_flatten.shape
        if channels != self.d_model or input_flatten.shape[-1] != self.d_model:
            raise ValueError(
                f"MSDeformAttn: query {tuple(query.shape)} and input_flatten {tuple(input_flatten.shape)} "
                f"must have d_model={self.d_model} channels"
            )
        if tuple(input_spatial_shapes.shape) != (self.n_levels, 2):
            raise ValueError(
                f"MSDeformAttn: input_spatial_shapes must be [{self.n_levels}, 2], got {tuple(input_spatial_shapes.shape)}"
            )
        if reference_points.shape[:3] != (batch, num_queries, self.n_levels) or reference_points.shape[-1] not in (2, 4):
            raise ValueError(
                f"MSDeformAttn: reference_points must be [N={batch}, Lq={num_queries}, L={self.n_levels}, 2 or 4], "
                f"got {tuple(reference_points.shape)}"
            )

        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            value = value.masked_fill(input_padding_mask[..., None], 0.0)
        value = value.view(batch, num_tokens, self.n_heads, self.d_model // self.n_heads)
        sampling_offsets = self.sampling_offsets(query).view(
            batch, num_queries, self.n_heads, self.n_levels, self.n_points, 2
        )
        attention_weights = self.attention_weights(query).view(
            batch, num_queries, self.n_heads, self.n_levels * self.n_points
        )
        attention_weights = attention_weights.softmax(-1).view(
            batch, num_queries, self.n_heads, self.n_levels, self.n_points
        )
        if reference_points.shape[-1] == 2:
            # Offsets are in pixels of each level: divide by (W, H) to normalise.
            offset_normalizer = torch.stack([input_spatial_shapes[..., 1], input_spatial_shapes[..., 0]], dim=-1)
            sampling_locations = (
                reference_points[:, :, None, :, None, :]
                + sampling_offsets / offset_normalizer[None, None, None, :, None, :]
            )
        else:
            sampling_locations = (
                reference_points[:, :, None, :, None, :2]
                + sampling_offsets / self.n_points * reference_points[:, :, None, :, None, 2:] * 0.5
            )
        output = ms_deform_attn(
            value, input_spatial_shapes, input_level_start_index, sampling_locations, attention_weights, impl=self.impl
        )
        return self.output_proj(output)
