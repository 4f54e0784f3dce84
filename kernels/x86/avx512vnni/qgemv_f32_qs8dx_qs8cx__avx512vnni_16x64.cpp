// AVX-512 VNNI W8A8 decode GEMV on the model file's canonical rows (no packing: kernels.hpp,
// "Layouts"): c[j] = (a_scale * w_scale[j]) * float(sum_k a[k] * w[j][k]), exact for every int8.
//
// vpdpbusd multiplies unsigned by signed bytes. Here the weights are the unsigned operand,
// offset on the fly (w ^ 0x80 = w + 128, in [0, 255], exact for -128 too), and the activations
// the signed one, so the correction is the same for every row and is computed once per call:
//     sum_k a*w = sum_k (w + 128) * a  -  128 * sum_k a.
// vpdpbusd adds without saturation, i.e. modulo 2^32, and the true result fits in int32
// (k <= kMaxK), so the wrapped arithmetic is exact. Per 64 bytes of a row: a weight load folded
// into a vpxord, an activation load (from L1), one vpdpbusd.
//
// Tile "16x64": 16 outputs per group, K in steps of 64 bytes. The rows are read one after the
// other, each from its first byte to its last: with rows contiguous in the file (w_stride == k),
// the weights are one sequential stream, which the hardware prefetchers follow at the full memory
// bandwidth. Reading several rows at once to share the activation loads (2 to 16 interleaved
// streams) was far slower from DRAM on the Zen 4 test machine, and software prefetching on top of
// the sequential stream only cost L3 bandwidth (kernels/README.md, "Decode"). The activations
// are reloaded for every row (from L1; copied to a 64-byte boundary first if they are not on
// one, since split loads cost about 20% from L2/L3). A row runs four independent vpdpbusd chains
// (steps 4i, 4i+1, 4i+2, 4i+3); its accumulator is kept unreduced, and the 16 of a group are
// reduced together, once, by a transposing tree of shuffles into one vector of 16 consecutive
// outputs, which the float epilogue rescales as a vector. A K tail that is not a multiple of 64 is read with byte-masked loads (the row and a),
// so no load touches a byte past the k of a row. The last group of a range may be partial.
//
// Built with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; called only on CPUs that have them.
// Helpers live in an unnamed namespace and no standard-library template is used (see
// kernels/README.md, "ODR").
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"
#include "kernels/x86/avx512vnni/avx512_common.hpp"

namespace mobilellm::kernels::avx512vnni {
namespace {

constexpr std::uint32_t kGroup = 16;  // outputs per reduction: one zmm of int32
constexpr std::uint32_t kStep = 64;   // bytes of K per step: one zmm of int8

// Bytes [0, count) of a 64-byte step, count in [1, 64].
__mmask64 first_bytes(std::uint32_t count) {
  return count >= 64 ? ~__mmask64{0} : (__mmask64{1} << count) - 1;
}

// acc + (w ^ 0x80) . a, 16 lanes of 4 products each.
__m512i dot_step(__m512i acc, __m512i w, __m512i a) {
  return _mm512_dpbusd_epi32(
      acc, _mm512_xor_si512(w, _mm512_set1_epi32(static_cast<std::int32_t>(0x80808080u))), a);
}

__m512i load(const std::int8_t* p) { return _mm512_loadu_si512(p); }

// -128 * sum_k a[k] in every lane: |sum| <= 128 * kMaxK, so the product fits in int32.
__m512i correction(std::uint32_t k, const std::int8_t* a) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc = _mm512_setzero_si512();
  std::uint32_t s = 0;
  for (; s + kStep <= k; s += kStep) acc = _mm512_dpbusd_epi32(acc, ones, load(a + s));
  if (s < k) {
    acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(first_bytes(k - s), a + s));
  }
  return _mm512_set1_epi32(-128 * lane_sum(acc));
}

// The whole steps of one row: its unreduced biased sums (16 lanes, the products of 4 bytes each),
// with four independent vpdpbusd chains (steps 4i, 4i + 1, 4i + 2, 4i + 3) and the last 0-3
// steps straight-line. Out of line: one call per row measured at least as fast as the row loop
// inlined around it.
__attribute__((noinline)) __m512i row_steps(std::uint32_t steps, const std::int8_t* a,
                                            const std::int8_t* w) {
  __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0;
  for (std::uint32_t q = steps / 4; q > 0; --q) {
    c0 = dot_step(c0, load(w), load(a));
    c1 = dot_step(c1, load(w + kStep), load(a + kStep));
    c2 = dot_step(c2, load(w + 2 * kStep), load(a + 2 * kStep));
    c3 = dot_step(c3, load(w + 3 * kStep), load(a + 3 * kStep));
    w += 4 * kStep;
    a += 4 * kStep;
  }
  const std::uint32_t rest = steps % 4;
  if (rest > 0) c0 = dot_step(c0, load(w), load(a));
  if (rest > 1) c1 = dot_step(c1, load(w + kStep), load(a + kStep));
  if (rest > 2) c2 = dot_step(c2, load(w + 2 * kStep), load(a + 2 * kStep));
  return _mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3));
}

