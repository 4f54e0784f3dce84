// AVX-512 F float32 attention: tiles of 48 query rows (3 vectors of 16), scores 2 key positions
// at a time (x 4 chains: 24 accumulators), values 8 columns at a time (24 accumulators). A float16
// KV cache is widened with vcvtph2ps. The algorithm is kernels/attention_f32_tiled.hpp; this unit
// supplies its vector operations.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/attention_f32_tiled.hpp"
#include "kernels/kernels.hpp"

namespace mobilellm::kernels::avx512f {
namespace {

// GCC 12's unmasked forms of max, min, cvtps and slli pass an undefined vector as the masked-off
// source and trip -Wmaybe-uninitialized; with a constant all-ones mask the zero-masked forms are
// the same instructions, unmasked (as in x86/avx512vnni/avx512_common.hpp).
constexpr __mmask16 kAll16 = 0xffff;
constexpr __mmask8 kAll8 = 0xff;

struct Ops {
  using V = __m512;
  static constexpr unsigned kLanes = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V bcast(const float* p) { return _mm512_set1_ps(*p); }
  static V load_f16(const std::uint16_t* p) {  // vcvtph2ps (AVX-512 F)
    return _mm512_maskz_cvtph_ps(kAll16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V max(V a, V b) { return _mm512_maskz_max_ps(kAll16, a, b); }
  static V min(V a, V b) { return _mm512_maskz_min_ps(kAll16, a, b); }
  static V pow2(V n) {
    const __m512i e = _mm512_add_epi32(_mm512_maskz_cvtps_epi32(kAll16, n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll16, e, 23));
  }
  static V zero_unless_ge(V x, float lo, V y) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(lo), _CMP_GE_OQ), y);
  }
  static V masked_after(V s, const std::int32_t* limits, std::uint32_t p) {
    const __mmask16 valid = _mm512_cmpge_epi32_mask(_mm512_loadu_si512(limits),
                                                    _mm512_set1_epi32(biased_position(p)));
    return _mm512_mask_blend_ps(valid, _mm512_set1_ps(-__builtin_huge_valf()), s);
  }
  // 16 x 16: pairs of rows interleaved (32-bit, then 64-bit elements) within each 128-bit lane,
  // then the 128-bit lanes gathered across four vectors, twice.
  static void transpose(V* r) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_maskz_unpacklo_ps(kAll16, r[i], r[i + 1]);
      t[i + 1] = _mm512_maskz_unpackhi_ps(kAll16, r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
      const __m512d t0 = _mm512_castps_pd(t[i]), t1 = _mm512_castps_pd(t[i + 1]);
      const __m512d t2 = _mm512_castps_pd(t[i + 2]), t3 = _mm512_castps_pd(t[i + 3]);
      u[i] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, t0, t2));
      u[i + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, t0, t2));
      u[i + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(kAll8, t1, t3));
      u[i + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(kAll8, t1, t3));
    }
    // u[4i + j], 128-bit lane b: rows 4i..4i+3 of column 4b + j.
    for (int j = 0; j < 4; ++j) {
      const __m512 v0 = _mm512_maskz_shuffle_f32x4(kAll16, u[j], u[4 + j], 0x88);
      const __m512 w0 = _mm512_maskz_shuffle_f32x4(kAll16, u[j], u[4 + j], 0xdd);
      const __m512 v1 = _mm512_maskz_shuffle_f32x4(kAll16, u[8 + j], u[12 + j], 0x88);
      const __m512 w1 = _mm512_maskz_shuffle_f32x4(kAll16, u[8 + j], u[12 + j], 0xdd);
      r[j] = _mm512_maskz_shuffle_f32x4(kAll16, v0, v1, 0x88);
      r[8 + j] = _mm512_maskz_shuffle_f32x4(kAll16, v0, v1, 0xdd);
      r[4 + j] = _mm512_maskz_shuffle_f32x4(kAll16, w0, w1, 0x88);
      r[12 + j] = _mm512_maskz_shuffle_f32x4(kAll16, w0, w1, 0xdd);
    }
  }
};

using Kernel = TiledAttention<Ops, 3, 2, 8>;
// Decoding: 3 rows x 2 vectors of positions x 4 chains = 24 score accumulators, 3 rows x 4
// vectors of columns = 12 value accumulators.
using Decode = ChunkedDecode<Ops, 3, 2, 4>;

std::size_t workspace_size(std::uint32_t head_dim) {
  const std::size_t a = Kernel::workspace_size(head_dim), b = Decode::workspace_size(head_dim);
  return a > b ? a : b;
}

}  // namespace

extern constinit const AttentionVariant attention_f32_gqa_48x2 = {
    .name = "attention_f32_gqa__avx512f_48x2",
    .kvf16_name = "attention_f32_gqa_kvf16__avx512f_48x2",
    .isa = "avx512f",
    .supported = isa_avx512f_supported,
    .tile_rows = Kernel::kTileRows,
    .workspace_size = workspace_size,
    .run = Kernel::run,
    .chunk_partials = Decode::chunk_partials,
    .fold_partials = Decode::fold_partials,
};

}  // namespace mobilellm::kernels::avx512f
