// CUDA kernels for multi-scale deformable attention (written for ov_avss).
//
// Forward: one thread per output element (n, q, m, d), so neighbouring threads read
// neighbouring channels of the same value token (coalesced).
// Backward: one warp per (n, q, m); lanes stride over the D channels, accumulate their share
// of the attention-weight and location gradients and reduce them with warp shuffles, so each
// (n, q, m, l, p) gradient is written by exactly one lane without atomics. Value gradients are
// scattered with atomicAdd into a buffer in the accumulation type (float32 for half types).
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include <algorithm>

#include "ms_deform_attn.h"
#include "ms_deform_attn_sampling.h"

namespace ov_avss {
namespace {

constexpr int kThreadsPerBlock = 256;
constexpr int kWarpSize = 32;
// Grid-stride loops cover any problem size; this caps the launch at a size that fills
// every current GPU many times over.
constexpr int64_t kMaxBlocks = 65535;

int64_t num_blocks_for(int64_t num_threads) {
  return std::max<int64_t>(1, std::min<int64_t>((num_threads + kThreadsPerBlock - 1) / kThreadsPerBlock, kMaxBlocks));
}

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t partial) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    partial += __shfl_down_sync(0xffffffffu, partial, offset);
  }
  return partial;
}

template <typename scalar_t, typename acc_t>
__global__ void ms_deform_attn_forward_kernel(
    const scalar_t* __restrict__ value, const int64_t* __restrict__ spatial_shapes,
    const int64_t* __restrict__ level_start_index, const acc_t* __restrict__ sampling_locations,
    const acc_t* __restrict__ attention_weights, scalar_t* __restrict__ output, int64_t batch,
    int64_t num_tokens, int64_t num_heads, int64_t head_dim, int64_t num_queries,
    int64_t num_levels, int64_t num_points) {
  const int64_t total = batch * num_queries * num_heads * head_dim;
  const int64_t token_stride = num_heads * head_dim;
  for (int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; index < total;
       index += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t channel = index % head_dim;
    const int64_t head = (index / head_dim) % num_heads;
    const int64_t query_row = index / token_stride;  // n * Lq + q
    const int64_t n = query_row / num_queries;
    const int64_t sample_base = (query_row * num_heads + head) * num_levels * num_points;
    const scalar_t* value_head = value + n * num_tokens * token_stride + head * head_dim + channel;

    acc_t result = 0;
    for (int64_t level = 0; level < num_levels; ++level) {
      const int64_t height = spatial_shapes[2 * level];
      const int64_t width = spatial_shapes[2 * level + 1];
      const scalar_t* value_level = value_head + level_start_index[level] * token_stride;
      for (int64_t point = 0; point < num_points; ++point) {
        const int64_t sample = sample_base + level * num_points + point;
        const BilinearCorners<acc_t> corners = bilinear_corners<acc_t>(
            sampling_locations[2 * sample], sampling_locations[2 * sample + 1], height, width);
        acc_t sampled = 0;
#pragma unroll
        for (int corner = 0; corner < 4; ++corner) {
          if (corners.inside[corner]) {
            sampled += corners.weight[corner] *
                static_cast<acc_t>(value_level[corners.token[corner] * token_stride]);
          }
        }
        result += attention_weights[sample] * sampled;
      }
    }
    output[index] = static_cast<scalar_t>(result);
  }
}

