// NEON dot-product (FEAT_DotProd, sdot) W8A8 GEMM. sdot multiplies 4 signed bytes by 4 signed
// bytes and adds the 4 products to an int32 lane, with no intermediate narrowing, so it is exact
// for every int8 value including -128 (no offset or correction needed, unlike x86's u8 x s8
// vpdpbusd).
//
// Packed layout ("16c4", kernels/arm/neon/arm_common.hpp): columns in blocks of 16, K zero-padded to
// a multiple of 4; a K step of a block is 64 bytes, each column's 4 weights in turn. One 16-byte
// load is the weights of 4 columns for the step: an sdot operand whose lane j belongs to column j.
//
// GEMM tile 4x16: 4 rows x 4 vectors = 16 accumulators, 4 activation registers, 8 weight
// registers. The K loop takes 2 steps at a time: one 8-byte load per row holds 2 steps of
// activations, and "sdot by element" (vdotq_lane_s32) broadcasts the step's 4 bytes from it, so
// each step costs 4 weight loads, 2 activation loads and 16 sdot; an odd last step loads 4
// activation bytes per row. (With 16-byte activation loads and 4 steps per iteration, GCC 12
// hoists all 16 weight loads and spills an accumulator.) The column loop is outermost, so a
// weight block (16 * K bytes) stays in cache while every row tile uses it. When fewer than 4 rows
// remain, the spare rows of the tile repeat the last one and are not stored. The decode GEMV reads
// the canonical rows instead (qgemv_f32_qs8dx_qs8cx__neondot_4x16.cpp); this file holds the
// descriptor.
//
// Built with -march=armv8.2-a+dotprod; called only on CPUs that have it. Helpers live in an
// unnamed namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/arm/neon/arm_common.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neondot {
namespace {

constexpr std::uint32_t kMr = 4, kNr = 16, kKr = 4;
using Layout = arm::BlockedLayout<kNr, kKr>;

// One row's 16 accumulators (columns 4v..4v+3 in v<v>). Named members, not an array: GCC 12
// keeps arrays of vectors partly in memory inside the K loop.
struct Vec4 {
  int32x4_t v0, v1, v2, v3;
};

Vec4 zero4() {
  const int32x4_t z = vdupq_n_s32(0);
  return {z, z, z, z};
}

// The weights of one K step for 16 columns (columns 4v..4v+3 in v<v>).
struct Weights {
  int8x16_t v0, v1, v2, v3;
};

Weights load_step(const std::int8_t* step) {
  return {vld1q_s8(step), vld1q_s8(step + 16), vld1q_s8(step + 32), vld1q_s8(step + 48)};
}

// 4 activations (one K step) in both 32-bit lanes.
int8x8_t load_a4(const std::int8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return vreinterpret_s8_s32(vdup_n_s32(v));
}

// acc += (the 4 activations in 32-bit lane Lane of a) . (each column's 4 weights).
template <int Lane>
void dot4(Vec4& acc, int8x8_t a, const Weights& w) {
  acc.v0 = vdotq_lane_s32(acc.v0, w.v0, a, Lane);
  acc.v1 = vdotq_lane_s32(acc.v1, w.v1, a, Lane);
  acc.v2 = vdotq_lane_s32(acc.v2, w.v2, a, Lane);
  acc.v3 = vdotq_lane_s32(acc.v3, w.v3, a, Lane);
}

// One K step of the 4 rows, activations from lane Lane of a0..a3.
template <int Lane>
void step4(Vec4& acc0, Vec4& acc1, Vec4& acc2, Vec4& acc3, int8x8_t a0, int8x8_t a1,
           int8x8_t a2, int8x8_t a3, const std::int8_t* step) {
  const Weights w = load_step(step);
  dot4<Lane>(acc0, a0, w);
  dot4<Lane>(acc1, a1, w);
  dot4<Lane>(acc2, a2, w);
  dot4<Lane>(acc3, a3, w);
}

// The K loops are kept out of line and hand their accumulators back as they are, so that GCC
// allocates the loop alone (as in the x86 variants).

// The 4x16 tile: rows a0..a3 (repeated pointers when fewer than 4 rows remain) against one block.
__attribute__((noinline)) void tile_4x16(std::uint32_t steps, const std::int8_t* a0,
                                         const std::int8_t* a1, const std::int8_t* a2,
                                         const std::int8_t* a3, const std::int8_t* block,
                                         Vec4 (&sums)[kMr]) {
  Vec4 acc0 = zero4(), acc1 = zero4(), acc2 = zero4(), acc3 = zero4();
  std::uint32_t s = 0;
  for (; s + 2 <= steps; s += 2, block += 2 * Layout::kStepBytes) {
    const std::size_t at = std::size_t{s} * kKr;
    const int8x8_t x0 = vld1_s8(a0 + at), x1 = vld1_s8(a1 + at), x2 = vld1_s8(a2 + at),
                   x3 = vld1_s8(a3 + at);
    step4<0>(acc0, acc1, acc2, acc3, x0, x1, x2, x3, block);
    step4<1>(acc0, acc1, acc2, acc3, x0, x1, x2, x3, block + Layout::kStepBytes);
  }
  if (s < steps) {  // the rows hold only k_padded(k, 4) bytes: 4-byte loads for an odd last step
    const std::size_t at = std::size_t{s} * kKr;
    step4<0>(acc0, acc1, acc2, acc3, load_a4(a0 + at), load_a4(a1 + at), load_a4(a2 + at),
             load_a4(a3 + at), block);
  }
  sums[0] = acc0;
  sums[1] = acc1;
  sums[2] = acc2;
  sums[3] = acc3;
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
      Vec4 acc[kMr];
      tile_4x16(steps, a0, a1, a2, a3, block, acc);
      for (std::uint32_t r = 0; r < rows; ++r) {
        const int32x4_t sums[kNr / 4] = {acc[r].v0, acc[r].v1, acc[r].v2, acc[r].v3};
        arm::store_row<kNr>(store, row + r, col, n_end, sums);
      }
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

// The decode GEMV on canonical rows (qgemv_f32_qs8dx_qs8cx__neondot_4x16.cpp).
void qgemv_s32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                std::int32_t* c);
void qgemv_f32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, float a_scale, const std::int8_t* w,
                                std::size_t w_stride, const float* w_scale, float* c);

extern constinit const QGemmVariant qgemm_f32_qs8dx_qs8cx_4x16c4 = {
    .name = "qgemm_f32_qs8dx_qs8cx__neondot_4x16c4",
    .gemv_name = "qgemv_f32_qs8dx_qs8cx__neondot_4x16",
    .isa = "neondot",
    .supported = isa_neondot_supported,
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

}  // namespace mobilellm::kernels::neondot
