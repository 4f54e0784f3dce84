// NEON (Armv8.0) group-wise W8A8 GEMM/GEMV (contract: kernels/kernels.hpp, "group-wise W8A8"):
// smull/smull2 (s8 x s8 -> s16, at most 2^14) and sadalp (pairs into int32), exact for every int8
// value, as the per-row NEON variant; then one float rescale per group of 32
// (kernels/arm/neon/arm_grouped.hpp).
//
// Packed layout ("4c16" per group, arm_grouped.hpp): blocks of 4 columns; per group a 16-byte
// header of scales and 2 steps of 64 bytes (each column's 16 weights in turn).
//
// GEMM tile 2x4: 2 rows x 4 columns = 8 accumulators of 4 partial sums each, folded into the 4
// column sums at the end of each group. GEMV: the group's two steps in separate accumulators.
//
// Armv8.0 baseline, no extra flags. Helpers live in an unnamed namespace and no standard-library
// template is used (see kernels/README.md, "ODR").
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/arm/neon/arm_grouped.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neon {
namespace {

constexpr std::uint32_t kMr = 2, kNr = 4, kKr = 16;
using Layout = arm::GroupedLayout<kNr, kKr>;
using Sums = arm::RowSums<kNr>;

// One row's accumulators: c<j> holds 4 partial sums of column j. Named members, not an array.
struct Acc4 {
  int32x4_t c0, c1, c2, c3;
};

Acc4 zero4() {
  const int32x4_t z = vdupq_n_s32(0);
  return {z, z, z, z};
}

// The step helpers are forced inline: GCC 12 otherwise calls step1 out of line from the GEMV,
// with the accumulators on the stack.
// acc += the 16 products a[t] * w[t], folded pairwise into the 4 lanes.
[[gnu::always_inline]] inline int32x4_t mac16(int32x4_t acc, int8x16_t a, int8x16_t w) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(w)));
  return vpadalq_s16(acc, vmull_high_s8(a, w));
}

[[gnu::always_inline]] inline void step1(Acc4& acc, int8x16_t a, const std::int8_t* step) {
  acc.c0 = mac16(acc.c0, a, vld1q_s8(step + 0 * kKr));
  acc.c1 = mac16(acc.c1, a, vld1q_s8(step + 1 * kKr));
  acc.c2 = mac16(acc.c2, a, vld1q_s8(step + 2 * kKr));
  acc.c3 = mac16(acc.c3, a, vld1q_s8(step + 3 * kKr));
}

[[gnu::always_inline]] inline void step2(Acc4& acc0, Acc4& acc1, int8x16_t a0, int8x16_t a1,
                                         const std::int8_t* step) {
  int8x16_t w = vld1q_s8(step + 0 * kKr);
  acc0.c0 = mac16(acc0.c0, a0, w);
  acc1.c0 = mac16(acc1.c0, a1, w);
  w = vld1q_s8(step + 1 * kKr);
  acc0.c1 = mac16(acc0.c1, a0, w);
  acc1.c1 = mac16(acc1.c1, a1, w);
  w = vld1q_s8(step + 2 * kKr);
  acc0.c2 = mac16(acc0.c2, a0, w);
  acc1.c2 = mac16(acc1.c2, a1, w);
  w = vld1q_s8(step + 3 * kKr);
  acc0.c3 = mac16(acc0.c3, a0, w);
  acc1.c3 = mac16(acc1.c3, a1, w);
}

// The 4 column sums of one row.
int32x4_t reduce(const Acc4& acc) {
  return vpaddq_s32(vpaddq_s32(acc.c0, acc.c1), vpaddq_s32(acc.c2, acc.c3));
}

// One group of the 2x4 tile (a[1] may repeat a[0]).
__attribute__((noinline)) void group_2x4(const std::int8_t* const (&a)[kMr],
                                         const std::int8_t* steps, Sums (&sums)[kMr]) {
  Acc4 acc0 = zero4(), acc1 = zero4();
  for (std::uint32_t s = 0; s < Layout::kSteps; ++s) {
    step2(acc0, acc1, vld1q_s8(a[0] + s * kKr), vld1q_s8(a[1] + s * kKr),
          steps + s * Layout::kStepBytes);
  }
  sums[0].v[0] = reduce(acc0);
  sums[1].v[0] = reduce(acc1);
}

// One group of the GEMV: its two steps in separate accumulators.
__attribute__((noinline)) void group_1x4(const std::int8_t* a, const std::int8_t* steps,
                                         Sums& sums) {
  Acc4 even = zero4(), odd = zero4();
  step1(even, vld1q_s8(a), steps);
  step1(odd, vld1q_s8(a + kKr), steps + Layout::kStepBytes);
  sums.v[0] = vaddq_s32(reduce(even), reduce(odd));
}

void gemm_s32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
              std::size_t c_stride) {
  arm::grouped_gemm<kMr, kNr, kKr>(m, n_begin, n_end, k, a, a_stride, nullptr, packed, nullptr, c,
                                   c_stride, group_2x4);
}

void gemm_f32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
              float* c, std::size_t c_stride) {
  arm::grouped_gemm<kMr, kNr, kKr>(m, n_begin, n_end, k, a, a_stride, a_scale, packed, c, nullptr,
                                   c_stride, group_2x4);
}

void gemv_f32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
              const float* a_scale, const void* packed, float* c) {
  arm::grouped_gemv<kNr, kKr>(n_begin, n_end, k, a, a_scale, packed, c, group_1x4);
}

}  // namespace

extern constinit const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_2x4c16 = {
    .name = "qgemm_f32_qs8dg32_qs8cg32__neon_2x4c16",
    .gemv_name = "qgemv_f32_qs8dg32_qs8cg32__neon_4c16",
    .isa = "neon",
    .supported = isa_neon_supported,
    .mr = kMr,
    .nr = kNr,
    .kr = kKr,
    .packed_size = Layout::packed_size,
    .pack = Layout::pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = gemv_f32,
};

}  // namespace mobilellm::kernels::neon
