"""The MSDeformAttn layer: shapes, Deformable-DETR initialisation, argument checks."""
from __future__ import annotations

import math

import pytest
import torch

from ov_avss.ops import MSDeformAttn


def _level_inputs(level_shapes: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor, int]:
    spatial_shapes = torch.tensor(level_shapes, dtype=torch.int64)
    sizes = spatial_shapes.prod(1)
    return spatial_shapes, torch.cat([sizes.new_zeros(1), sizes.cumsum(0)[:-1]]), int(sizes.sum())


def test_parameter_names_and_shapes():
    layer = MSDeformAttn(d_model=32, n_levels=3, n_heads=4, n_points=2)
    shapes = {name: tuple(p.shape) for name, p in layer.named_parameters()}
    assert shapes == {
        "sampling_offsets.weight": (4 * 3 * 2 * 2, 32),
        "sampling_offsets.bias": (4 * 3 * 2 * 2,),
        "attention_weights.weight": (4 * 3 * 2, 32),
        "attention_weights.bias": (4 * 3 * 2,),
        "value_proj.weight": (32, 32),
        "value_proj.bias": (32,),
        "output_proj.weight": (32, 32),
        "output_proj.bias": (32,),
    }


def test_deformable_detr_initialisation():
    n_heads, n_levels, n_points = 8, 3, 4
    layer = MSDeformAttn(d_model=64, n_levels=n_levels, n_heads=n_heads, n_points=n_points)
    assert torch.count_nonzero(layer.sampling_offsets.weight) == 0
    assert torch.count_nonzero(layer.attention_weights.weight) == 0
    assert torch.count_nonzero(layer.attention_weights.bias) == 0
    assert torch.count_nonzero(layer.value_proj.bias) == 0
    assert torch.count_nonzero(layer.output_proj.bias) == 0
    offsets = layer.sampling_offsets.bias.detach().view(n_heads, n_levels, n_points, 2)
    for head in range(n_heads):
        angle = 2 * math.pi * head / n_heads
        direction = torch.tensor([math.cos(angle), math.sin(angle)])
        direction = direction / direction.abs().max()
        for point in range(n_points):
            for level in range(n_levels):
                torch.testing.assert_close(offsets[head, level, point], direction * (point + 1))
    # Xavier-uniform bound for a square d x d matrix is sqrt(6 / (2 d)).
    bound = math.sqrt(6.0 / (2 * 64))
    assert layer.value_proj.weight.abs().max() <= bound
    assert layer.value_proj.weight.std() > bound / 4


@pytest.mark.parametrize("reference_dim", [2, 4])
def test_forward_shape(reference_dim):
    torch.manual_seed(0)
    layer = MSDeformAttn(d_model=16, n_levels=2, n_heads=2, n_points=3, impl="pytorch")
    spatial_shapes, level_start_index, num_tokens = _level_inputs([(4, 5), (2, 3)])
    tokens = torch.randn(2, num_tokens, 16)
    reference_points = torch.rand(2, num_tokens, 2, reference_dim)
    output = layer(tokens, reference_points, tokens, spatial_shapes, level_start_index)
    assert output.shape == (2, num_tokens, 16)
    assert torch.isfinite(output).all()


def test_padding_mask_removes_padded_tokens():
    torch.manual_seed(1)
    layer = MSDeformAttn(d_model=8, n_levels=1, n_heads=2, n_points=2, impl="pytorch")
    spatial_shapes, level_start_index, num_tokens = _level_inputs([(3, 4)])
    tokens = torch.randn(1, num_tokens, 8)
    query = torch.randn(1, 5, 8)
    reference_points = torch.rand(1, 5, 1, 2)
    padding_mask = torch.zeros(1, num_tokens, dtype=torch.bool)
    padding_mask[:, -4:] = True  # the last row of the map is padding
    masked = layer(query, reference_points, tokens, spatial_shapes, level_start_index, padding_mask)
    changed_padding = tokens.clone()
    changed_padding[:, -4:] += 100.0
    masked_changed = layer(query, reference_points, changed_padding, spatial_shapes, level_start_index, padding_mask)
    unmasked_changed = layer(query, reference_points, changed_padding, spatial_shapes, level_start_index)
    torch.testing.assert_close(masked, masked_changed)
    assert not torch.allclose(masked, unmasked_changed)


def test_d_model_not_divisible_by_heads_raises():
    with pytest.raises(ValueError, match=r"d_model \(30\) must be divisible by n_heads \(8\)"):
        MSDeformAttn(d_model=30, n_heads=8)


def test_unknown_impl_raises():
    with pytest.raises(ValueError, match="impl must be one of"):
        MSDeformAttn(d_model=16, n_heads=2, impl="fast")


def test_wrong_reference_points_shape_raises():
    layer = MSDeformAttn(d_model=8, n_levels=2, n_heads=2, n_points=1, impl="pytorch")
    spatial_shapes, level_start_index, num_tokens = _level_inputs([(2, 2), (1, 1)])
    tokens = torch.randn(1, num_tokens, 8)
    with pytest.raises(ValueError, match="reference_points must be"):
        layer(tokens, torch.rand(1, num_tokens, 1, 2), tokens, spatial_shapes, level_start_index)
