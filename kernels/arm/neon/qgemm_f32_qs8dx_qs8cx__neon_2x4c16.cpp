// NEON (Armv8.0 Advanced SIMD) W8A8 GEMM: int8 products widened to int16 with smull/smull2,
// then added pairwise into int32 with sadalp. Exact for every int8 value: one product is at most
// 128 * 128 = 2^14, which fits in int16, and sadalp adds two of them into an int32 lane. (smlal
// into int16 accumulators would save the sadalp and is not used: two products of -128 * -128
// already overflow int16.)
//
// Packed layout ("4c16", kernels/arm/neon/arm_common.hpp): columns in blocks of 4, K zero-padded to
// a multiple of 16; a K step of a block is 64 bytes, each column's 16 weights in turn. One 16-byte
// load is one column's weights for the step, multiplied element-wise by 16 activations: smull
// (low 8 bytes) and smull2 (high 8) give 16 int16 products, and two sadalp fold them into the 4
// int32 lanes of that (row, column) accumulator. Three addp sum the lanes of 4 columns at the end.
//
// GEMM tile 2x4: 2 rows x 4 columns = 8 accumulators, 2 activation registers, 4 weight registers
// and the int16 products. The kernel is bound by smull/sadalp throughput (2 instructions per 8
// multiply-adds), not by loads, so a wider tile would not help; at 2x8 GCC 12's scheduler hoists
// a whole step's weights and products and spills accumulators. Per K step: 2 + 4 loads, 16 smull,
// 16 sadalp. The column loop is outermost, so a weight block (4 * K bytes) stays in L1 while every
// row tile uses it. A last single row is computed twice and stored once. The decode GEMV reads the
// canonical rows instead (qgemv_f32_qs8dx_qs8cx__neon_4x16.cpp); this file holds the descriptor.
//
// Compiled for the aarch64 baseline (no -march): runs on every ARMv8 CPU. Helpers live in an
// unnamed namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/arm/neon/arm_common.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neon {
namespace {

constexpr std::uint32_t kMr = 2, kNr = 4, kKr = 16;
using Layout = arm::BlockedLayout<kNr, kKr>;

// One row's accumulators against one column block: c<j> holds 4 partial sums of column j. Named
// members, not an array: GCC 12 keeps arrays of vectors partly in memory inside the K loop.
struct Acc4 {
  int32x4_t c0, c1, c2, c3;
};

Acc4 zero4() {
  const int32x4_t z = vdupq_n_s32(0);
  return {z, z, z, z};
}

// acc += the 16 products a[t] * w[t], folded pairwise into the 4 lanes.
int32x4_t mac16(int32x4_t acc, int8x16_t a, int8x16_t w) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(w)));
  return vpadalq_s16(acc, vmull_high_s8(a, w));
}

// One K step of two rows sharing each weight load.
void step2(Acc4& acc0, Acc4& acc1, int8x16_t a0, int8x16_t a1, const std::int8_t* step) {
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

// The K loops are kept out of line and hand their accumulators back unreduced, so that GCC
// allocates the loop alone (as in the x86 variants).

// The 2x4 tile: rows a0 and a1 (the same pointer when one row remains) against one column block.
__attribute__((noinline)) void tile_2x4(std::uint32_t steps, const std::int8_t* a0,
                                        const std::int8_t* a1, const std::int8_t* block,
                                        Acc4& acc0_out, Acc4& acc1_out) {
  Acc4 acc0 = zero4(), acc1 = zero4();
  for (std::uint32_t s = 0; s < steps; ++s) {
    step2(acc0, acc1, vld1q_s8(a0 + s * kKr), vld1q_s8(a1 + s * kKr),
          block + s * Layout::kStepBytes);
  }
  acc0_out = acc0;
  acc1_out = acc1;
}

// Column blocks outermost: a block (4 * K bytes) stays in L1 while every row tile reads it.
template <typename Store>
void gemm(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
          const std::int8_t* a, std::size_t a_stride, const void* packed, const Store& store) {
  const std::uint32_t steps = Layout::k_steps(k);
  for (std::uint32_t col = n_begin; col < n_end; col += kNr) {
    const std::int8_t* block = Layout::block(packed, col, k);
    for (std::uint32_t row = 0; row < m; row += kMr) {
      const bool two = m - row > 1;
      const std::int8_t* a0 = a + row * a_stride;
      Acc4 acc0, acc1;
      tile_2x4(steps, a0, two ? a0 + a_stride : a0, block, acc0, acc1);
      arm::store_row<kNr>(store, row, col, n_end, {reduce(acc0)});
      if (two) arm::store_row<kNr>(store, row + 1, col, n_end, {reduce(acc1)});
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

// The decode GEMV on canonical rows (qgemv_f32_qs8dx_qs8cx__neon_4x16.cpp).
void qgemv_s32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                std::int32_t* c);
void qgemv_f32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, float a_scale, const std::int8_t* w,
                                std::size_t w_stride, const float* w_scale, float* c);

extern constinit const QGemmVariant qgemm_f32_qs8dx_qs8cx_2x4c16 = {
    .name = "qgemm_f32_qs8dx_qs8cx__neon_2x4c16",
    .gemv_name = "qgemv_f32_qs8dx_qs8cx__neon_4x16",
    .isa = "neon",
    .supported = isa_neon_supported,
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

}  // namespace mobilellm::kernels::neon
