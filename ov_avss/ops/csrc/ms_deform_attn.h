// Multi-scale deformable attention: forward and backward on CUDA and CPU.
//
// Shapes: value [N, S, M, D]; spatial_shapes int64 [L, 2] (H, W); level_start_index int64 [L];
// sampling_locations [N, Lq, M, L, P, 2] normalised (x, y); attention_weights [N, Lq, M, L, P];
// output [N, Lq, M, D]. value may be float64, float32, float16 or bfloat16; sampling
// locations and attention weights are in the accumulation type (float64 for float64 values,
// float32 otherwise).
#pragma once

#include <torch/extension.h>

#include <vector>

namespace ov_avss {

at::Tensor ms_deform_attn_forward_cuda(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights);

// Returns {grad_value (dtype of value), grad_sampling_locations, grad_attention_weights}.
std::vector<at::Tensor> ms_deform_attn_backward_cuda(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights,
    const at::Tensor& grad_output);

at::Tensor ms_deform_attn_forward_cpu(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights);

std::vector<at::Tensor> ms_deform_attn_backward_cpu(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights,
    const at::Tensor& grad_output);

}  // namespace ov_avss
