"""The ``ms_deform_attn`` op: ``torch.ops.ov_avss.ms_deform_attn`` registered with
``torch.library`` (CPU and CUDA implementations, a fake implementation for tracing, and its
autograd formula through ``torch.ops.ov_avss.ms_deform_attn_backward``), and the Python
function the layer calls.

Both implementations run either our compiled kernel or the PyTorch ``grid_sample`` path; the
choice (``impl``) is an argument of the op, so ``torch.compile`` sees one opaque node either way
and never breaks the graph at it.
"""
from __future__ import annotations

import logging
from types import ModuleType

import torch

from .extension import get_cpu_extension, get_extension
from .ms_deform_attn_pytorch import (
    check_ms_deform_attn_inputs,
    check_ms_deform_attn_shapes,
    ms_deform_attn_pytorch,
    ms_deform_attn_pytorch_backward,
)

__all__ = ["CPU_DEFAULT_BACKEND", "MSDA_IMPLEMENTATIONS", "ms_deform_attn", "resolve_backend"]

logger = logging.getLogger(__name__)

MSDA_IMPLEMENTATIONS = ("auto", "kernel", "pytorch")
# What "auto" runs on CPU tensors: our C++ kernel, measured 1.9-4.4x faster than the PyTorch
# path forward and 1.5-3.6x forward+backward at the R50 and Swin-B shapes (docs/benchmarks.md).
CPU_DEFAULT_BACKEND = "kernel"

_logged_fallback_reasons: set[str] = set()


def _log_fallback_once(reason: str) -> None:
    if reason not in _logged_fallback_reasons:
        _logged_fallback_reasons.add(reason)
        logger.warning("Multi-scale deformable attention falls back to the PyTorch path: %s", reason)


def _kernel_extension(device: torch.device) -> tuple[ModuleType | None, str | None]:
    """The compiled extension able to run on ``device`` (CUDA: the CUDA build; CPU: any build,
    the CPU-only one compiled on first use), or None and why not."""
    if device.type == "cuda":
        return get_extension()
    if device.type == "cpu":
        return get_cpu_extension()
    return None, f"the kernel has no implementation for {device.type} tensors"


def resolve_backend(device: torch.device, impl: str) -> str:
    """``"kernel"`` or ``"pytorch"``: what ``impl`` runs for tensors on ``device``.

    ``"auto"`` takes the kernel on CUDA and ``CPU_DEFAULT_BACKEND`` on CPU, falling back to
    the PyTorch path (logged once, with the reason) when the kernel is unavailable;
    ``"kernel"`` raises RuntimeError in that case.
    """
    if impl not in MSDA_IMPLEMENTATIONS:
        raise ValueError(f"ms_deform_attn impl must be one of {MSDA_IMPLEMENTATIONS}, got {impl!r}")
    if impl == "pytorch" or (impl == "auto" and device.type == "cpu" and CPU_DEFAULT_BACKEND == "pytorch"):
        return "pytorch"
    extension, reason = _kernel_extension(device)
    if extension is not None:
        return "kernel"
    if impl == "kernel":
        raise RuntimeError(f"ms_deform_attn impl='kernel' but the kernel is unavailable on {device}: {reason}")
    _log_fallback_once(reason)
    return "pytorch"


def _accumulate_dtype(value_dtype: torch.dtype) -> torch.dtype:
    """Dtype the kernel accumulates in and takes locations / weights in."""
    return torch.float64 if value_dtype == torch.float64 else torch.float32


@torch.library.custom_op("ov_avss::ms_deform_attn", mutates_args=(), device_types=("cpu", "cuda"))
def _ms_deform_attn_op(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
    impl: str,
) -> torch.Tensor:
    # Autocast must not recast inside (grid_sample is on its float32 list): the output dtype
    # is value's, as the fake implementation promises.
    with torch.autocast(value.device.type, enabled=False):
        if resolve_backend(value.device, impl) == "pytorch":
            return ms_deform_attn_pytorch(
                value, spatial_shapes, level_start_index, sampling_locations, attention_weights
            )
        check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
        extension, _ = _kernel_extension(value.device)
        accumulate = _accumulate_dtype(value.dtype)
        output = extension.ms_deform_attn_forward(
            value.contiguous(),
            spatial_shapes.contiguous(),
            level_start_index.contiguous(),
            sampling_locations.to(accumulate).contiguous(),
            attention_weights.to(accumulate).contiguous(),
        )
        return output.flatten(2)


