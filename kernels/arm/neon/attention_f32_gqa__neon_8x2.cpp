// NEON float32 attention (Armv8.0 Advanced SIMD): tiles of 8 query rows (2 vectors of 4), scores
// 2 key positions at a time (x 4 chains: 16 accumulators), values 8 columns at a time (16
// accumulators), of the 32 registers (with 24 of them, GCC 12 spilled inside the loops). A float16
// KV cache is widened with fcvtl (Armv8.0). The algorithm is kernels/attention_f32_tiled.hpp; this
// unit supplies its vector operations.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/attention_f32_tiled.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::neon {
namespace {

struct Ops {
  using V = float32x4_t;
  static constexpr unsigned kLanes = 4;
  static V zero() { return vdupq_n_f32(0.0f); }
  static V set1(float x) { return vdupq_n_f32(x); }
  static V load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, V v) { vst1q_f32(p, v); }
  static V bcast(const float* p) { return vld1q_dup_f32(p); }
  static V load_f16(const std::uint16_t* p) {  // fcvtl
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
  }
  static V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  static V mul(V a, V b) { return vmulq_f32(a, b); }
  static V add(V a, V b) { return vaddq_f32(a, b); }
  static V sub(V a, V b) { return vsubq_f32(a, b); }
  static V div(V a, V b) { return vdivq_f32(a, b); }
  static V max(V a, V b) { return vmaxq_f32(a, b); }
  static V min(V a, V b) { return vminq_f32(a, b); }
  static V pow2(V n) {
    const int32x4_t e = vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
  }
  static V zero_unless_ge(V x, float lo, V y) {
    const uint32x4_t keep = vcgeq_f32(x, vdupq_n_f32(lo));
    return vreinterpretq_f32_u32(vandq_u32(keep, vreinterpretq_u32_f32(y)));
  }
  static V masked_after(V s, const std::int32_t* limits, std::uint32_t p) {
    const uint32x4_t valid = vcgeq_s32(vld1q_s32(limits), vdupq_n_s32(biased_position(p)));
    return vbslq_f32(valid, s, vdupq_n_f32(-__builtin_huge_valf()));
  }
  // 4 x 4: pairs of rows interleaved (trn1/trn2), then 64-bit halves exchanged.
  static void transpose(V* r) {
    const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r[0], r[1]));
    const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(r[0], r[1]));
    const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(r[2], r[3]));
    const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(r[2], r[3]));
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(t0, t2));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(t1, t3));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(t0, t2));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(t1, t3));
  }
};

using Kernel = TiledAttention<Ops, 2, 2, 8>;
// Decoding: 3 rows x 1 vector of positions x 4 chains = 12 score accumulators, 3 rows x 4
// vectors of columns = 12 value accumulators.
using Decode = ChunkedDecode<Ops, 3, 1, 4>;

std::size_t workspace_size(std::uint32_t head_dim) {
  const std::size_t a = Kernel::workspace_size(head_dim), b = Decode::workspace_size(head_dim);
  return a > b ? a : b;
}

}  // namespace

extern constinit const AttentionVariant attention_f32_gqa_8x2 = {
    .name = "attention_f32_gqa__neon_8x2",
    .kvf16_name = "attention_f32_gqa_kvf16__neon_8x2",
    .isa = "neon",
    .supported = isa_neon_supported,
    .tile_rows = Kernel::kTileRows,
    .workspace_size = workspace_size,
    .run = Kernel::run,
    .chunk_partials = Decode::chunk_partials,
    .fold_partials = Decode::fold_partials,
};

}  // namespace mobilellm::kernels::neon