template <typename scalar_t, typename acc_t>
__global__ void ms_deform_attn_backward_kernel(
    const scalar_t* __restrict__ value, const int64_t* __restrict__ spatial_shapes,
    const int64_t* __restrict__ level_start_index, const acc_t* __restrict__ sampling_locations,
    const acc_t* __restrict__ attention_weights, const scalar_t* __restrict__ grad_output,
    acc_t* __restrict__ grad_value, acc_t* __restrict__ grad_sampling_locations,
    acc_t* __restrict__ grad_attention_weights, int64_t batch, int64_t num_tokens,
    int64_t num_heads, int64_t head_dim, int64_t num_queries, int64_t num_levels,
    int64_t num_points) {
  const int64_t total_warps = batch * num_queries * num_heads;
  const int64_t token_stride = num_heads * head_dim;
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps_per_grid = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarpSize);
  // The loop bound is the same for every lane of a warp, so whole warps enter and leave
  // together, as the full-mask shuffles require.
  for (int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarpSize;
       warp < total_warps; warp += warps_per_grid) {
    const int64_t head = warp % num_heads;
    const int64_t query_row = warp / num_heads;  // n * Lq + q
    const int64_t n = query_row / num_queries;
    const int64_t sample_base = warp * num_levels * num_points;
    const int64_t head_offset = n * num_tokens * token_stride + head * head_dim;
    const scalar_t* grad_output_head = grad_output + warp * head_dim;

    for (int64_t level = 0; level < num_levels; ++level) {
      const int64_t height = spatial_shapes[2 * level];
      const int64_t width = spatial_shapes[2 * level + 1];
      const int64_t level_offset = head_offset + level_start_index[level] * token_stride;
      for (int64_t point = 0; point < num_points; ++point) {
        const int64_t sample = sample_base + level * num_points + point;
        const acc_t weight = attention_weights[sample];
        const BilinearCorners<acc_t> corners = bilinear_corners<acc_t>(
            sampling_locations[2 * sample], sampling_locations[2 * sample + 1], height, width);
        acc_t partial_weight_grad = 0;
        acc_t partial_dx = 0;
        acc_t partial_dy = 0;
        for (int64_t channel = lane; channel < head_dim; channel += kWarpSize) {
          const acc_t upstream = static_cast<acc_t>(grad_output_head[channel]);
#pragma unroll
          for (int corner = 0; corner < 4; ++corner) {
            if (corners.inside[corner]) {
              const int64_t offset = level_offset + corners.token[corner] * token_stride + channel;
              const acc_t corner_value = static_cast<acc_t>(value[offset]);
              partial_weight_grad += upstream * corners.weight[corner] * corner_value;
              partial_dx += upstream * corners.dweight_dx[corner] * corner_value;
              partial_dy += upstream * corners.dweight_dy[corner] * corner_value;
              atomicAdd(grad_value + offset, upstream * weight * corners.weight[corner]);
            }
          }
        }
        const acc_t weight_grad = warp_sum(partial_weight_grad);
        const acc_t dx = warp_sum(partial_dx);
        const acc_t dy = warp_sum(partial_dy);
        if (lane == 0) {
          grad_attention_weights[sample] = weight_grad;
          // d(pixel x)/d(normalised x) = W and d(pixel y)/d(normalised y) = H.
          grad_sampling_locations[2 * sample] = weight * dx * static_cast<acc_t>(width);
          grad_sampling_locations[2 * sample + 1] = weight * dy * static_cast<acc_t>(height);
        }
      }
    }
  }
}

}  // namespace

at::Tensor ms_deform_attn_forward_cuda(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights) {
  const c10::cuda::CUDAGuard device_guard(value.device());
  const int64_t batch = value.size(0);
  const int64_t num_tokens = value.size(1);
  const int64_t num_heads = value.size(2);
  const int64_t head_dim = value.size(3);
  const int64_t num_queries = sampling_locations.size(1);
  const int64_t num_levels = sampling_locations.size(3);
  const int64_t num_points = sampling_locations.size(4);
  at::Tensor output = at::empty({batch, num_queries, num_heads, head_dim}, value.options());
  const int64_t total = output.numel();
  if (total == 0) {
    return output;
  }
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(), "ms_deform_attn_forward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    ms_deform_attn_forward_kernel<scalar_t, acc_t><<<num_blocks_for(total), kThreadsPerBlock, 0, stream>>>(
        value.data_ptr<scalar_t>(), spatial_shapes.data_ptr<int64_t>(),
        level_start_index.data_ptr<int64_t>(), sampling_locations.data_ptr<acc_t>(),
        attention_weights.data_ptr<acc_t>(), output.data_ptr<scalar_t>(), batch, num_tokens,
        num_heads, head_dim, num_queries, num_levels, num_points);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return output;
}

std::vector<at::Tensor> ms_deform_attn_backward_cuda(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights,
    const at::Tensor& grad_output) {
  const c10::cuda::CUDAGuard device_guard(value.device());
  const int64_t batch = value.size(0);
  const int64_t num_tokens = value.size(1);
  const int64_t num_heads = value.size(2);
  const int64_t head_dim = value.size(3);
  const int64_t num_queries = sampling_locations.size(1);
  const int64_t num_levels = sampling_locations.size(3);
  const int64_t num_points = sampling_locations.size(4);
  // Value gradients are accumulated in the accumulation type (float32 for half types): many
  // samples land on the same token, and half-precision atomics would lose most of the sum.
  at::Tensor grad_value_acc = at::zeros(value.sizes(), value.options().dtype(sampling_locations.scalar_type()));
  at::Tensor grad_sampling_locations = at::zeros_like(sampling_locations);
  at::Tensor grad_attention_weights = at::zeros_like(attention_weights);
  const int64_t total_threads = batch * num_queries * num_heads * kWarpSize;
  if (batch * num_queries * num_heads > 0) {
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(), "ms_deform_attn_backward_cuda", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      ms_deform_attn_backward_kernel<scalar_t, acc_t><<<num_blocks_for(total_threads), kThreadsPerBlock, 0, stream>>>(
          value.data_ptr<scalar_t>(), spatial_shapes.data_ptr<int64_t>(),
          level_start_index.data_ptr<int64_t>(), sampling_locations.data_ptr<acc_t>(),
          attention_weights.data_ptr<acc_t>(), grad_output.data_ptr<scalar_t>(),
          grad_value_acc.data_ptr<acc_t>(), grad_sampling_locations.data_ptr<acc_t>(),
          grad_attention_weights.data_ptr<acc_t>(), batch, num_tokens, num_heads, head_dim,
          num_queries, num_levels, num_points);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  return {grad_value_acc.to(value.scalar_type()), grad_sampling_locations, grad_attention_weights};
}

}  // namespace ov_avss
