"""Random inputs of the multi-scale deformable attention op, shared by the ops tests."""
from __future__ import annotations

import torch


def make_msda_inputs(
    level_shapes: list[tuple[int, int]],
    batch: int,
    num_queries: int,
    num_heads: int,
    head_dim: int,
    num_points: int,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    location_margin: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """value ``[N, S, M, D]``, spatial_shapes ``[L, 2]``, level_start_index ``[L]``,
    sampling_locations ``[N, Lq, M, L, P, 2]`` drawn from ``[-margin, 1 + margin]`` (so some
    points fall outside the map) and softmax-normalised attention weights ``[N, Lq, M, L, P]``."""
    spatial_shapes = torch.tensor(level_shapes, dtype=torch.int64)
    level_sizes = spatial_shapes.prod(dim=1)
    level_start_index = torch.cat([level_sizes.new_zeros(1), level_sizes.cumsum(0)[:-1]])
    num_tokens = int(level_sizes.sum())
    num_levels = len(level_shapes)
    value = torch.randn(batch, num_tokens, num_heads, head_dim, generator=generator, dtype=dtype)
    sampling_locations = (
        torch.rand(batch, num_queries, num_heads, num_levels, num_points, 2, generator=generator, dtype=dtype)
        * (1.0 + 2.0 * location_margin)
        - location_margin
    )
    attention_weights = torch.rand(
        batch, num_queries, num_heads, num_levels * num_points, generator=generator, dtype=dtype
    ).softmax(-1).view(batch, num_queries, num_heads, num_levels, num_points)
    return value, spatial_shapes, level_start_index, sampling_locations, attention_weights
