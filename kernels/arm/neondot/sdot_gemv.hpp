// The sdot K loop of the decode GEMV on canonical rows, shared by the neondot and neoni8mm variants
// (qgemv_f32_qs8dx_qs8cx__neondot_4x16.cpp, qgemv_f32_qs8dx_qs8cx__neoni8mm_4x16.cpp). Needs
// FEAT_DotProd: include it only from translation units built with +dotprod.
//
// sdot (vdotq_s32) multiplies a row's 16 weights by the 16 activations of the same K step, lane by
// lane, and adds each group of 4 products to one int32 lane: exact for every int8 value, -128
// included (signed x signed, no intermediate narrowing, no offset correction). Four rows share each
// 16-byte activation load; even and odd K steps go to separate accumulators, so 8 independent sdot
// chains hide its latency. Per 32 bytes of K: 2 activation loads, 8 weight loads, 8 sdot and 2
// prefetches of the next pass's rows; at the end, one vaddq per row and three addp turn the 8
// accumulators into the 4 row sums. The passes, the K tail and the prefetch addresses are
// arm_common.hpp's gemv_rows4.
//
// Everything is in an unnamed namespace, like arm_common.hpp: each including unit gets its own
// copy built with its own flags (kernels/README.md, "ODR").
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/arm/neon/arm_common.hpp"

namespace mobilellm::kernels::arm {
namespace {

// One accumulator per row (4 partial sums each). Named members, not an array: GCC 12 keeps arrays
// of vectors partly in memory inside the K loop.
struct SdotRows4 {
  int32x4_t r0, r1, r2, r3;
};

// acc += one K step (16 bytes at offset `at`) of each row against the step's activations x.
// Forced inline: GCC 12 would otherwise call it and keep the accumulators in memory.
__attribute__((always_inline)) inline void sdot_step(SdotRows4& acc, int8x16_t x,
                                                     const std::int8_t* w0, const std::int8_t* w1,
                                                     const std::int8_t* w2, const std::int8_t* w3,
                                                     std::size_t at) {
  acc.r0 = vdotq_s32(acc.r0, vld1q_s8(w0 + at), x);
  acc.r1 = vdotq_s32(acc.r1, vld1q_s8(w1 + at), x);
  acc.r2 = vdotq_s32(acc.r2, vld1q_s8(w2 + at), x);
  acc.r3 = vdotq_s32(acc.r3, vld1q_s8(w3 + at), x);
}

// The K loop (gemv_rows4's `dot`) of 4 rows over `steps` 16-byte steps, prefetching one line from
// `prefetch` on per step. Out of line, so that GCC allocates the loop alone; the reduction runs
// once, after it.
__attribute__((noinline)) int32x4_t sdot_rows4x16(std::uint32_t steps, const std::int8_t* a,
                                                  const std::int8_t* w0, const std::int8_t* w1,
                                                  const std::int8_t* w2, const std::int8_t* w3,
                                                  const std::int8_t* prefetch) {
  const int32x4_t zero = vdupq_n_s32(0);
  SdotRows4 even = {zero, zero, zero, zero}, odd = even;
  std::uint32_t s = 0;
  for (; s + 2 <= steps; s += 2, prefetch += 2 * kGemvPrefetchLine) {
    __builtin_prefetch(prefetch);
    __builtin_prefetch(prefetch + kGemvPrefetchLine);
    const std::size_t at = std::size_t{s} * kGemvStep;
    sdot_step(even, vld1q_s8(a + at), w0, w1, w2, w3, at);
    sdot_step(odd, vld1q_s8(a + at + kGemvStep), w0, w1, w2, w3, at + kGemvStep);
  }
  if (s < steps) {
    const std::size_t at = std::size_t{s} * kGemvStep;
    sdot_step(even, vld1q_s8(a + at), w0, w1, w2, w3, at);
  }
  // [sum r0, sum r1, sum r2, sum r3]
  return vpaddq_s32(vpaddq_s32(vaddq_s32(even.r0, odd.r0), vaddq_s32(even.r1, odd.r1)),
                    vpaddq_s32(vaddq_s32(even.r2, odd.r2), vaddq_s32(even.r3, odd.r3)));
}

}  // namespace
}  // namespace mobilellm::kernels::arm
