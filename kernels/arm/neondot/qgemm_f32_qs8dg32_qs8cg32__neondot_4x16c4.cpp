// NEON dot-product (FEAT_DotProd, sdot) group-wise W8A8 GEMM/GEMV (contract: kernels/kernels.hpp,
// "group-wise W8A8"): sdot adds 4 exact s8 x s8 products into each int32 lane, as in the per-row
// neondot variant; then one float rescale per group of 32 (kernels/arm/neon/arm_grouped.hpp).
//
// Packed layout ("16c4" per group, arm_grouped.hpp): blocks of 16 columns; per group a 64-byte
// header of scales and 8 steps of 64 bytes (4 columns' 4 weights per 16-byte sdot operand).
//
// GEMM tile 4x16: 16 accumulators; two K steps per 8-byte activation load (sdot by lane). GEMV:
// even and odd steps in separate accumulators (8 chains).
//
// Built with -march=armv8.2-a+dotprod; called only on CPUs that have it. Helpers live in an
// unnamed namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/arm/neon/arm_grouped.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neondot {
namespace {

constexpr std::uint32_t kMr = 4, kNr = 16, kKr = 4;
using Layout = arm::GroupedLayout<kNr, kKr>;
using Sums = arm::RowSums<kNr>;

// One row's 16 accumulators (columns 4v..4v+3 in v<v>). Named members, not an array.
struct Vec4 {
  int32x4_t v0, v1, v2, v3;
};

Vec4 zero4() {
  const int32x4_t z = vdupq_n_s32(0);
  return {z, z, z, z};
}

struct Weights {
  int8x16_t v0, v1, v2, v3;
};

Weights load_step(const std::int8_t* step) {
  return {vld1q_s8(step), vld1q_s8(step + 16), vld1q_s8(step + 32), vld1q_s8(step + 48)};
}

// acc += (the 4 activations in 32-bit lane Lane of a) . (each column's 4 weights).
template <int Lane>
void dot4(Vec4& acc, int8x8_t a, const Weights& w) {
  acc.v0 = vdotq_lane_s32(acc.v0, w.v0, a, Lane);
  acc.v1 = vdotq_lane_s32(acc.v1, w.v1, a, Lane);
  acc.v2 = vdotq_lane_s32(acc.v2, w.v2, a, Lane);
  acc.v3 = vdotq_lane_s32(acc.v3, w.v3, a, Lane);
}

template <int Lane>
void step4(Vec4& acc0, Vec4& acc1, Vec4& acc2, Vec4& acc3, int8x8_t a0, int8x8_t a1,
           int8x8_t a2, int8x8_t a3, const std::int8_t* step) {
  const Weights w = load_step(step);
  dot4<Lane>(acc0, a0, w);
  dot4<Lane>(acc1, a1, w);
  dot4<Lane>(acc2, a2, w);
  dot4<Lane>(acc3, a3, w);
}

void to_sums(const Vec4& acc, Sums& sums) {
  sums.v[0] = acc.v0;
  sums.v[1] = acc.v1;
  sums.v[2] = acc.v2;
  sums.v[3] = acc.v3;
}

// One group of the 4x16 tile (repeated row pointers when fewer than 4 rows remain).
__attribute__((noinline)) void group_4x16(const std::int8_t* const (&a)[kMr],
                                          const std::int8_t* steps, Sums (&sums)[kMr]) {
  Vec4 acc0 = zero4(), acc1 = zero4(), acc2 = zero4(), acc3 = zero4();
  for (std::uint32_t s = 0; s < Layout::kSteps; s += 2, steps += 2 * Layout::kStepBytes) {
    const std::size_t at = std::size_t{s} * kKr;
    const int8x8_t x0 = vld1_s8(a[0] + at), x1 = vld1_s8(a[1] + at), x2 = vld1_s8(a[2] + at),
                   x3 = vld1_s8(a[3] + at);
    step4<0>(acc0, acc1, acc2, acc3, x0, x1, x2, x3, steps);
    step4<1>(acc0, acc1, acc2, acc3, x0, x1, x2, x3, steps + Layout::kStepBytes);
  }
  to_sums(acc0, sums[0]);
  to_sums(acc1, sums[1]);
  to_sums(acc2, sums[2]);
  to_sums(acc3, sums[3]);
}

// One group of the GEMV: even and odd steps in separate accumulators.
__attribute__((noinline)) void group_1x16(const std::int8_t* a, const std::int8_t* steps,
                                          Sums& sums) {
  Vec4 even = zero4(), odd = zero4();
  for (std::uint32_t s = 0; s < Layout::kSteps; s += 2, steps += 2 * Layout::kStepBytes) {
    const int8x8_t x = vld1_s8(a + std::size_t{s} * kKr);
    dot4<0>(even, x, load_step(steps));
    dot4<1>(odd, x, load_step(steps + Layout::kStepBytes));
  }
  sums.v[0] = vaddq_s32(even.v0, odd.v0);
  sums.v[1] = vaddq_s32(even.v1, odd.v1);
  sums.v[2] = vaddq_s32(even.v2, odd.v2);
  sums.v[3] = vaddq_s32(even.v3, odd.v3);
}

void gemm_s32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
              std::size_t c_stride) {
  arm::grouped_gemm<kMr, kNr, kKr>(m, n_begin, n_end, k, a, a_stride, nullptr, packed, nullptr, c,
                                   c_stride, group_4x16);
}

void gemm_f32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
              float* c, std::size_t c_stride) {
  arm::grouped_gemm<kMr, kNr, kKr>(m, n_begin, n_end, k, a, a_stride, a_scale, packed, c, nullptr,
                                   c_stride, group_4x16);
}

void gemv_f32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
              const float* a_scale, const void* packed, float* c) {
  arm::grouped_gemv<kNr, kKr>(n_begin, n_end, k, a, a_scale, packed, c, group_1x16);
}

}  // namespace

extern constinit const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_4x16c4 = {
    .name = "qgemm_f32_qs8dg32_qs8cg32__neondot_4x16c4",
    .gemv_name = "qgemv_f32_qs8dg32_qs8cg32__neondot_16c4",
    .isa = "neondot",
    .supported = isa_neondot_supported,
    .mr = kMr,
    .nr = kNr,
    .kr = kKr,
    .packed_size = Layout::packed_size,
    .pack = Layout::pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = gemv_f32,
};

}  // namespace mobilellm::kernels::neondot
