// Pieces shared by the AVX-512 VNNI translation units (GEMM/pack and GEMV): shuffles, the
// reductions of accumulators into consecutive outputs, and a 16 x 16 transpose of 32-bit
// elements. AVX-512 F only, valid in every unit of this directory.
//
// Everything here is in an unnamed namespace on purpose: each unit that includes this header
// gets its own internal-linkage copies, compiled with that unit's flags (kernels/README.md, "ODR").
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace mobilellm::kernels::avx512vnni {
namespace {

// GCC 12's unmasked forms of these intrinsics pass an undefined vector as the masked-off source
// and trip -Wmaybe-uninitialized; with a constant all-ones mask the zero-masked forms are the same
// instructions, unmasked.
constexpr __mmask16 kAll16 = 0xffff;
constexpr __mmask8 kAll8 = 0xff;

inline __m512i unpacklo32(__m512i x, __m512i y) {
  return _mm512_maskz_unpacklo_epi32(kAll16, x, y);
}
inline __m512i unpackhi32(__m512i x, __m512i y) {
  return _mm512_maskz_unpackhi_epi32(kAll16, x, y);
}
inline __m512i unpacklo64(__m512i x, __m512i y) { return _mm512_maskz_unpacklo_epi64(kAll8, x, y); }
inline __m512i unpackhi64(__m512i x, __m512i y) { return _mm512_maskz_unpackhi_epi64(kAll8, x, y); }
// 128-bit lanes: result = [x.(Imm & 3), x.(Imm >> 2 & 3), y.(Imm >> 4 & 3), y.(Imm >> 6 & 3)].
template <int Imm>
__m512i shuffle128(__m512i x, __m512i y) {
  return _mm512_maskz_shuffle_i32x4(kAll16, x, y, Imm);
}

// Per 128-bit lane L of the result: [x0, x1, x2, x3] partial sums (of each input's 32-bit lanes
// 4L..4L+3).
inline __m512i reduce4_by_lane(__m512i x0, __m512i x1, __m512i x2, __m512i x3) {
  const __m512i t01 = _mm512_add_epi32(unpacklo32(x0, x1), unpackhi32(x0, x1));
  const __m512i t23 = _mm512_add_epi32(unpacklo32(x2, x3), unpackhi32(x2, x3));
  return _mm512_add_epi32(unpacklo64(t01, t23), unpackhi64(t01, t23));
}

// Two such results -> [u0 lanes 0+1, u0 lanes 2+3, u1 lanes 0+1, u1 lanes 2+3]. Applied twice, to
// four of them, it leaves in 128-bit lane i the 4 complete sums of the inputs of u_i.
inline __m512i fold_lanes(__m512i u0, __m512i u1) {
  return _mm512_add_epi32(shuffle128<_MM_SHUFFLE(2, 0, 2, 0)>(u0, u1),
                          shuffle128<_MM_SHUFFLE(3, 1, 3, 1)>(u0, u1));
}

// The 16 lane sums of x[0..15], in order, modulo 2^32.
inline __m512i reduce16(const __m512i* x) {
  return fold_lanes(
      fold_lanes(reduce4_by_lane(x[0], x[1], x[2], x[3]), reduce4_by_lane(x[4], x[5], x[6], x[7])),
      fold_lanes(reduce4_by_lane(x[8], x[9], x[10], x[11]),
                 reduce4_by_lane(x[12], x[13], x[14], x[15])));
}

// The sum of the 16 lanes of x, modulo 2^32.
inline std::int32_t lane_sum(__m512i x) {
  const __m512i zero = _mm512_setzero_si512();
  return _mm512_cvtsi512_si32(
      fold_lanes(fold_lanes(reduce4_by_lane(x, zero, zero, zero), zero), zero));
}

// In place, x[j] lane i <- x[i] lane j (16 x 16 elements of 32 bits): 64 shuffles. Stage 1
// interleaves pairs of rows, stage 2 gathers 4 rows per 128-bit lane (b[4q + m], lane L: rows
// 4q..4q+3 at element 4L + m), stages 3 and 4 transpose the 4 x 4 grid of 128-bit lanes.
inline void transpose16x16(__m512i* x) {
  __m512i a[16], b[16];
  for (int p = 0; p < 8; ++p) {
    a[2 * p] = unpacklo32(x[2 * p], x[2 * p + 1]);
    a[2 * p + 1] = unpackhi32(x[2 * p], x[2 * p + 1]);
  }
  for (int q = 0; q < 4; ++q) {
    b[4 * q] = unpacklo64(a[4 * q], a[4 * q + 2]);
    b[4 * q + 1] = unpackhi64(a[4 * q], a[4 * q + 2]);
    b[4 * q + 2] = unpacklo64(a[4 * q + 1], a[4 * q + 3]);
    b[4 * q + 3] = unpackhi64(a[4 * q + 1], a[4 * q + 3]);
  }
  for (int m = 0; m < 4; ++m) {
    const __m512i c0 = shuffle128<_MM_SHUFFLE(1, 0, 1, 0)>(b[m], b[4 + m]);
    const __m512i c1 = shuffle128<_MM_SHUFFLE(3, 2, 3, 2)>(b[m], b[4 + m]);
    const __m512i c2 = shuffle128<_MM_SHUFFLE(1, 0, 1, 0)>(b[8 + m], b[12 + m]);
    const __m512i c3 = shuffle128<_MM_SHUFFLE(3, 2, 3, 2)>(b[8 + m], b[12 + m]);
    x[m] = shuffle128<_MM_SHUFFLE(2, 0, 2, 0)>(c0, c2);
    x[4 + m] = shuffle128<_MM_SHUFFLE(3, 1, 3, 1)>(c0, c2);
    x[8 + m] = shuffle128<_MM_SHUFFLE(2, 0, 2, 0)>(c1, c3);
    x[12 + m] = shuffle128<_MM_SHUFFLE(3, 1, 3, 1)>(c1, c3);
  }
}

}  // namespace
}  // namespace mobilellm::kernels::avx512vnni