// One row of k bytes, the partial last step (if any) through byte-masked loads.
__m512i row_sums(std::uint32_t k, const std::int8_t* a, const std::int8_t* w) {
  const std::uint32_t steps = k / kStep, o = steps * kStep;
  __m512i acc = row_steps(steps, a, w);
  if (o < k) {
    const __mmask64 mask = first_bytes(k - o);
    acc = dot_step(acc, _mm512_maskz_loadu_epi8(mask, w + o), _mm512_maskz_loadu_epi8(mask, a + o));
  }
  return acc;
}

// `count` (1..16) rows from w, one after the other -> their corrected sums, in order (lanes past
// count are unspecified).
__m512i group_sums(std::uint32_t count, std::uint32_t k, const std::int8_t* a, const std::int8_t* w,
                   std::size_t stride, __m512i corr) {
  __m512i rows[kGroup];
  for (std::uint32_t r = 0; r < count; ++r) rows[r] = row_sums(k, a, w + r * stride);
  for (std::uint32_t r = count; r < kGroup; ++r) rows[r] = _mm512_setzero_si512();
  return _mm512_add_epi32(reduce16(rows), corr);
}

// Output stages: the outputs of a group in `mask`, from column `col`.
struct StoreS32 {
  std::int32_t* c;
  void operator()(std::uint32_t col, __mmask16 mask, __m512i sums) const {
    _mm512_mask_storeu_epi32(c + col, mask, sums);
  }
};

// c = (a_scale * w_scale) * float(sum), the contract's expression. (The zero-masked conversion
// avoids GCC 12's -Wmaybe-uninitialized on the unmasked one; lanes outside `mask` are not stored.)
struct StoreF32 {
  float a_scale;
  const float* w_scale;
  float* c;
  void operator()(std::uint32_t col, __mmask16 mask, __m512i sums) const {
    const __m512 scale =
        _mm512_mul_ps(_mm512_set1_ps(a_scale), _mm512_maskz_loadu_ps(mask, w_scale + col));
    _mm512_mask_storeu_ps(c + col, mask,
                          _mm512_mul_ps(scale, _mm512_maskz_cvtepi32_ps(mask, sums)));
  }
};

// Activations up to this many bytes are copied to a 64-byte boundary when they are not on one:
// every row reloads all of them, and a load that straddles two cache lines costs two (about 20%
// from L2 and L3 on Zen 4 with `a` 16 bytes off; bench_kernels feeds a std::vector). Larger K
// (none in MobileLLM) runs on `a` where it is.
constexpr std::uint32_t kAlignedA = 4096;

template <typename Store>
void gemv(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
          const std::int8_t* w, std::size_t stride, const Store& store) {
  alignas(64) std::int8_t aligned[kAlignedA];
  if (reinterpret_cast<std::uintptr_t>(a) % 64 != 0 && k <= kAlignedA) {
    std::memcpy(aligned, a, k);
    a = aligned;
  }
  const __m512i corr = correction(k, a);
  for (std::uint32_t j = n_begin; j < n_end; j += kGroup) {
    const std::uint32_t count = n_end - j < kGroup ? n_end - j : kGroup;
    const __m512i sums = group_sums(count, k, a, w + j * stride, stride, corr);
    store(j, static_cast<__mmask16>((1u << count) - 1), sums);
  }
}

}  // namespace

// Referenced by the variant's descriptor (qgemm_f32_qs8dx_qs8cx__avx512vnni_4x64c4.cpp).

void qgemv_s32_qs8dx_qs8cx_16x64(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                 const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                 std::int32_t* c) {
  gemv(n_begin, n_end, k, a, w, w_stride, StoreS32{c});
}

void qgemv_f32_qs8dx_qs8cx_16x64(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                 const std::int8_t* a, float a_scale, const std::int8_t* w,
                                 std::size_t w_stride, const float* w_scale, float* c) {
  gemv(n_begin, n_end, k, a, w, w_stride, StoreF32{a_scale, w_scale, c});
}

}  // namespace mobilellm::kernels::avx512vnni
