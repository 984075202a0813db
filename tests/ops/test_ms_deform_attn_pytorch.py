"""The PyTorch path of ms_deform_attn against a hand-written bilinear reference."""
from __future__ import annotations

import logging
import math

import pytest
import torch

from ov_avss.ops import ms_deform_attn, ms_deform_attn_pytorch, resolve_backend
from ov_avss.ops import ms_deform_attn_function as function_module

from .msda_inputs import make_msda_inputs


def naive_bilinear_sample(feature_map: torch.Tensor, loc_x: float, loc_y: float) -> torch.Tensor:
    """Sample ``feature_map [H, W, D]`` at normalised (x, y) with zeros outside, pixel centres
    at ((j + 0.5) / W, (i + 0.5) / H), computing the four corner weights by hand."""
    height, width, channels = feature_map.shape
    pixel_x = loc_x * width - 0.5
    pixel_y = loc_y * height - 0.5
    left, top = math.floor(pixel_x), math.floor(pixel_y)
    frac_x, frac_y = pixel_x - left, pixel_y - top
    result = torch.zeros(channels, dtype=feature_map.dtype)
    for row, col, weight in (
        (top, left, (1 - frac_x) * (1 - frac_y)),
        (top, left + 1, frac_x * (1 - frac_y)),
        (top + 1, left, (1 - frac_x) * frac_y),
        (top + 1, left + 1, frac_x * frac_y),
    ):
        if 0 <= row < height and 0 <= col < width:
            result += weight * feature_map[row, col]
    return result


def naive_ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Loop over every (n, q, m, l, p); output ``[N, Lq, M * D]``."""
    batch, _, num_heads, head_dim = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    output = torch.zeros(batch, num_queries, num_heads, head_dim, dtype=value.dtype)
    for n in range(batch):
        for q in range(num_queries):
            for m in range(num_heads):
                for level in range(num_levels):
                    height, width = spatial_shapes[level].tolist()
                    start = int(level_start_index[level])
                    feature_map = value[n, start : start + height * width, m].reshape(height, width, head_dim)
                    for p in range(num_points):
                        loc_x, loc_y = sampling_locations[n, q, m, level, p].tolist()
                        sample = naive_bilinear_sample(feature_map, loc_x, loc_y)
                        output[n, q, m] += attention_weights[n, q, m, level, p] * sample
    return output.flatten(2)


@pytest.mark.parametrize(
    "level_shapes,batch,num_heads,head_dim,num_points",
    [([(3, 5)], 1, 1, 2, 1), ([(4, 6), (2, 3)], 2, 2, 3, 2), ([(5, 4), (3, 2), (1, 1)], 1, 3, 2, 3)],
)
def test_pytorch_path_matches_naive_reference(level_shapes, batch, num_heads, head_dim, num_points):
    generator = torch.Generator().manual_seed(0)
    inputs = make_msda_inputs(level_shapes, batch, 4, num_heads, head_dim, num_points, generator, torch.float64)
    expected = naive_ms_deform_attn(*inputs)
    actual = ms_deform_attn_pytorch(*inputs)
    assert actual.shape == (batch, 4, num_heads * head_dim)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


def test_pixel_centre_returns_pixel_value_and_outside_is_zero():
    height, width = 3, 4
    feature = torch.arange(height * width, dtype=torch.float32).view(1, height * width, 1, 1)
    spatial_shapes = torch.tensor([[height, width]])
    level_start_index = torch.tensor([0])
    # Centre of pixel (row 1, col 2), then a point far outside the map.
    locations = torch.tensor([[(2.5 / width, 1.5 / height)], [(1.7, -0.9)]]).view(1, 2, 1, 1, 1, 2)
    weights = torch.ones(1, 2, 1, 1, 1)
    output = ms_deform_attn_pytorch(feature, spatial_shapes, level_start_index, locations, weights)
    torch.testing.assert_close(output.flatten(), torch.tensor([1 * width + 2, 0.0]))


def test_gradients_reach_all_differentiable_inputs():
    generator = torch.Generator().manual_seed(1)
    value, shapes, starts, locations, weights = make_msda_inputs([(4, 5), (2, 3)], 2, 3, 2, 4, 2, generator)
    for tensor in (value, locations, weights):
        tensor.requires_grad_(True)
    ms_deform_attn_pytorch(value, shapes, starts, locations, weights).square().sum().backward()
    for name, tensor in (("value", value), ("sampling_locations", locations), ("attention_weights", weights)):
        assert tensor.grad is not None, name
        assert torch.isfinite(tensor.grad).all(), name
        assert tensor.grad.abs().sum() > 0, name


def test_auto_on_cpu_runs_the_cpu_default(monkeypatch):
    monkeypatch.setattr(function_module, "CPU_DEFAULT_BACKEND", "pytorch")
    assert resolve_backend(torch.device("cpu"), "auto") == "pytorch"
    assert resolve_backend(torch.device("cpu"), "pytorch") == "pytorch"


def test_unavailable_kernel_falls_back_or_raises(monkeypatch, caplog):
    monkeypatch.setattr(function_module, "CPU_DEFAULT_BACKEND", "kernel")
    monkeypatch.setattr(function_module, "get_cpu_extension", lambda: (None, "no compiler in this test"))
    inputs = make_msda_inputs([(2, 2)], 1, 1, 1, 2, 1, torch.Generator().manual_seed(3))
    with pytest.raises(RuntimeError, match="impl='kernel' but the kernel is unavailable on cpu: no compiler"):
        ms_deform_attn(*inputs, impl="kernel")
    with caplog.at_level(logging.WARNING, logger=function_module.__name__):
        output = ms_deform_attn(*inputs, impl="auto")
    assert "falls back to the PyTorch path: no compiler in this test" in caplog.text
    torch.testing.assert_close(output, ms_deform_attn_pytorch(*inputs))


def test_unknown_impl_raises():
    inputs = make_msda_inputs([(2, 2)], 1, 1, 1, 2, 1, torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="impl must be one of"):
        ms_deform_attn(*inputs, impl="triton")


def test_inconsistent_shapes_name_the_argument():
    value, shapes, starts, locations, weights = make_msda_inputs(
        [(3, 4), (2, 2)], 1, 2, 2, 2, 2, torch.Generator().manual_seed(4)
    )
    with pytest.raises(ValueError, match="spatial_shapes .* sum to"):
        ms_deform_attn_pytorch(value[:, :-1], shapes, starts, locations, weights)
    with pytest.raises(ValueError, match="attention_weights must have shape"):
        ms_deform_attn_pytorch(value, shapes, starts, locations, weights[..., :1])
    with pytest.raises(ValueError, match="int64"):
        ms_deform_attn_pytorch(value, shapes.int(), starts, locations, weights)
