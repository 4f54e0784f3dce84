// AVX2 per-row activation quantizer (contract in kernels/kernels.hpp), bit-identical to the scalar
// reference: the maximum is exact in any order, the scale is the same scalar division, each
// element is the same IEEE division, and rounding half away from zero is done exactly (below).
//
// Built with -mavx2 -mfma; called only on CPUs that have them. Like every ISA translation unit it
// uses no standard-library templates and keeps its helpers in an unnamed namespace, so no inline
// function compiled for AVX2 can be picked by the linker for baseline code.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::avx2 {
namespace {

// Lanes [0, count) all ones, the rest zero (count may be <= 0 or >= 8).
__m256i first_lanes(std::int32_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__m256 abs_ps(__m256 v) {
  return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}

// round-half-away-from-zero(x / s) clamped to [-127, 127], as int32. t - trunc(t) is exact (both
// lie in the same binade or trunc(t) is 0), so comparing the fraction with 0.5 decides exactly;
// the "add 0.5 and truncate" shortcut would round 0.49999997 up. A NaN ends as -127, like fmax in
// the reference (max_ps returns its second operand when the first is NaN).
__m256i quantize8(__m256 x, __m256 s) {
  const __m256 t = _mm256_div_ps(x, s);
  const __m256 r = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 frac = abs_ps(_mm256_sub_ps(t, r));
  const __m256 sign = _mm256_and_ps(t, _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN)));
  const __m256 away = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                    _mm256_or_ps(_mm256_set1_ps(1.0f), sign));
  const __m256 rounded = _mm256_add_ps(r, away);
  const __m256 clamped =
      _mm256_min_ps(_mm256_max_ps(rounded, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
  return _mm256_cvttps_epi32(clamped);
}

// 4 x 8 int32 in [-127, 127] -> 32 int8 in order. The saturating packs work within 128-bit lanes,
// leaving dwords in the order 0 4 1 5 2 6 3 7; one cross-lane permute restores it.
__m256i narrow32(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(v0, v1), _mm256_packs_epi32(v2, v3));
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

float row_abs_max(const float* row, std::uint32_t k) {
  __m256 m0 = _mm256_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;
  std::uint32_t j = 0;
  for (; j + 32 <= k; j += 32) {
    // |x| first: max_ps returns the second operand when the first is NaN, so NaNs are skipped.
    m0 = _mm256_max_ps(abs_ps(_mm256_loadu_ps(row + j)), m0);
    m1 = _mm256_max_ps(abs_ps(_mm256_loadu_ps(row + j + 8)), m1);
    m2 = _mm256_max_ps(abs_ps(_mm256_loadu_ps(row + j + 16)), m2);
    m3 = _mm256_max_ps(abs_ps(_mm256_loadu_ps(row + j + 24)), m3);
  }
  // Tail: masked loads read nothing past the row and give 0 in the other lanes.
  for (; j < k; j += 8) {
    const __m256i mask = first_lanes(static_cast<std::int32_t>(k - j));
    m0 = _mm256_max_ps(abs_ps(_mm256_maskload_ps(row + j, mask)), m0);
  }
  const __m256 m = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

void quantize(std::uint32_t m, std::uint32_t k, std::uint32_t k_padded, const float* x,
              std::size_t x_stride, std::int8_t* q, std::size_t q_stride, float* scale) {
  for (std::uint32_t i = 0; i < m; ++i) {
    const float* row = x + i * x_stride;
    std::int8_t* out = q + i * q_stride;

    const float abs_max = row_abs_max(row, k);
    const float s = abs_max >= kQuantizeMinAbsMax ? abs_max / 127.0f : 1.0f;
    scale[i] = s;
    const __m256 vs = _mm256_set1_ps(s);

    std::uint32_t j = 0;
    for (; j + 32 <= k; j += 32) {
      const __m256i bytes = narrow32(quantize8(_mm256_loadu_ps(row + j), vs),
                                     quantize8(_mm256_loadu_ps(row + j + 8), vs),
                                     quantize8(_mm256_loadu_ps(row + j + 16), vs),
                                     quantize8(_mm256_loadu_ps(row + j + 24), vs));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), bytes);
    }
    if (j < k) {
      // The last 1..31 elements: masked loads (zero lanes quantize to 0), then copy the valid
      // bytes. Parts entirely past the row are not loaded at all.
      const std::int32_t rest = static_cast<std::int32_t>(k - j);
      __m256i v[4];
      for (int part = 0; part < 4; ++part) {
        v[part] =
            rest > 8 * part
                ? quantize8(_mm256_maskload_ps(row + j + 8 * part, first_lanes(rest - 8 * part)),
                            vs)
                : _mm256_setzero_si256();
      }
      alignas(32) std::int8_t tail[32];
      _mm256_store_si256(reinterpret_cast<__m256i*>(tail), narrow32(v[0], v[1], v[2], v[3]));
      std::memcpy(out + j, tail, k - j);
    }
    std::memset(out + k, 0, k_padded - k);
  }
}

}  // namespace

extern constinit const QuantizeVariant quantize_qs8dx_f32 = {
    .name = "quantize_qs8dx_f32__avx2",
    .isa = "avx2",
    .supported = isa_avx2_supported,
    .run = quantize,
};

}  // namespace mobilellm::kernels::avx2