@_ms_deform_attn_op.register_fake
def _ms_deform_attn_fake(value, spatial_shapes, level_start_index, sampling_locations, attention_weights, impl):
    check_ms_deform_attn_shapes(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    batch, _, num_heads, head_dim = value.shape
    return value.new_empty(batch, sampling_locations.shape[1], num_heads * head_dim)


@torch.library.custom_op("ov_avss::ms_deform_attn_backward", mutates_args=(), device_types=("cpu", "cuda"))
def _ms_deform_attn_backward_op(
    grad_output: torch.Tensor,
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
    impl: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with torch.autocast(value.device.type, enabled=False):
        if resolve_backend(value.device, impl) == "pytorch":
            return ms_deform_attn_pytorch_backward(
                grad_output, value, spatial_shapes, level_start_index, sampling_locations, attention_weights
            )
        extension, _ = _kernel_extension(value.device)
        accumulate = _accumulate_dtype(value.dtype)
        batch, num_queries = grad_output.shape[:2]
        grad_value, grad_locations, grad_weights = extension.ms_deform_attn_backward(
            value.contiguous(),
            spatial_shapes.contiguous(),
            level_start_index.contiguous(),
            sampling_locations.to(accumulate).contiguous(),
            attention_weights.to(accumulate).contiguous(),
            grad_output.to(value.dtype).reshape(batch, num_queries, value.shape[2], value.shape[3]).contiguous(),
        )
        return grad_value, grad_locations.to(sampling_locations.dtype), grad_weights.to(attention_weights.dtype)


@_ms_deform_attn_backward_op.register_fake
def _ms_deform_attn_backward_fake(
    grad_output, value, spatial_shapes, level_start_index, sampling_locations, attention_weights, impl
):
    return torch.empty_like(value), torch.empty_like(sampling_locations), torch.empty_like(attention_weights)


def _setup_context(ctx, inputs, output) -> None:
    value, spatial_shapes, level_start_index, sampling_locations, attention_weights, impl = inputs
    ctx.save_for_backward(value, spatial_shapes, level_start_index, sampling_locations, attention_weights)
    ctx.impl = impl


def _backward(ctx, grad_output: torch.Tensor):
    value, spatial_shapes, level_start_index, sampling_locations, attention_weights = ctx.saved_tensors
    grad_value, grad_locations, grad_weights = torch.ops.ov_avss.ms_deform_attn_backward(
        grad_output, value, spatial_shapes, level_start_index, sampling_locations, attention_weights, ctx.impl
    )
    return grad_value, None, None, grad_locations, grad_weights, None


_ms_deform_attn_op.register_autograd(_backward, setup_context=_setup_context)


def ms_deform_attn(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
    impl: str = "auto",
) -> torch.Tensor:
    """Multi-scale deformable attention (``torch.ops.ov_avss.ms_deform_attn``).

    Args:
        value: ``[N, S, M, D]`` (S = sum of H_l * W_l, M heads, D channels per head), float64,
            float32, float16 or bfloat16.
        spatial_shapes: int64 ``[L, 2]``, (H, W) per level.
        level_start_index: int64 ``[L]``, first token of each level in S.
        sampling_locations: ``[N, Lq, M, L, P, 2]``, normalised (x, y) in [0, 1]; bilinear
            sampling with zeros outside the map (``grid_sample``, ``align_corners=False``).
        attention_weights: ``[N, Lq, M, L, P]``.
        impl: ``"auto"``: our compiled kernel on CUDA, ``CPU_DEFAULT_BACKEND`` on CPU, the
            PyTorch path when the kernel is unavailable (logged once with the reason);
            ``"kernel"``: the kernel, RuntimeError when it cannot run; ``"pytorch"``: the
            PyTorch path.

    Returns:
        ``[N, Lq, M * D]`` in the dtype of ``value``; gradients flow to ``value``,
        ``sampling_locations`` and ``attention_weights`` in their own dtypes.
    """
    if impl not in MSDA_IMPLEMENTATIONS:
        raise ValueError(f"ms_deform_attn impl must be one of {MSDA_IMPLEMENTATIONS}, got {impl!r}")
    return torch.ops.ov_avss.ms_deform_attn(
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights, impl
    )
