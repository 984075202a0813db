"""Multi-scale deformable attention in plain PyTorch (``F.grid_sample``).

This is the reference path: it runs on every device and dtype ``grid_sample`` supports, and
the CUDA kernel in ``csrc/`` is tested against it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "check_ms_deform_attn_inputs",
    "check_ms_deform_attn_shapes",
    "ms_deform_attn_pytorch",
    "ms_deform_attn_pytorch_backward",
]


def check_ms_deform_attn_inputs(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> list[tuple[int, int]]:
    """Validate the shapes of the op's inputs and return the level sizes as Python ints.

    Args:
        value: ``[N, S, M, D]``.
        spatial_shapes: int64 ``[L, 2]``, (H, W) per level.
        level_start_index: int64 ``[L]``, offset of each level in the S axis.
        sampling_locations: ``[N, Lq, M, L, P, 2]``, normalised (x, y).
        attention_weights: ``[N, Lq, M, L, P]``.

    Returns:
        ``[(H_0, W_0), ..., (H_{L-1}, W_{L-1})]``.

    Raises:
        ValueError: naming the argument whose shape or dtype is inconsistent.
    """
    check_ms_deform_attn_shapes(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    level_sizes = [(int(height), int(width)) for height, width in spatial_shapes.tolist()]
    total_tokens = sum(height * width for height, width in level_sizes)
    if total_tokens != value.shape[1]:
        raise ValueError(
            f"value has S={value.shape[1]} tokens but spatial_shapes {level_sizes} sum to {total_tokens}"
        )
    return level_sizes


def check_ms_deform_attn_shapes(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> None:
    """The checks of :func:`check_ms_deform_attn_inputs` that need no tensor data (so they
    also run on fake tensors during tracing): ranks, dtypes and matching sizes.

    Raises:
        ValueError: naming the argument whose shape or dtype is inconsistent.
    """
    if value.dim() != 4:
        raise ValueError(f"value must be [N, S, M, D], got shape {tuple(value.shape)}")
    if spatial_shapes.dim() != 2 or spatial_shapes.shape[1] != 2:
        raise ValueError(f"spatial_shapes must be [L, 2] (H, W), got shape {tuple(spatial_shapes.shape)}")
    if spatial_shapes.dtype != torch.int64 or level_start_index.dtype != torch.int64:
        raise ValueError(
            "spatial_shapes and level_start_index must be int64, got "
            f"{spatial_shapes.dtype} and {level_start_index.dtype}"
        )
    num_levels = spatial_shapes.shape[0]
    if tuple(level_start_index.shape) != (num_levels,):
        raise ValueError(
            f"level_start_index must be [L] with L={num_levels}, got shape {tuple(level_start_index.shape)}"
        )
    batch, _, num_heads, _ = value.shape
    if sampling_locations.dim() != 6 or sampling_locations.shape[-1] != 2:
        raise ValueError(
            f"sampling_locations must be [N, Lq, M, L, P, 2], got shape {tuple(sampling_locations.shape)}"
        )
    loc_batch, num_queries, loc_heads, loc_levels, num_points, _ = sampling_locations.shape
    if (loc_batch, loc_heads, loc_levels) != (batch, num_heads, num_levels):
        raise ValueError(
            f"sampling_locations shape {tuple(sampling_locations.shape)} does not match value "
            f"(N={batch}, M={num_heads}) and spatial_shapes (L={num_levels})"
        )
    expected_weights = (batch, num_queries, num_heads, num_levels, num_points)
    if tuple(attention_weights.shape) != expected_weights:
        raise ValueError(
            f"attention_weights must have shape {expected_weights} (N, Lq, M, L, P), "
            f"got {tuple(attention_weights.shape)}"
        )


def ms_deform_attn_pytorch(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Multi-scale deformable attention with ``F.grid_sample``.

    Each query samples, for every head m, level l and point p, the value map of level l
    bilinearly at ``sampling_locations[n, q, m, l, p]`` (normalised (x, y); 0 and 1 are the
    outer edges of the map, zero outside) and sums the samples weighted by
    ``attention_weights[n, q, m, l, p]``.

    Args:
        value: ``[N, S, M, D]`` with ``S = sum_l H_l * W_l``, levels stored one after another
            in row-major (H, W) order.
        spatial_shapes: int64 ``[L, 2]``, (H, W) per level.
        level_start_index: int64 ``[L]``; only validated here (the split sizes come from
            ``spatial_shapes``).
        sampling_locations: ``[N, Lq, M, L, P, 2]``.
        attention_weights: ``[N, Lq, M, L, P]``.

    Returns:
        ``[N, Lq, M * D]`` in the dtype of ``value``.
    """
    level_sizes = check_ms_deform_attn_inputs(
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights
    )
    batch, _, num_heads, head_dim = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape

    value_per_level = value.split([height * width for height, width in level_sizes], dim=1)
    # grid_sample expects coordinates in [-1, 1]; with align_corners=False, -1 and 1 are the
    # outer pixel edges, which is what normalised 0 and 1 mean here.
    sampling_grids = (2.0 * sampling_locations - 1.0).to(value.dtype)
    sampled_per_level = []
    for level, (height, width) in enumerate(level_sizes):
        # [N, H*W, M, D] -> [N*M, D, H, W]
        level_value = value_per_level[level].flatten(2).transpose(1, 2).reshape(batch * num_heads, head_dim, height, width)
        # [N, Lq, M, P, 2] -> [N*M, Lq, P, 2]
        level_grid = sampling_grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        # [N*M, D, Lq, P]
        sampled_per_level.append(
            F.grid_sample(level_value, level_grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        )
    # [N*M, D, Lq, L*P]
    sampled = torch.stack(sampled_per_level, dim=-2).flatten(-2)
    # [N, Lq, M, L, P] -> [N*M, 1, Lq, L*P]
    weights = attention_weights.to(value.dtype).transpose(1, 2).reshape(batch * num_heads, 1, num_queries, num_levels * num_points)
    output = (sampled * weights).sum(-1).view(batch, num_heads * head_dim, num_queries)
    return output.transpose(1, 2).contiguous()


def ms_deform_attn_pytorch_backward(
    grad_output: torch.Tensor,
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`ms_deform_attn_pytorch` without autograd (the custom op's backward
    runs below the autograd dispatch): ``grid_sample``'s own backward per level, and the
    attention-weight gradient as the dot product of the upstream gradient with each sample.

    Args:
        grad_output: ``[N, Lq, M * D]``; the other arguments as in :func:`ms_deform_attn_pytorch`.

    Returns:
        ``(grad_value [N, S, M, D], grad_sampling_locations [N, Lq, M, L, P, 2],
        grad_attention_weights [N, Lq, M, L, P])`` in the dtypes of the respective inputs.
    """
    level_sizes = check_ms_deform_attn_inputs(
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights
    )
    batch, _, num_heads, head_dim = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    value_per_level = value.split([height * width for height, width in level_sizes], dim=1)
    sampling_grids = (2.0 * sampling_locations - 1.0).to(value.dtype)
    # [N, Lq, M*D] -> [N*M, D, Lq, 1]
    upstream = grad_output.to(value.dtype).view(batch, num_queries, num_heads, head_dim).permute(0, 2, 3, 1)
    upstream = upstream.reshape(batch * num_heads, head_dim, num_queries, 1)
    # [N, Lq, M, L, P] -> [N*M, 1, Lq, L, P]
    weights = attention_weights.to(value.dtype).transpose(1, 2).reshape(batch * num_heads, 1, num_queries, num_levels, num_points)
    grad_value_per_level, grad_grid_per_level, grad_weight_per_level = [], [], []
    for level, (height, width) in enumerate(level_sizes):
        level_value = value_per_level[level].flatten(2).transpose(1, 2).reshape(batch * num_heads, head_dim, height, width)
        level_grid = sampling_grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        sampled = F.grid_sample(level_value, level_grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # d output / d sampled = weight; d output / d weight = sampled.
        grad_weight_per_level.append((upstream * sampled).sum(1))  # [N*M, Lq, P]
        grad_input, grad_grid = torch.ops.aten.grid_sampler_2d_backward(
            upstream * weights[:, :, :, level], level_value, level_grid,
            0, 0, False, [True, True],  # bilinear, zeros padding, align_corners=False
        )
        # [N*M, D, H, W] -> [N, H*W, M, D]
        grad_value_per_level.append(
            grad_input.view(batch, num_heads, head_dim, height * width).permute(0, 3, 1, 2)
        )
        grad_grid_per_level.append(grad_grid)  # [N*M, Lq, P, 2]
    grad_value = torch.cat(grad_value_per_level, dim=1).to(value.dtype)
    # Grid coordinates are 2 * location - 1.
    grad_locations = 2.0 * torch.stack(grad_grid_per_level, dim=2)  # [N*M, Lq, L, P, 2]
    grad_locations = grad_locations.view(batch, num_heads, num_queries, num_levels, num_points, 2).transpose(1, 2)
    grad_weights = torch.stack(grad_weight_per_level, dim=2).view(batch, num_heads, num_queries, num_levels, num_points)
    return (
        grad_value.contiguous(),
        grad_locations.to(sampling_locations.dtype).contiguous(),
        grad_weights.transpose(1, 2).to(attention_weights.dtype).contiguous(),
    )
