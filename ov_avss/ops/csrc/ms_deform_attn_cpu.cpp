// CPU loops for multi-scale deformable attention. They run the same per-sample math as the
// CUDA kernels (ms_deform_attn_sampling.h), so that math is tested on machines without a GPU,
// and they are the op's CPU implementation where measured faster than the PyTorch path
// (docs/benchmarks.md). Forward: rows (n, q, m) in parallel. Backward: (n, m) pairs in
// parallel, each pair's queries serially, so no two threads add into the same value gradient.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <vector>

#include "ms_deform_attn.h"
#include "ms_deform_attn_sampling.h"

namespace ov_avss {

at::Tensor ms_deform_attn_forward_cpu(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights) {
  const int64_t batch = value.size(0);
  const int64_t num_tokens = value.size(1);
  const int64_t num_heads = value.size(2);
  const int64_t head_dim = value.size(3);
  const int64_t num_queries = sampling_locations.size(1);
  const int64_t num_levels = sampling_locations.size(3);
  const int64_t num_points = sampling_locations.size(4);
  const int64_t token_stride = num_heads * head_dim;
  at::Tensor output = at::zeros({batch, num_queries, num_heads, head_dim}, value.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(), "ms_deform_attn_forward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* value_data = value.data_ptr<scalar_t>();
    const int64_t* shapes = spatial_shapes.data_ptr<int64_t>();
    const int64_t* starts = level_start_index.data_ptr<int64_t>();
    const acc_t* locations = sampling_locations.data_ptr<acc_t>();
    const acc_t* weights = attention_weights.data_ptr<acc_t>();
    scalar_t* output_data = output.data_ptr<scalar_t>();
    at::parallel_for(0, batch * num_queries * num_heads, 16, [&](int64_t begin, int64_t end) {
      std::vector<acc_t> result(head_dim);
      for (int64_t row = begin; row < end; ++row) {  // row = (n*Lq + q)*M + m
        const int64_t head = row % num_heads;
        const int64_t n = row / (num_heads * num_queries);
        const int64_t head_offset = n * num_tokens * token_stride + head * head_dim;
        std::fill(result.begin(), result.end(), acc_t(0));
        for (int64_t level = 0; level < num_levels; ++level) {
          const int64_t height = shapes[2 * level];
          const int64_t width = shapes[2 * level + 1];
          const int64_t level_offset = head_offset + starts[level] * token_stride;
          for (int64_t point = 0; point < num_points; ++point) {
            const int64_t sample = (row * num_levels + level) * num_points + point;
            const BilinearCorners<acc_t> corners =
                bilinear_corners<acc_t>(locations[2 * sample], locations[2 * sample + 1], height, width);
            for (int corner = 0; corner < 4; ++corner) {
              if (!corners.inside[corner]) {
                continue;
              }
              const acc_t scale = weights[sample] * corners.weight[corner];
              const scalar_t* corner_value = value_data + level_offset + corners.token[corner] * token_stride;
              for (int64_t channel = 0; channel < head_dim; ++channel) {
                result[channel] += scale * static_cast<acc_t>(corner_value[channel]);
              }
            }
          }
        }
        for (int64_t channel = 0; channel < head_dim; ++channel) {
          output_data[row * head_dim + channel] = static_cast<scalar_t>(result[channel]);
        }
      }
    });
  });
  return output;
}

std::vector<at::Tensor> ms_deform_attn_backward_cpu(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights,
    const at::Tensor& grad_output) {
  const int64_t batch = value.size(0);
  const int64_t num_tokens = value.size(1);
  const int64_t num_heads = value.size(2);
  const int64_t head_dim = value.size(3);
  const int64_t num_queries = sampling_locations.size(1);
  const int64_t num_levels = sampling_locations.size(3);
  const int64_t num_points = sampling_locations.size(4);
  const int64_t token_stride = num_heads * head_dim;
  at::Tensor grad_value_acc = at::zeros(value.sizes(), value.options().dtype(sampling_locations.scalar_type()));
  at::Tensor grad_sampling_locations = at::zeros_like(sampling_locations);
  at::Tensor grad_attention_weights = at::zeros_like(attention_weights);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(), "ms_deform_attn_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* value_data = value.data_ptr<scalar_t>();
    const int64_t* shapes = spatial_shapes.data_ptr<int64_t>();
    const int64_t* starts = level_start_index.data_ptr<int64_t>();
    const acc_t* locations = sampling_locations.data_ptr<acc_t>();
    const acc_t* weights = attention_weights.data_ptr<acc_t>();
    const scalar_t* upstream_data = grad_output.data_ptr<scalar_t>();
    acc_t* grad_value_data = grad_value_acc.data_ptr<acc_t>();
    acc_t* grad_locations = grad_sampling_locations.data_ptr<acc_t>();
    acc_t* grad_weights = grad_attention_weights.data_ptr<acc_t>();
    at::parallel_for(0, batch * num_heads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t pair = begin; pair < end; ++pair) {  // pair = n*M + m
        const int64_t head = pair % num_heads;
        const int64_t n = pair / num_heads;
        const int64_t head_offset = n * num_tokens * token_stride + head * head_dim;
        for (int64_t query = 0; query < num_queries; ++query) {
          const int64_t row = (n * num_queries + query) * num_heads + head;
          const scalar_t* upstream = upstream_data + row * head_dim;
          for (int64_t level = 0; level < num_levels; ++level) {
            const int64_t height = shapes[2 * level];
            const int64_t width = shapes[2 * level + 1];
            const int64_t level_offset = head_offset + starts[level] * token_stride;
            for (int64_t point = 0; point < num_points; ++point) {
              const int64_t sample = (row * num_levels + level) * num_points + point;
              const acc_t weight = weights[sample];
              const BilinearCorners<acc_t> corners =
                  bilinear_corners<acc_t>(locations[2 * sample], locations[2 * sample + 1], height, width);
              acc_t weight_grad = 0;
              acc_t dx = 0;
              acc_t dy = 0;
              for (int corner = 0; corner < 4; ++corner) {
                if (!corners.inside[corner]) {
                  continue;
                }
                const int64_t corner_offset = level_offset + corners.token[corner] * token_stride;
                for (int64_t channel = 0; channel < head_dim; ++channel) {
                  const acc_t grad = static_cast<acc_t>(upstream[channel]);
                  const acc_t corner_value = static_cast<acc_t>(value_data[corner_offset + channel]);
                  weight_grad += grad * corners.weight[corner] * corner_value;
                  dx += grad * corners.dweight_dx[corner] * corner_value;
                  dy += grad * corners.dweight_dy[corner] * corner_value;
                  grad_value_data[corner_offset + channel] += grad * weight * corners.weight[corner];
                }
              }
              grad_weights[sample] = weight_grad;
              grad_locations[2 * sample] = weight * dx * static_cast<acc_t>(width);
              grad_locations[2 * sample + 1] = weight * dy * static_cast<acc_t>(height);
            }
          }
        }
      }
    });
  });
  return {grad_value_acc.to(value.scalar_type()), grad_sampling_locations, grad_attention_weights};
}

}  // namespace ov_avss
