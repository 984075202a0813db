"""Checks of the compiled kernel (the op with ``impl="kernel"``) against the PyTorch path,
shared by the CPU build test and the GPU tests: both run the same per-sample math
(csrc/ms_deform_attn_sampling.h). Callers make sure the kernel is built first."""
from __future__ import annotations

import random

import torch

from ov_avss.ops import ms_deform_attn, ms_deform_attn_pytorch

from .msda_inputs import make_msda_inputs

# Tolerances for half types. The reference runs the PyTorch path in float64 on the *same*
# rounded inputs (value and upstream gradient rounded to the half type), and the kernel
# accumulates in float32, so what remains is (a) rounding the float32 result to the half type,
# half an ulp: 2^-11 relative for float16, 2^-8 for bfloat16, and (b) float32 summation error,
# orders of magnitude smaller. Outputs are convex combinations of N(0, 1) values, |out| < 5,
# so 2^-11 * 5 ~ 2.4e-3 (float16) and 2^-8 * 5 ~ 2e-2 (bfloat16) bound the absolute error.
HALF_TOLERANCES = {
    torch.float16: {"rtol": 2.0**-10, "atol": 2.5e-3},
    torch.bfloat16: {"rtol": 2.0**-7, "atol": 2e-2},
}


def random_case(seed: int) -> dict:
    """A random problem: 1-4 levels of odd sizes, 1-8 heads, 1-8 points, batch 1-3."""
    rng = random.Random(seed)
    return {
        "level_shapes": [(rng.randint(1, 13), rng.randint(1, 13)) for _ in range(rng.randint(1, 4))],
        "batch": rng.randint(1, 3),
        "num_queries": rng.randint(1, 37),
        "num_heads": rng.randint(1, 8),
        "head_dim": rng.choice([1, 3, 8, 32, 45]),
        "num_points": rng.randint(1, 8),
    }


def _kernel_and_reference(
    device: torch.device, case: dict, value_dtype: torch.dtype, seed: int
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """(output, grad_value, grad_locations, grad_weights) of the kernel with ``value_dtype``
    values and of the float64 PyTorch path on the same (rounded) inputs."""
    generator = torch.Generator().manual_seed(seed)
    value, shapes, starts, locations, weights = make_msda_inputs(generator=generator, **case)
    value = value.to(value_dtype)
    num_queries = locations.shape[1]
    grad_output = torch.randn(value.shape[0], num_queries, value.shape[2] * value.shape[3], generator=generator)
    grad_output = grad_output.to(value_dtype)

    def run(function, dtype: torch.dtype, location_dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        leaves = [
            value.to(device=device, dtype=dtype, copy=True).requires_grad_(True),
            locations.to(device=device, dtype=location_dtype, copy=True).requires_grad_(True),
            weights.to(device=device, dtype=location_dtype, copy=True).requires_grad_(True),
        ]
        output = function(leaves[0], shapes.to(device), starts.to(device), leaves[1], leaves[2])
        output.backward(grad_output.to(device=device, dtype=dtype))
        return tuple(t.detach().cpu().double() for t in (output, leaves[0].grad, leaves[1].grad, leaves[2].grad))

    def kernel(*args):
        return ms_deform_attn(*args, impl="kernel")

    return run(kernel, value_dtype, torch.float32), run(ms_deform_attn_pytorch, torch.float64, torch.float64)


def check_matches_pytorch_float32(device: torch.device, seed: int) -> None:
    """Forward within 1e-5 of the reference; gradients within float32 summation error."""
    case = random_case(seed)
    kernel, reference = _kernel_and_reference(device, case, torch.float32, seed)
    names = ("output", "grad_value", "grad_sampling_locations", "grad_attention_weights")
    torch.testing.assert_close(kernel[0], reference[0], rtol=1e-5, atol=1e-5, msg=lambda m: f"output {case}: {m}")
    # Location gradients scale with the map size (d pixel / d normalised = W or H, up to 13)
    # and sum up to D * 4 products, hence the looser bound than the forward pass.
    for name, actual, expected in zip(names[1:], kernel[1:], reference[1:]):
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4, msg=lambda m, n=name: f"{n} {case}: {m}")


def check_half_precision(device: torch.device, dtype: torch.dtype, seed: int) -> None:
    case = random_case(seed)
    kernel, reference = _kernel_and_reference(device, case, dtype, seed)
    tolerance = HALF_TOLERANCES[dtype]
    torch.testing.assert_close(kernel[0], reference[0], **tolerance)
    torch.testing.assert_close(kernel[1], reference[1], **tolerance)
    # Location and weight gradients stay in float32 (only the inputs were rounded).
    torch.testing.assert_close(kernel[2], reference[2], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(kernel[3], reference[3], rtol=1e-4, atol=1e-4)


def check_gradcheck_float64(device: torch.device) -> None:
    generator = torch.Generator().manual_seed(7)
    # Locations well inside (0, 1) keep every finite-difference step off the pixel grid lines,
    # where bilinear interpolation is not differentiable.
    value, shapes, starts, locations, weights = make_msda_inputs(
        [(3, 5), (2, 3)], 2, 3, 2, 4, 2, generator, torch.float64, location_margin=-0.05
    )
    inputs = (
        value.to(device).requires_grad_(True),
        shapes.to(device),
        starts.to(device),
        locations.to(device).requires_grad_(True),
        weights.to(device).requires_grad_(True),
    )
    assert torch.autograd.gradcheck(
        lambda *args: ms_deform_attn(*args, impl="kernel"), inputs, eps=1e-6, atol=1e-5, rtol=1e-4
    )
