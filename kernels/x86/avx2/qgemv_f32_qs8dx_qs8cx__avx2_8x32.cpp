// AVX2 W8A8 decode GEMV on the model file's canonical rows (no packing: kernels.hpp, "Layouts"):
// c[j] = (a_scale * w_scale[j]) * float(sum_k a[k] * w[j][k]), exact for every int8.
//
// vpmaddubsw multiplies unsigned by signed bytes and adds pairs into saturating int16. It is used
// in its sign-transfer form: |w| (an unsigned byte, 128 for w = -128) times a with w's sign
// (vpsignb), so that each product is w * a. That is exact as long as a != -128: then
// |w * a| <= 128 * 127, a pair is at most 32512 in magnitude and never saturates, and vpmaddwd by
// ones adds the pairs into int32 lanes. Per 32 bytes of a row: abs, sign, vpmaddubsw, vpmaddwd,
// vpaddd, no widening of the activations. The activation quantizer never produces -128, but the
// contract accepts every int8, so one scan of `a` per call decides: if it holds a -128, the call
// runs the exact widening path of this ISA's GEMM instead (vpmovsxbw both operands + vpmaddwd:
// products of at most 2^14, pairs in int32).
//
// Tile "8x32": 8 outputs per group, K in steps of 32 bytes. As in the AVX-512 GEMV, the rows are
// read one after the other, a single sequential stream of weights when the rows are contiguous
// (what the hardware prefetchers follow at the full memory bandwidth), the activations are
// reloaded for every row from L1 (copied to a 32-byte boundary first if needed); each row's
// accumulator is kept unreduced and the 8 of a group are reduced together, once, into one vector of
// 8 consecutive outputs that the float epilogue rescales as a vector. A K tail that is not a
// multiple of 32 is copied, for a (once per call) and for each row, into a zeroed local step, so
// no load reads past the k bytes of a row.
//
// Built with -mavx2 -mfma; called only on CPUs that have them. Helpers live in an unnamed
// namespace and no standard-library template is used (see kernels/README.md, "ODR").
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::avx2 {
namespace {

constexpr std::uint32_t kGroup = 8;  // outputs per reduction: one ymm of int32
constexpr std::uint32_t kStep = 32;  // bytes of K per step: one ymm of int8

__m256i load(const std::int8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

__m256i widen(const std::int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// acc + the 32 products of one step (w at p, a at q), in 8 int32 lanes.
// Sign transfer: exact when no byte of the activations is -128.
__m256i step_sign(__m256i acc, const std::int8_t* p, const std::int8_t* q) {
  const __m256i w = load(p);
  const __m256i pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(load(q), w));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// Widening: exact for every byte.
__m256i step_widen(__m256i acc, const std::int8_t* p, const std::int8_t* q) {
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(widen(p), widen(q)));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(widen(p + 16), widen(q + 16)));
}

// The whole steps of one row: its unreduced sums. Out of line, one call per row (as in the
// AVX-512 GEMV). The only loop-carried dependency is one vpaddd per step, so one chain suffices.
template <bool Widen>
__attribute__((noinline)) __m256i row_steps(std::uint32_t steps, const std::int8_t* a,
                                            const std::int8_t* w) {
  __m256i acc = _mm256_setzero_si256();
  for (std::uint32_t s = 0; s < steps; ++s, w += kStep, a += kStep) {
    acc = Widen ? step_widen(acc, w, a) : step_sign(acc, w, a);
  }
  return acc;
}

// Bytes [0, count) of p in a zeroed 32-byte step (count < 32).
struct TailStep {
  alignas(32) std::int8_t bytes[kStep];
  TailStep(const std::int8_t* p, std::uint32_t count) {
    std::memset(bytes, 0, sizeof bytes);
    std::memcpy(bytes, p, count);
  }
};

// The activations, and what the call needs to know about them.
struct Activations {
  const std::int8_t* a;
  std::uint32_t k, steps, tail;  // k = steps * kStep + tail
  TailStep last;                 // bytes [steps * kStep, k) of a, zero-padded
};

// One row: its unreduced sums (8 lanes).
template <bool Widen>
__m256i row_sums(const Activations& act, const std::int8_t* w) {
  __m256i acc = row_steps<Widen>(act.steps, act.a, w);
  if (act.tail != 0) {
    const TailStep last(w + act.steps * kStep, act.tail);
    acc = Widen ? step_widen(acc, last.bytes, act.last.bytes)
                : step_sign(acc, last.bytes, act.last.bytes);
  }
  return acc;
}

// The 8 accumulators -> their 8 sums, in order.
__m256i reduce8(const __m256i* x) {
  const __m256i h0123 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(x[0], x[1]), _mm256_hadd_epi32(x[2], x[3]));
  const __m256i h4567 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(x[4], x[5]), _mm256_hadd_epi32(x[6], x[7]));
  // Each 128-bit half of h0123 holds 4 partial sums of x[0..3] (from that half of the inputs).
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                          _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

// `count` (1..8) rows from w, one after the other -> their sums, in order (lanes past count 0).
template <bool Widen>
__m256i group_sums(std::uint32_t count, const Activations& act, const std::int8_t* w,
                   std::size_t stride) {
  __m256i rows[kGroup];
  for (std::uint32_t r = 0; r < count; ++r) rows[r] = row_sums<Widen>(act, w + r * stride);
  for (std::uint32_t r = count; r < kGroup; ++r) rows[r] = _mm256_setzero_si256();
  return reduce8(rows);
}

// Whether a byte of a[0, k) is -128 (the sign-transfer path cannot take it).
bool has_min(const Activations& act) {
  const __m256i min = _mm256_set1_epi8(-128);
  __m256i any = _mm256_cmpeq_epi8(load(act.last.bytes), min);
  for (std::uint32_t s = 0; s < act.steps; ++s) {
    any = _mm256_or_si256(any, _mm256_cmpeq_epi8(load(act.a + s * kStep), min));
  }
  return _mm256_movemask_epi8(any) != 0;
}

// Lanes [0, count) all ones, the rest zero.
__m256i first_lanes(std::uint32_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<std::int32_t>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Output stages: `count` (1..8) consecutive outputs from `col`.
struct StoreS32 {
  std::int32_t* c;
  void operator()(std::uint32_t col, std::uint32_t count, __m256i sums) const {
    if (count == kGroup) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + col), sums);
    } else {
      _mm256_maskstore_epi32(c + col, first_lanes(count), sums);
    }
  }
};

