// NEON (Armv8.0 Advanced SIMD) W8A8 decode GEMV on the model file's canonical rows (no packing:
// kernels.hpp, "Layouts"): c[j] = (a_scale * w_scale[j]) * float(sum_k a[k] * w[j][k]).
//
// 4 rows per step, K in steps of 16 bytes ("4x16"): each 16-byte activation load serves one 16-byte
// load of each of the 4 rows. Per row and step, smull multiplies the low 8 bytes into 8 int16
// products, smlal2 adds the high 8 bytes' products to them, and sadalp folds the 8 int16 pair sums
// into the row's 4 int32 lanes: 3 instructions per 16 multiply-adds. That is exact when no
// activation is -128: a product is then at most 127 * 128 = 16256 in magnitude, and a pair, at
// most 32512, fits in int16. The quantizer never writes -128 (it clamps to [-127, 127]), so this
// is the path the runtime takes. The contract admits every int8 activation, and two products
// (-128) * (-128) = 2^14 add up to 2^15, one past int16; so a row containing -128 (checked once
// per call, k bytes) takes the other loop, which widens each half with smull/smull2 and adds each
// into int32 with its own sadalp (4 instructions per 16 multiply-adds, exact for every int8 value).
// In both loops even and odd K steps go to separate accumulators (8 independent sadalp chains),
// and the rows are reduced once, at the end of K, into one int32x4 holding 4 consecutive outputs.
// A K tail that is not a multiple of 16 is copied, for a and for each row, into a zeroed local
// step, so no load reads past the k bytes of a row; a pass of fewer than 4 rows repeats its last
// row; each step prefetches one line of the next pass's rows, in address order, as the x86 GEMVs
// do (kernels/arm/neon/arm_common.hpp, gemv_rows4).
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

using arm::kGemvPrefetchLine;
using arm::kGemvStep;

// One accumulator per row (4 partial sums each). Named members, not an array: GCC 12 keeps arrays
// of vectors partly in memory inside the K loop.
struct Rows4 {
  int32x4_t r0, r1, r2, r3;
};

Rows4 zero_rows4() {
  const int32x4_t z = vdupq_n_s32(0);
  return {z, z, z, z};
}

// acc += the 16 products x[t] * w[t], no x[t] being -128: smull + smlal2 into int16, one sadalp.
int32x4_t mac16_no_min(int32x4_t acc, int8x16_t x, int8x16_t w) {
  return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(x), vget_low_s8(w)), x, w));
}

// acc += the 16 products x[t] * w[t], any int8 values: each half widened and folded on its own.
int32x4_t mac16(int32x4_t acc, int8x16_t x, int8x16_t w) {
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(w)));
  return vpadalq_s16(acc, vmull_high_s8(x, w));
}

// acc += one K step (16 bytes at offset `at`) of each row against the step's activations x.
// Forced inline: GCC 12 would otherwise call it and keep the accumulators in memory.
template <int32x4_t (*Mac)(int32x4_t, int8x16_t, int8x16_t)>
__attribute__((always_inline)) inline void step(Rows4& acc, int8x16_t x, const std::int8_t* w0,
                                                const std::int8_t* w1, const std::int8_t* w2,
                                                const std::int8_t* w3, std::size_t at) {
  acc.r0 = Mac(acc.r0, x, vld1q_s8(w0 + at));
  acc.r1 = Mac(acc.r1, x, vld1q_s8(w1 + at));
  acc.r2 = Mac(acc.r2, x, vld1q_s8(w2 + at));
  acc.r3 = Mac(acc.r3, x, vld1q_s8(w3 + at));
}

// [sum r0, sum r1, sum r2, sum r3] of the even and odd accumulators.
int32x4_t reduce(const Rows4& even, const Rows4& odd) {
  return vpaddq_s32(vpaddq_s32(vaddq_s32(even.r0, odd.r0), vaddq_s32(even.r1, odd.r1)),
                    vpaddq_s32(vaddq_s32(even.r2, odd.r2), vaddq_s32(even.r3, odd.r3)));
}

// The K loop (gemv_rows4's `dot`) of 4 rows over `steps` 16-byte steps, prefetching one line from
// `prefetch` on per step. Out of line, so that GCC allocates the loop alone; the reduction runs
// once, after it.
template <int32x4_t (*Mac)(int32x4_t, int8x16_t, int8x16_t)>
__attribute__((noinline)) int32x4_t rows4x16(std::uint32_t steps, const std::int8_t* a,
                                             const std::int8_t* w0, const std::int8_t* w1,
                                             const std::int8_t* w2, const std::int8_t* w3,
                                             const std::int8_t* prefetch) {
  Rows4 even = zero_rows4(), odd = zero_rows4();
  std::uint32_t s = 0;
  for (; s + 2 <= steps; s += 2, prefetch += 2 * kGemvPrefetchLine) {
    __builtin_prefetch(prefetch);
    __builtin_prefetch(prefetch + kGemvPrefetchLine);
    const std::size_t at = std::size_t{s} * kGemvStep;
    step<Mac>(even, vld1q_s8(a + at), w0, w1, w2, w3, at);
    step<Mac>(odd, vld1q_s8(a + at + kGemvStep), w0, w1, w2, w3, at + kGemvStep);
  }
  if (s < steps) {
    const std::size_t at = std::size_t{s} * kGemvStep;
    step<Mac>(even, vld1q_s8(a + at), w0, w1, w2, w3, at);
  }
  return reduce(even, odd);
}

// Whether any of the k activations is -128 (then only the widening loop is exact).
bool contains_min(const std::int8_t* a, std::uint32_t k) {
  int8x16_t lowest = vdupq_n_s8(0);
  std::uint32_t i = 0;
  for (; i + 16 <= k; i += 16) lowest = vminq_s8(lowest, vld1q_s8(a + i));
  bool found = vminvq_s8(lowest) == -128;
  for (; i < k; ++i) found = found || a[i] == -128;
  return found;
}

template <typename Store>
void gemv(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
          const std::int8_t* w, std::size_t w_stride, const Store& store) {
  if (contains_min(a, k)) {
    arm::gemv_rows4(n_begin, n_end, k, a, w, w_stride, rows4x16<mac16>, store);
  } else {
    arm::gemv_rows4(n_begin, n_end, k, a, w, w_stride, rows4x16<mac16_no_min>, store);
  }
}

}  // namespace

// Referenced by the variant's descriptor (qgemm_f32_qs8dx_qs8cx__neon_2x4c16.cpp).

void qgemv_s32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                std::int32_t* c) {
  gemv(n_begin, n_end, k, a, w, w_stride, arm::StoreS32{c, 0});
}

void qgemv_f32_qs8dx_qs8cx_4x16(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, float a_scale, const std::int8_t* w,
                                std::size_t w_stride, const float* w_scale, float* c) {
  gemv(n_begin, n_end, k, a, w, w_stride, arm::StoreF32{&a_scale, w_scale, c, 0});
}

}  // namespace mobilellm::kernels::neon
