// The scalar reference of the W8A8 product: the oracle every other variant is tested against.
//
// Deliberately the plainest loops that implement the contract in kernels/kernels.hpp: the packed
// layout is the canonical one (N rows of K int8), the GEMVs read the canonical rows in place
// (w_stride apart), every sum is a straight int32 dot product, and the float result is the
// contract's expression. No tiling, no unrolling, nothing to get wrong.
// Optimized variants never include or call this file; only the registry and the tests see it.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::scalar {
namespace {

std::size_t packed_size(std::uint32_t n, std::uint32_t k) {
  return static_cast<std::size_t>(n) * k;
}

void pack(std::uint32_t n, std::uint32_t k, const std::int8_t* w, void* packed) {
  std::memcpy(packed, w, packed_size(n, k));
}

// Exact for k <= kMaxK: every partial sum is bounded by 128 * 128 * k.
std::int32_t dot(const std::int8_t* a, const std::int8_t* w, std::uint32_t k) {
  std::int32_t sum = 0;
  for (std::uint32_t i = 0; i < k; ++i) sum += std::int32_t{a[i]} * std::int32_t{w[i]};
  return sum;
}

const std::int8_t* weight_row(const void* packed, std::uint32_t j, std::uint32_t k) {
  return static_cast<const std::int8_t*>(packed) + static_cast<std::size_t>(j) * k;
}

void gemm_s32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
              std::size_t c_stride) {
  for (std::uint32_t i = 0; i < m; ++i) {
    for (std::uint32_t j = n_begin; j < n_end; ++j) {
      c[i * c_stride + j] = dot(a + i * a_stride, weight_row(packed, j, k), k);
    }
  }
}

void gemm_f32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
              const float* w_scale, float* c, std::size_t c_stride) {
  for (std::uint32_t i = 0; i < m; ++i) {
    for (std::uint32_t j = n_begin; j < n_end; ++j) {
      const std::int32_t sum = dot(a + i * a_stride, weight_row(packed, j, k), k);
      c[i * c_stride + j] = (a_scale[i] * w_scale[j]) * static_cast<float>(sum);
    }
  }
}

// The GEMVs read W's canonical rows where they are: row j at w + j * w_stride, k bytes of it.
void gemv_s32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
              const std::int8_t* w, std::size_t w_stride, std::int32_t* c) {
  for (std::uint32_t j = n_begin; j < n_end; ++j) c[j] = dot(a, w + j * w_stride, k);
}

void gemv_f32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
              float a_scale, const std::int8_t* w, std::size_t w_stride, const float* w_scale,
              float* c) {
  for (std::uint32_t j = n_begin; j < n_end; ++j) {
    c[j] = (a_scale * w_scale[j]) * static_cast<float>(dot(a, w + j * w_stride, k));
  }
}

}  // namespace

extern constinit const QGemmVariant qgemm_f32_qs8dx_qs8cx_1x1c1 = {
    .name = "qgemm_f32_qs8dx_qs8cx__scalar_1x1c1",
    .gemv_name = "qgemv_f32_qs8dx_qs8cx__scalar_1x1",
    .isa = "scalar",
    .supported = isa_scalar_supported,
    .mr = 1,
    .nr = 1,
    .kr = 1,
    .packed_size = packed_size,
    .pack = pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = gemv_f32,
    .gemv_s32 = gemv_s32,
};

}  // namespace mobilellm::kernels::scalar
