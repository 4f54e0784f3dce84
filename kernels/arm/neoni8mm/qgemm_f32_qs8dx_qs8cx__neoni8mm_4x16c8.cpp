// NEON int8 matrix-multiply (FEAT_I8MM, smmla) W8A8 GEMM. smmla multiplies a 2x8 int8 matrix
// by an 8x2 one and adds the 2x2 int32 product to an accumulator: 32 multiply-adds per instruction,
// twice sdot's, each int32 lane taking 8 exact products (no intermediate narrowing), so it is exact
// for every int8 value including -128.
//
// Packed layout ("16c8", kernels/arm/neon/arm_common.hpp): columns in blocks of 16, K zero-padded to
// a multiple of 8; a K step of a block is 128 bytes, each column's 8 weights in turn. So one
// 16-byte load holds columns 2q and 2q+1 of the step, 8 bytes each: exactly smmla's 8x2 operand
// (two columns of 8). The activation operand is the other half: rows 2p and 2p+1 of A, 8 bytes
// each, which the kernel interleaves on the fly (two 8-byte loads into one register); A itself is
// not packed. smmla then gives [r0.c0, r0.c1, r1.c0, r1.c1] for those two rows and columns.
//
// GEMM tile 4x16: 2 row pairs x 8 column pairs = 16 accumulators of 2x2, 2 activation registers,
// 8 weight registers (28 of the 32). Per K step: 4 8-byte activation loads, 8 weight loads, 16
// smmla. At the end, zip1/zip2 of two accumulators give 4 consecutive columns of the first/second
// row of a pair. The column loop is outermost, so a weight block (16 * K bytes) stays in cache
// while every row tile uses it. When fewer than 4 rows remain, the spare rows of the tile repeat
// the last one and are not stored.
//
// The decode GEMV (M = 1) reads the canonical rows instead, with sdot: smmla would waste half its
// work on one activation row (qgemv_f32_qs8dx_qs8cx__neoni8mm_4x16.cpp says why); this file holds
// the descriptor.
//
// Built with -march=armv8.2-a+dotprod+i8mm; called only on CPUs that have both. Helpers live in an
// unnamed namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/arm/neon/arm_common.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neoni8mm {
namespace {

constexpr std::uint32_t kMr = 4, kNr = 16, kKr = 8;
using Layout = arm::BlockedLayout<kNr, kKr>;

// The accumulators of one row pair against one column block: q<q> belongs to columns 2q and 2q+1.
// Named members, not an array: GCC 12 keeps arrays of vectors partly in memory inside the K loop.
struct Acc8 {
  int32x4_t q0, q1, q2, q3, q4, q5, q6, q7;
};

Acc8 zero8() {
  const int32x4_t z = vdupq_n_s32(0);
  return {z, z, z, z, z, z, z, z};
}

// Two rows' 8 activations of one K step, interleaved as smmla's 2x8 operand.
int8x16_t load_pair(const std::int8_t* r0, const std::int8_t* r1) {
  return vcombine_s8(vld1_s8(r0), vld1_s8(r1));
}

// One K step of two row pairs sharing each weight load.
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

// Lanes [r0.c0, r0.c1, r1.c0, r1.c1] of two column pairs -> the 4 columns of row r0 or of row r1.
int32x4_t first_row(int32x4_t lo, int32x4_t hi) {
  return vreinterpretq_s32_s64(vzip1q_s64(vreinterpretq_s64_s32(lo), vreinterpretq_s64_s32(hi)));
}
int32x4_t second_row(int32x4_t lo, int32x4_t hi) {
  return vreinterpretq_s32_s64(vzip2q_s64(vreinterpretq_s64_s32(lo), vreinterpretq_s64_s32(hi)));
}

// The K loops are kept out of line and hand their accumulators back unreduced, so that GCC
// allocates the loop alone (as in the x86 variants).

// The 4x16 tile: rows a0..a3 (repeated pointers when fewer than 4 rows remain) against one block.
__attribute__((noinline)) void tile_4x16(std::uint32_t steps, const std::int8_t* a0,
                                         const std::int8_t* a1, const std::int8_t* a2,
                                         const std::int8_t* a3, const std::int8_t* block,
                                         Acc8& acc01_out, Acc8& acc23_out) {
  Acc8 acc01 = zero8(), acc23 = zero8();
  for (std::uint32_t s = 0; s < steps; ++s) {
    const std::size_t at = std::size_t{s} * kKr;
    mmla_step2(acc01, acc23, load_pair(a0 + at, a1 + at), load_pair(a2 + at, a3 + at),
               block + s * Layout::kStepBytes);
  }
  acc01_out = acc01;
  acc23_out = acc23;
}

// Hands both rows of a row pair to `store`.
template <typename Store>
void store_pair(const Store& store, const Acc8& acc, std::uint32_t row, std::uint32_t rows,
                std::uint32_t col, std::uint32_t n_end) {
  const int32x4_t first[kNr / 4] = {first_row(acc.q0, acc.q1), first_row(acc.q2, acc.q3),
                                    first_row(acc.q4, acc.q5), first_row(acc.q6, acc.q7)};
  arm::store_row<kNr>(store, row, col, n_end, first);
  if (rows > 1) {
    const int32x4_t second[kNr / 4] = {second_row(acc.q0, acc.q1), second_row(acc.q2, acc.q3),
                                       second_row(acc.q4, acc.q5), second_row(acc.q6, acc.q7)};
    arm::store_row<kNr>(store, row + 1, col, n_end, second);
  }
}

// Column blocks outermost: a block (16 * K bytes) stays in cache while every row tile reads it.
template <typename Store>
void gemm(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
          const std::int8_t* a, std::size_t a_stride, const void* packed, const Store& store) {
  const std::uint32_t steps = Layout::k_steps(k);
  for (std::uint32_t col = n_begin; col < n_end; col += kNr) {
    const std::int8_t* block = Layout::block(packed, col, k);
    for (std::uint32_t row = 0; row < m; row += kMr) {
      const std::uint32_t rows = m - row < kMr ? m - row : kMr;
      const std::int8_t* a0 = a + row * a_stride;
      const std::int8_t* a1 = rows > 1 ? a0 + a_stride : a0;
      const std::int8_t* a2 = rows > 2 ? a1 + a_stride : a1;
      const std::int8_t* a3 = rows > 3 ? a2 + a_stride : a2;
      Acc8 acc01, acc23;
      tile_4x16(steps, a0, a1, a2, a3, block, acc01, acc23);
      store_pair(store, acc01, row, rows, col, n_end);
      if (rows > 2) store_pair(store, acc23, row + 2, rows - 2, col, n_end);
    }
  }
}

void gemm_s32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
              std::size_t c_stride) {
  gemm(m, n_begin, n_end, k, a, a_stride, packed, arm::StoreS32{c, c_stride});
}