// c = (a_scale * w_scale) * float(sum), the contract's expression.
struct StoreF32 {
  float a_scale;
  const float* w_scale;
  float* c;
  void operator()(std::uint32_t col, std::uint32_t count, __m256i sums) const {
    const __m256 a = _mm256_set1_ps(a_scale);
    if (count == kGroup) {
      const __m256 scale = _mm256_mul_ps(a, _mm256_loadu_ps(w_scale + col));
      _mm256_storeu_ps(c + col, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sums)));
    } else {
      const __m256i mask = first_lanes(count);
      const __m256 scale = _mm256_mul_ps(a, _mm256_maskload_ps(w_scale + col, mask));
      _mm256_maskstore_ps(c + col, mask, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sums)));
    }
  }
};

template <bool Widen, typename Store>
void gemv_rows(std::uint32_t n_begin, std::uint32_t n_end, const Activations& act,
               const std::int8_t* w, std::size_t stride, const Store& store) {
  for (std::uint32_t j = n_begin; j < n_end; j += kGroup) {
    const std::uint32_t count = n_end - j < kGroup ? n_end - j : kGroup;
    store(j, count, group_sums<Widen>(count, act, w + j * stride, stride));
  }
}

// Activations up to this many bytes are copied to a 32-byte boundary when they are not on one:
// every row reloads all of them, and a load that straddles two cache lines costs two. Larger K
// (none in MobileLLM) runs on `a` where it is.
constexpr std::uint32_t kAlignedA = 4096;

template <typename Store>
void gemv(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
          const std::int8_t* w, std::size_t stride, const Store& store) {
  alignas(32) std::int8_t aligned[kAlignedA];
  if (reinterpret_cast<std::uintptr_t>(a) % 32 != 0 && k <= kAlignedA) {
    std::memcpy(aligned, a, k);
    a = aligned;
  }
  const std::uint32_t steps = k / kStep, tail = k % kStep;
  const Activations act = {a, k, steps, tail, TailStep(a + steps * kStep, tail)};
  if (has_min(act)) {
    gemv_rows<true>(n_begin, n_end, act, w, stride, store);
  } else {
    gemv_rows<false>(n_begin, n_end, act, w, stride, store);
  }
}

}  // namespace

// Referenced by the variant's descriptor (qgemm_f32_qs8dx_qs8cx__avx2_2x8c8.cpp).

void qgemv_s32_qs8dx_qs8cx_8x32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                std::int32_t* c) {
  gemv(n_begin, n_end, k, a, w, w_stride, StoreS32{c});
}

void qgemv_f32_qs8dx_qs8cx_8x32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, float a_scale, const std::int8_t* w,
                                std::size_t w_stride, const float* w_scale, float* c) {
  gemv(n_begin, n_end, k, a, w, w_stride, StoreF32{a_scale, w_scale, c});
}

}  // namespace mobilellm::kernels::avx2
