// Python bindings of the multi-scale deformable attention extension, with the input checks
// shared by the CUDA and CPU implementations. Built with WITH_CUDA defined (CUDA + CPU) or
// without it (CPU only, for machines without a CUDA toolkit).
#include <torch/extension.h>

#include <vector>

#include "ms_deform_attn.h"

namespace ov_avss {
namespace {

void check_inputs(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights) {
  TORCH_CHECK(value.dim() == 4, "ms_deform_attn: value must be [N, S, M, D], got ", value.sizes());
  TORCH_CHECK(sampling_locations.dim() == 6 && sampling_locations.size(5) == 2,
              "ms_deform_attn: sampling_locations must be [N, Lq, M, L, P, 2], got ", sampling_locations.sizes());
  TORCH_CHECK(attention_weights.dim() == 5, "ms_deform_attn: attention_weights must be [N, Lq, M, L, P], got ",
              attention_weights.sizes());
  TORCH_CHECK(spatial_shapes.dim() == 2 && spatial_shapes.size(1) == 2,
              "ms_deform_attn: spatial_shapes must be [L, 2], got ", spatial_shapes.sizes());
  TORCH_CHECK(spatial_shapes.scalar_type() == at::kLong && level_start_index.scalar_type() == at::kLong,
              "ms_deform_attn: spatial_shapes and level_start_index must be int64");
  const at::ScalarType accumulate_type = value.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  TORCH_CHECK(sampling_locations.scalar_type() == accumulate_type && attention_weights.scalar_type() == accumulate_type,
              "ms_deform_attn: sampling_locations and attention_weights must be ", accumulate_type,
              " for ", value.scalar_type(), " values, got ", sampling_locations.scalar_type(), " and ",
              attention_weights.scalar_type());
  for (const at::Tensor* tensor : {&value, &spatial_shapes, &level_start_index, &sampling_locations, &attention_weights}) {
    TORCH_CHECK(tensor->is_contiguous(), "ms_deform_attn: inputs must be contiguous");
    TORCH_CHECK(tensor->device() == value.device(), "ms_deform_attn: all inputs must be on ", value.device(),
                ", got a tensor on ", tensor->device());
  }
  const int64_t num_levels = spatial_shapes.size(0);
  TORCH_CHECK(level_start_index.dim() == 1 && level_start_index.size(0) == num_levels,
              "ms_deform_attn: level_start_index must be [L] with L=", num_levels);
  TORCH_CHECK(sampling_locations.size(0) == value.size(0) && sampling_locations.size(2) == value.size(2) &&
                  sampling_locations.size(3) == num_levels,
              "ms_deform_attn: sampling_locations ", sampling_locations.sizes(), " do not match value ",
              value.sizes(), " and L=", num_levels);
  TORCH_CHECK(attention_weights.sizes() == sampling_locations.sizes().slice(0, 5),
              "ms_deform_attn: attention_weights ", attention_weights.sizes(),
              " do not match sampling_locations ", sampling_locations.sizes());
}

at::Tensor forward(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights) {
  check_inputs(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
  if (value.is_cuda()) {
#ifdef WITH_CUDA
    return ms_deform_attn_forward_cuda(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
#else
    TORCH_CHECK(false, "ms_deform_attn: this build of the extension is CPU only (compiled without WITH_CUDA)");
#endif
  }
  return ms_deform_attn_forward_cpu(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
}

std::vector<at::Tensor> backward(
    const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations, const at::Tensor& attention_weights, const at::Tensor& grad_output) {
  check_inputs(value, spatial_shapes, level_start_index, sampling_locations, attention_weights);
  TORCH_CHECK(grad_output.is_contiguous() && grad_output.scalar_type() == value.scalar_type() &&
                  grad_output.device() == value.device(),
              "ms_deform_attn: grad_output must be a contiguous ", value.scalar_type(), " tensor on ", value.device());
  TORCH_CHECK(grad_output.dim() == 4 && grad_output.size(0) == value.size(0) &&
                  grad_output.size(1) == sampling_locations.size(1) && grad_output.size(2) == value.size(2) &&
                  grad_output.size(3) == value.size(3),
              "ms_deform_attn: grad_output must be [N, Lq, M, D], got ", grad_output.sizes());
  if (value.is_cuda()) {
#ifdef WITH_CUDA
    return ms_deform_attn_backward_cuda(value, spatial_shapes, level_start_index, sampling_locations,
                                        attention_weights, grad_output);
#else
    TORCH_CHECK(false, "ms_deform_attn: this build of the extension is CPU only (compiled without WITH_CUDA)");
#endif
  }
  return ms_deform_attn_backward_cpu(value, spatial_shapes, level_start_index, sampling_locations,
                                     attention_weights, grad_output);
}

}  // namespace
}  // namespace ov_avss

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.doc() = "Multi-scale deformable attention kernels (ov_avss)";
  module.def("ms_deform_attn_forward", &ov_avss::forward,
             "value [N,S,M,D], spatial_shapes [L,2], level_start_index [L], sampling_locations [N,Lq,M,L,P,2], "
             "attention_weights [N,Lq,M,L,P] -> output [N,Lq,M,D]");
  module.def("ms_deform_attn_backward", &ov_avss::backward,
             "-> [grad_value, grad_sampling_locations, grad_attention_weights]");
#ifdef WITH_CUDA
  module.attr("with_cuda") = true;
#else
  module.attr("with_cuda") = false;
#endif
}