void gemm_f32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
              const float* w_scale, float* c, std::size_t c_stride) {
  gemm(m, n_begin, n_end, k, a, a_stride, packed, arm::StoreF32{a_scale, w_scale, c, c_stride});
}

}  // namespace

// The decode GEMV on canonical rows (qgemv_f32_qs8dx_qs8cx__neoni8mm_4x16.cpp).
void qgemv_s32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                std::int32_t* c);
void qgemv_f32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, float a_scale, const std::int8_t* w,
                                std::size_t w_stride, const float* w_scale, float* c);

extern constinit const QGemmVariant qgemm_f32_qs8dx_qs8cx_4x16c8 = {
    .name = "qgemm_f32_qs8dx_qs8cx__neoni8mm_4x16c8",
    .gemv_name = "qgemv_f32_qs8dx_qs8cx__neoni8mm_4x16",
    .isa = "neoni8mm",
    .supported = isa_neoni8mm_supported,
    .mr = kMr,
    .nr = kNr,
    .kr = kKr,
    .packed_size = Layout::packed_size,
    .pack = Layout::pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = qgemv_f32_qs8dx_qs8cx_4x16,
    .gemv_s32 = qgemv_s32_qs8dx_qs8cx_4x16,
};

}  // namespace mobilellm::kernels::neoni8mm
