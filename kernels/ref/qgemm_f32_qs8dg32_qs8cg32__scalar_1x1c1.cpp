// The scalar reference of the group-wise W8A8 product: the oracle of the grouped variants.
//
// The plainest loops that implement the contract in kernels/kernels.hpp ("group-wise W8A8"): the
// packed layout is one record per output row, its group_count(K) float scales followed by its K
// int8 weights (padded to a multiple of 4 bytes so that the next record's scales stay aligned);
// every group sum is a straight int32 dot product over the group's K indices, and the float
// result is the contract's left-to-right sum over groups.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::scalar {
namespace {

std::size_t record_bytes(std::uint32_t k) {
  return group_count(k) * sizeof(float) + k_padded(k, 4);
}

std::size_t packed_size(std::uint32_t n, std::uint32_t k) {
  return static_cast<std::size_t>(n) * record_bytes(k);
}

void pack(std::uint32_t n, std::uint32_t k, const std::int8_t* w, const float* w_scale,
          void* packed) {
  const std::uint32_t groups = group_count(k);
  auto* out = static_cast<std::uint8_t*>(packed);
  std::memset(out, 0, packed_size(n, k));
  for (std::uint32_t j = 0; j < n; ++j, out += record_bytes(k)) {
    std::memcpy(out, w_scale + static_cast<std::size_t>(j) * groups, groups * sizeof(float));
    std::memcpy(out + groups * sizeof(float), w + static_cast<std::size_t>(j) * k, k);
  }
}

// Row j of the packed weights: its scales and its int8 values.
struct Row {
  const std::uint8_t* record;
  std::uint32_t groups;
  float scale(std::uint32_t g) const {
    float s;
    std::memcpy(&s, record + g * sizeof(float), sizeof s);
    return s;
  }
  const std::int8_t* weights() const {
    return reinterpret_cast<const std::int8_t*>(record + groups * sizeof(float));
  }
};

Row row(const void* packed, std::uint32_t k, std::uint32_t j) {
  return {static_cast<const std::uint8_t*>(packed) + j * record_bytes(k), group_count(k)};
}

// S = sum over group g's K indices of a * w: at most 32 products of at most 2^14.
std::int32_t group_dot(const std::int8_t* a, const std::int8_t* w, std::uint32_t k,
                       std::uint32_t g) {
  const std::uint32_t end = (g + 1) * kGroupSize < k ? (g + 1) * kGroupSize : k;
  std::int32_t sum = 0;
  for (std::uint32_t i = g * kGroupSize; i < end; ++i) {
    sum += std::int32_t{a[i]} * std::int32_t{w[i]};
  }
  return sum;
}

// The contract's expression: acc = acc + (a_scale[g] * w_scale[g]) * float(S_g), g ascending.
float dot_f32(const std::int8_t* a, const float* a_scale, const Row& w, std::uint32_t k) {
  float acc = 0.0f;
  for (std::uint32_t g = 0; g < w.groups; ++g) {
    acc = acc + (a_scale[g] * w.scale(g)) * static_cast<float>(group_dot(a, w.weights(), k, g));
  }
  return acc;
}

void gemm_s32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
              std::size_t c_stride) {
  const std::uint32_t groups = group_count(k);
  for (std::uint32_t i = 0; i < m; ++i) {
    for (std::uint32_t j = n_begin; j < n_end; ++j) {
      const Row w = row(packed, k, j);
      for (std::uint32_t g = 0; g < groups; ++g) {
        c[i * c_stride + static_cast<std::size_t>(j) * groups + g] =
            group_dot(a + i * a_stride, w.weights(), k, g);
      }
    }
  }
}

void gemm_f32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
              float* c, std::size_t c_stride) {
  const std::uint32_t groups = group_count(k);
  for (std::uint32_t i = 0; i < m; ++i) {
    for (std::uint32_t j = n_begin; j < n_end; ++j) {
      c[i * c_stride + j] =
          dot_f32(a + i * a_stride, a_scale + static_cast<std::size_t>(i) * groups,
                  row(packed, k, j), k);
    }
  }
}

void gemv_f32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
              const float* a_scale, const void* packed, float* c) {
  for (std::uint32_t j = n_begin; j < n_end; ++j) c[j] = dot_f32(a, a_scale, row(packed, k, j), k);
}

}  // namespace

extern constinit const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_1x1c1 = {
    .name = "qgemm_f32_qs8dg32_qs8cg32__scalar_1x1c1",
    .gemv_name = "qgemv_f32_qs8dg32_qs8cg32__scalar_1c1",
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
};

}  // namespace mobilellm::kernels::scalar
