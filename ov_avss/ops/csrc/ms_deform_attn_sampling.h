// Per-sample math of multi-scale deformable attention, shared by the CUDA kernels and the
// CPU loops so that the CPU build of the same code can be tested on machines without a GPU.
//
// Sampling follows F.grid_sample(mode="bilinear", padding_mode="zeros",
// align_corners=False): a normalised location (x, y) in [0, 1] maps to the pixel
// coordinate (x * W - 0.5, y * H - 0.5), and corners outside the map contribute zero.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define OV_AVSS_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define OV_AVSS_HOST_DEVICE inline
#endif

namespace ov_avss {

// The four bilinear corners of one sampling point, in the order
// (x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1).
template <typename acc_t>
struct BilinearCorners {
  // Token index inside the level (row * W + col); meaningful only where `inside` is true.
  int64_t token[4];
  bool inside[4];
  // Interpolation weight of each corner.
  acc_t weight[4];
  // Derivative of each weight with respect to the pixel coordinates x and y.
  acc_t dweight_dx[4];
  acc_t dweight_dy[4];
};

template <typename acc_t>
OV_AVSS_HOST_DEVICE BilinearCorners<acc_t> bilinear_corners(
    acc_t loc_x, acc_t loc_y, int64_t height, int64_t width) {
  BilinearCorners<acc_t> corners;
  const acc_t pixel_x = loc_x * static_cast<acc_t>(width) - static_cast<acc_t>(0.5);
  const acc_t pixel_y = loc_y * static_cast<acc_t>(height) - static_cast<acc_t>(0.5);
  const acc_t floor_x = std::floor(pixel_x);
  const acc_t floor_y = std::floor(pixel_y);
  // Points whose corners are all outside the map (including NaN locations, which fail every
  // comparison) are rejected before the float -> int conversion, which would overflow.
  const bool any_inside = floor_x >= static_cast<acc_t>(-1) &&
      floor_x <= static_cast<acc_t>(width - 1) && floor_y >= static_cast<acc_t>(-1) &&
      floor_y <= static_cast<acc_t>(height - 1);
  const acc_t frac_x = pixel_x - floor_x;
  const acc_t frac_y = pixel_y - floor_y;
  const acc_t one = static_cast<acc_t>(1);
  const int64_t x0 = any_inside ? static_cast<int64_t>(floor_x) : -2;
  const int64_t y0 = any_inside ? static_cast<int64_t>(floor_y) : -2;
#pragma unroll
  for (int corner = 0; corner < 4; ++corner) {
    const int64_t dx = corner & 1;
    const int64_t dy = corner >> 1;
    const int64_t col = x0 + dx;
    const int64_t row = y0 + dy;
    const acc_t weight_x = dx ? frac_x : one - frac_x;
    const acc_t weight_y = dy ? frac_y : one - frac_y;
    corners.inside[corner] = any_inside && col >= 0 && col < width && row >= 0 && row < height;
    corners.token[corner] = row * width + col;
    corners.weight[corner] = weight_x * weight_y;
    corners.dweight_dx[corner] = (dx ? one : -one) * weight_y;
    corners.dweight_dy[corner] = (dy ? one : -one) * weight_x;
  }
  return corners;
}

}  // namespace ov_avss
