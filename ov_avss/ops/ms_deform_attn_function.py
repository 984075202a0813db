"""The ``ms_deform_attn`` op: dispatch between the compiled kernel and the PyTorch path, and
the autograd Function around the kernel."""
from __future__ import annotations

import logging
from types import ModuleType

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

from .extension import get_extension
from .ms_deform_attn_pytorch import check_ms_deform_attn_inputs, ms_deform_attn_pytorch

__all__ = ["MSDA_IMPLEMENTATIONS", "MSDeformAttnFunction", "ms_deform_attn"]

logger = logging.getLogger(__name__)

MSDA_IMPLEMENTATIONS = ("auto", "cuda", "pytorch")

_logged_fallback_reasons: set[str] = set()


def _accumulate_dtype(value_dtype: torch.dtype) -> torch.dtype:
    """Dtype the kernel accumulates in and takes locations / weights in."""
    return torch.float64 if value_dtype == torch.float64 else torch.float32


class MSDeformAttnFunction(torch.autograd.Function):
    """Autograd wrapper of the compiled kernel (``ms_deform_attn_forward`` / ``_backward``).

    ``value`` may be float64, float32, float16 or bfloat16; sampling locations and attention
    weights are passed to the kernel in the accumulation dtype (float64 for float64 values,
    float32 otherwise), so under autocast a half ``value`` with float32 locations works, and
    their gradients come back in their own dtypes.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        extension: ModuleType,
        value: torch.Tensor,
        spatial_shapes: torch.Tensor,
        level_start_index: torch.Tensor,
        sampling_locations: torch.Tensor,
        attention_weights: torch.Tensor,
    ) -> torch.Tensor:
        """value ``[N, S, M, D]``, locations ``[N, Lq, M, L, P, 2]``, weights ``[N, Lq, M, L, P]``
        -> ``[N, Lq, M * D]``."""
        accumulate = _accumulate_dtype(value.dtype)
        value = value.contiguous()
        spatial_shapes = spatial_shapes.contiguous()
        level_start_index = level_start_index.contiguous()
        kernel_locations = sampling_locations.to(accumulate).contiguous()
        kernel_weights = attention_weights.to(accumulate).contiguous()
        output = extension.ms_deform_attn_forward(
            value, spatial_shapes, level_start_index, kernel_locations, kernel_weights
        )
        ctx.extension = extension
        ctx.input_dtypes = (sampling_locations.dtype, attention_weights.dtype)
        ctx.save_for_backward(value, spatial_shapes, level_start_index, kernel_locations, kernel_weights)
        return output.flatten(2)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_output: torch.Tensor):
        value, spatial_shapes, level_start_index, kernel_locations, kernel_weights = ctx.saved_tensors
        batch, num_queries = grad_output.shape[:2]
        grad_output = grad_output.to(value.dtype).reshape(batch, num_queries, value.shape[2], value.shape[3]).contiguous()
        grad_value, grad_locations, grad_weights = ctx.extension.ms_deform_attn_backward(
            value, spatial_shapes, level_start_index, kernel_locations, kernel_weights, grad_output
        )
        locations_dtype, weights_dtype = ctx.input_dtypes
        return None, grad_value, None, None, grad_locations.to(locations_dtype), grad_weights.to(weights_dtype)


def _log_fallback_once(reason: str) -> None:
    if reason not in _logged_fallback_reasons:
        _logged_fallback_reasons.add(reason)
        logger.warning("Multi-scale deformable attention falls back to the PyTorch path: %s", reason)


def ms_deform_attn(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
    impl: str = "auto",
) -> torch.Tensor:
    """Multi-scale deformable attention.

    Args:
        value: ``[N, S, M, D]`` (S = sum of H_l * W_l, M heads, D channels per head).
        spatial_shapes: int64 ``[L, 2]``, (H, W) per level.
        level_start_index: int64 ``[L]``, first token of each level in S.
        sampling_locations: ``[N, Lq, M, L, P, 2]``, normalised (x, y) in [0, 1]; bilinear
            sampling with zeros outside the map (``grid_sample``, ``align_corners=False``).
        attention_weights: ``[N, Lq, M, L, P]``.
        impl: ``"auto"``: the compiled kernel for CUDA tensors when it is available (the
            fallback to PyTorch is logged once with the reason), PyTorch otherwise;
            ``"cuda"``: the kernel, RuntimeError when it cannot run; ``"pytorch"``: PyTorch.

    Returns:
        ``[N, Lq, M * D]`` in the dtype of ``value``.
    """
    if impl not in MSDA_IMPLEMENTATIONS:
        raise ValueError(f"ms_deform_attn impl must be one of {MSDA_IMPLEMENTATIONS}, got {impl!r}")
    if impl == "pytorch" or (impl == "auto" and not value.is_cuda):
        return ms_deform_attn_pytorch(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    if not value.is_cuda:
        raise RuntimeError(f"ms_deform_attn impl='cuda' needs CUDA tensors, got value on {value.device}")
    extension, reason = get_extension()
    if extension is None:
        if impl == "cuda":
            raise RuntimeError(f"ms_deform_attn impl='cuda' but the CUDA kernel is unavailable: {reason}")
        _log_fallback_once(reason)
        return ms_deform_attn_pytorch(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    return MSDeformAttnFunction.apply(
        extension, value, spatial_shapes, level_start_index, sampling_locations, attention_weights
    )
