// NEON int8 matrix-multiply (FEAT_I8MM, smmla) group-wise W8A8 GEMM/GEMV (contract:
// kernels/kernels.hpp, "group-wise W8A8"): smmla computes a 2x2 int32 block from 2 rows x 2
// columns of 8 exact s8 x s8 products, as in the per-row neoni8mm variant; then one float rescale
// per group of 32 (kernels/arm/neon/arm_grouped.hpp).
//
// Packed layout ("16c8" per group, arm_grouped.hpp): blocks of 16 columns; per group a 64-byte
// header of scales and 4 steps of 128 bytes; one 16-byte load is columns 2q and 2q+1 of a step,
// 8 weights each: smmla's 8x2 operand. The activation operand (rows 2p and 2p+1, 8 bytes each) is
// built on the fly from two 8-byte loads.
//
// GEMM tile 4x16: 2 row pairs x 8 column pairs = 16 accumulators of [r0.c0, r0.c1, r1.c0, r1.c1];
// zip1/zip2 give 4 consecutive columns of a row at the end of each group. GEMV: sdot on the same
// layout (the step's 8 activations in both halves against a column-pair load), one addp per 4
// columns at the end of each group; every FEAT_I8MM core has FEAT_DotProd and the registry
// requires both.
//
// Built with -march=armv8.2-a+dotprod+i8mm; called only on CPUs that have both. Helpers live in an
// unnamed namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/arm/neon/arm_grouped.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neoni8mm {
namespace {

constexpr std::uint32_t kMr = 4, kNr = 16, kKr = 8;
using Layout = arm::GroupedLayout<kNr, kKr>;
using Sums = arm::RowSums<kNr>;

// The accumulators of one row pair (GEMM), or of one row (GEMV): q<q> belongs to columns 2q and
// 2q+1. Named members, not an array.
struct Acc8 {
  int32x4_t q0, q1, q2, q3, q4, q5, q6, q7;
};

Acc8 zero8() {
  const int32x4_t z = vdupq_n_s32(0);
  return {z, z, z, z, z, z, z, z};
}

int8x16_t load_pair(const std::int8_t* r0, const std::int8_t* r1) {
  return vcombine_s8(vld1_s8(r0), vld1_s8(r1));
}

void mmla_step2(Acc8& acc01, Acc8& acc23, int8x16_t a01, int8x16_t a23, const std::int8_t* step) {
  int8x16_t w = vld1q_s8(step + 0 * 16);
  acc01.q0 = vmmlaq_s32(acc01.q0, a01, w);
  acc23.q0 = vmmlaq_s32(acc23.q0, a23, w);
  w = vld1q_s8(step + 1 * 16);
  acc01.q1 = vmmlaq_s32(acc01.q1, a01, w);
  acc23.q1 = vmmlaq_s32(acc23.q1, a23, w);
  w = vld1q_s8(step + 2 * 16);
  acc01.q2 = vmmlaq_s32(acc01.q2, a01, w);
  acc23.q2 = vmmlaq_s32(acc23.q2, a23, w);
  w = vld1q_s8(step + 3 * 16);
  acc01.q3 = vmmlaq_s32(acc01.q3, a01, w);
  acc23.q3 = vmmlaq_s32(acc23.q3, a23, w);
  w = vld1q_s8(step + 4 * 16);
  acc01.q4 = vmmlaq_s32(acc01.q4, a01, w);
  acc23.q4 = vmmlaq_s32(acc23.q4, a23, w);
  w = vld1q_s8(step + 5 * 16);
  acc01.q5 = vmmlaq_s32(acc01.q5, a01, w);
  acc23.q5 = vmmlaq_s32(acc23.q5, a23, w);
  w = vld1q_s8(step + 6 * 16);
  acc01.q6 = vmmlaq_s32(acc01.q6, a01, w);
  acc23.q6 = vmmlaq_s32(acc23.q6, a23, w);
  w = vld1q_s8(step + 7 * 16);
  acc01.q7 = vmmlaq_s32(acc01.q7, a01, w);
  acc23.q7 = vmmlaq_s32(acc23.q7, a23, w);
}

void dot_step(Acc8& acc, int8x16_t a, const std::int8_t* step) {
  acc.q0 = vdotq_s32(acc.q0, vld1q_s8(step + 0 * 16), a);
  acc.q1 = vdotq_s32(acc.q1, vld1q_s8(step + 1 * 16), a);
  acc.q2 = vdotq_s32(acc.q2, vld1q_s8(step + 2 * 16), a);
  acc.q3 = vdotq_s32(acc.q3, vld1q_s8(step + 3 * 16), a);
  acc.q4 = vdotq_s32(acc.q4, vld1q_s8(step + 4 * 16), a);
  acc.q5 = vdotq_s32(acc.q5, vld1q_s8(step + 5 * 16), a);
  acc.q6 = vdotq_s32(acc.q6, vld1q_s8(step + 6 * 16), a);
  acc.q7 = vdotq_s32(acc.q7, vld1q_s8(step + 7 * 16), a);
}

int32x4_t first_row(int32x4_t lo, int32x4_t hi) {
  return vreinterpretq_s32_s64(vzip1q_s64(vreinterpretq_s64_s32(lo), vreinterpretq_s64_s32(hi)));
}
int32x4_t second_row(int32x4_t lo, int32x4_t hi) {
  return vreinterpretq_s32_s64(vzip2q_s64(vreinterpretq_s64_s32(lo), vreinterpretq_s64_s32(hi)));
}

void pair_sums(const Acc8& acc, Sums& first, Sums& second) {
  first.v[0] = first_row(acc.q0, acc.q1);
  first.v[1] = first_row(acc.q2, acc.q3);
  first.v[2] = first_row(acc.q4, acc.q5);
  first.v[3] = first_row(acc.q6, acc.q7);
  second.v[0] = second_row(acc.q0, acc.q1);
  second.v[1] = second_row(acc.q2, acc.q3);
  second.v[2] = second_row(acc.q4, acc.q5);
  second.v[3] = second_row(acc.q6, acc.q7);
}

// One group of the 4x16 tile (repeated row pointers when fewer than 4 rows remain).
__attribute__((noinline)) void group_4x16(const std::int8_t* const (&a)[kMr],
                                          const std::int8_t* steps, Sums (&sums)[kMr]) {
  Acc8 acc01 = zero8(), acc23 = zero8();
  for (std::uint32_t s = 0; s < Layout::kSteps; ++s) {
    const std::size_t at = std::size_t{s} * kKr;
    mmla_step2(acc01, acc23, load_pair(a[0] + at, a[1] + at), load_pair(a[2] + at, a[3] + at),
               steps + s * Layout::kStepBytes);
  }
  pair_sums(acc01, sums[0], sums[1]);
  pair_sums(acc23, sums[2], sums[3]);
}

// One group of the GEMV: two K steps per 16-byte activation load.
__attribute__((noinline)) void group_1x16(const std::int8_t* a, const std::int8_t* steps,
                                          Sums& sums) {
  Acc8 acc = zero8();
  for (std::uint32_t s = 0; s < Layout::kSteps; s += 2, steps += 2 * Layout::kStepBytes) {
    const int64x2_t x = vreinterpretq_s64_s8(vld1q_s8(a + std::size_t{s} * kKr));
    dot_step(acc, vreinterpretq_s8_s64(vdupq_laneq_s64(x, 0)), steps);
    dot_step(acc, vreinterpretq_s8_s64(vdupq_laneq_s64(x, 1)), steps + Layout::kStepBytes);
  }
  sums.v[0] = vpaddq_s32(acc.q0, acc.q1);
  sums.v[1] = vpaddq_s32(acc.q2, acc.q3);
  sums.v[2] = vpaddq_s32(acc.q4, acc.q5);
  sums.v[3] = vpaddq_s32(acc.q6, acc.q7);
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

extern constinit const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_4x16c8 = {
    .name = "qgemm_f32_qs8dg32_qs8cg32__neoni8mm_4x16c8",
    .gemv_name = "qgemv_f32_qs8dg32_qs8cg32__neoni8mm_16c8",
    .isa = "neoni8mm",
    .supported = isa_neoni8mm_supported,
    .mr = kMr,
    .nr = kNr,
    .kr = kKr,
    .packed_size = Layout::packed_size,
    .pack = Layout::pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = gemv_f32,
};

}  // namespace mobilellm::kernels::neoni8mm
