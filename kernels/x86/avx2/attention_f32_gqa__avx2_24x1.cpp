// AVX2 float32 attention: tiles of 24 query rows (3 vectors of 8), scores 1 key position at a time
// (x 4 chains: 12 accumulators), values 4 columns at a time (12 accumulators), within the 16
// registers. A float16 KV cache is widened with F16C's vcvtph2ps (this unit alone is built with
// -mf16c, and runs only on CPUs that have it: isa_avx2_f16c_supported). The algorithm is
// kernels/attention_f32_tiled.hpp; this unit supplies its vector operations.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/attention_f32_tiled.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::avx2 {
namespace {

struct Ops {
  using V = __m256;
  static constexpr unsigned kLanes = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V load_f16(const std::uint16_t* p) {  // vcvtph2ps (F16C)
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V pow2(V n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
  static V zero_unless_ge(V x, float lo, V y) {
    return _mm256_and_ps(_mm256_cmp_ps(x, _mm256_set1_ps(lo), _CMP_GE_OQ), y);
  }
  static V masked_after(V s, const std::int32_t* limits, std::uint32_t p) {
    const __m256i after = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(biased_position(p)),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(limits)));
    return _mm256_blendv_ps(s, _mm256_set1_ps(-__builtin_huge_valf()), _mm256_castsi256_ps(after));
  }
  // 8 x 8: pairs of rows interleaved, then 64-bit pairs within 128-bit lanes, then the lanes.
  static void transpose(V* r) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
      u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
      u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
      u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
      u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int j = 0; j < 4; ++j) {
      r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
      r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
  }
};

using Kernel = TiledAttention<Ops, 3, 1, 4>;
// Decoding: 3 rows x 1 vector of positions x 4 chains = 12 score accumulators, 3 rows x 4
// vectors of columns = 12 value accumulators.
using Decode = ChunkedDecode<Ops, 3, 1, 4>;

std::size_t workspace_size(std::uint32_t head_dim) {
  const std::size_t a = Kernel::workspace_size(head_dim), b = Decode::workspace_size(head_dim);
  return a > b ? a : b;
}

}  // namespace

extern constinit const AttentionVariant attention_f32_gqa_24x1 = {
    .name = "attention_f32_gqa__avx2_24x1",
    .kvf16_name = "attention_f32_gqa_kvf16__avx2_24x1",
    .isa = "avx2",
    .supported = isa_avx2_f16c_supported,
    .tile_rows = Kernel::kTileRows,
    .workspace_size = workspace_size,
    .run = Kernel::run,
    .chunk_partials = Decode::chunk_partials,
    .fold_partials = Decode::fold_partials,
};

}  // namespace mobilellm::kernels::avx2
