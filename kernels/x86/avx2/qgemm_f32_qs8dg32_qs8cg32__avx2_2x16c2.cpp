// AVX2 group-wise W8A8 GEMM/GEMV (contract: kernels/kernels.hpp, "group-wise W8A8"): int8
// widened to int16 (vpmovsxbw) and multiplied pairwise into int32 (vpmaddwd), exact for every
// int8 value (two products of at most 2^14 per int32 lane), then one float rescale per group.
//
// Packed layout ("16c2"): columns in blocks of 16 (the last block zero-padded), K zero-padded to
// a multiple of 32. A block is, for each group of 32 K, a 64-byte header of the 16 columns'
// float scales followed by 16 steps of 32 bytes; step s holds, for columns 0..15 in order, that
// column's weights at K = 32g + 2s and 32g + 2s + 1. One 16-byte load + vpmovsxbw gives 8
// columns' pairs as 16 int16; vpmaddwd against the step's activation pair broadcast to every
// dword gives those 8 columns' partial sums in 8 int32 lanes directly, so there is no horizontal
// reduction. A block's group is 576 bytes (9 cache lines): a 64-byte-aligned buffer keeps every
// header aligned.
//
// The activations of a group are widened once per row into a small int16 buffer, from which
// each step's pair is broadcast (vpbroadcastd from memory). At the end of a group the int32 sums
// are converted and added into float accumulators as the contract writes it:
//     acc = acc + (a_scale * w_scale) * float(sum)          (no FMA: -ffp-contract=off)
//
// GEMM tile 2x16: 2 rows x 2 vectors = 4 int32 and 4 float accumulators, 2 weight and 2
// activation registers. GEMV: one 16-column block, even and odd steps in separate accumulators.
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

constexpr std::uint32_t kMr = 2, kNr = 16, kKr = 2;
constexpr std::uint32_t kSteps = kGroupSize / kKr;                      // steps per group: 16
constexpr std::size_t kHeaderBytes = kNr * sizeof(float);               // a group's scales
constexpr std::size_t kStepBytes = kNr * kKr;                           // 32
constexpr std::size_t kGroupBytes = kHeaderBytes + kSteps * kStepBytes;  // 576

std::size_t block_bytes(std::uint32_t k) { return group_count(k) * kGroupBytes; }

std::size_t packed_size(std::uint32_t n, std::uint32_t k) {
  return static_cast<std::size_t>((n + kNr - 1) / kNr) * block_bytes(k);
}

void pack(std::uint32_t n, std::uint32_t k, const std::int8_t* w, const float* w_scale,
          void* packed) {
  auto* out = static_cast<std::uint8_t*>(packed);
  const std::uint32_t blocks = (n + kNr - 1) / kNr, groups = group_count(k);
  for (std::uint32_t b = 0; b < blocks; ++b) {
    for (std::uint32_t g = 0; g < groups; ++g) {
      for (std::uint32_t c = 0; c < kNr; ++c) {
        const std::uint32_t col = b * kNr + c;
        const float s = col < n ? w_scale[static_cast<std::size_t>(col) * groups + g] : 0.0f;
        std::memcpy(out, &s, sizeof s);
        out += sizeof s;
      }
      for (std::uint32_t s = 0; s < kSteps; ++s) {
        for (std::uint32_t c = 0; c < kNr; ++c) {
          const std::uint32_t col = b * kNr + c;
          for (std::uint32_t t = 0; t < kKr; ++t) {
            const std::uint32_t kk = g * kGroupSize + s * kKr + t;
            const std::int8_t v = col < n && kk < k ? w[static_cast<std::size_t>(col) * k + kk] : 0;
            *out++ = static_cast<std::uint8_t>(v);
          }
        }
      }
    }
  }
}

// A group's 32 activations of one row, sign-extended to int16, so that each step's pair is one
// 32-bit broadcast.
struct Widened {
  alignas(32) std::int16_t v[kGroupSize];
};

void widen(const std::int8_t* a, Widened& out) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out.v),
                     _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out.v + 16),
                     _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1)));
}

__m256i pair(const Widened& a, std::uint32_t step) {
  std::int32_t v;
  std::memcpy(&v, a.v + 2 * step, sizeof v);
  return _mm256_set1_epi32(v);
}

// Columns 8h..8h+7 of one step, as 8 (k, k+1) pairs of int16.
__m256i load_w(const std::uint8_t* step, int h) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(step + 16 * h)));
}

// One row's accumulators against one block: columns 0-7 in v0, 8-15 in v1. Named members, not
// an array (kernels/README.md, "Register allocation").
struct Vec2 {
  __m256i v0, v1;
};
struct Flt2 {
  __m256 v0, v1;
};

// The int32 group sums of rows a0 and a1 (a1 may repeat a0) against one group of a block.
__attribute__((noinline)) void group_2x16(const Widened& a0, const Widened& a1,
                                          const std::uint8_t* steps, Vec2& s0, Vec2& s1) {
  Vec2 acc0 = {_mm256_setzero_si256(), _mm256_setzero_si256()}, acc1 = acc0;
  for (std::uint32_t s = 0; s < kSteps; ++s, steps += kStepBytes) {
    const __m256i w0 = load_w(steps, 0), w1 = load_w(steps, 1);
    const __m256i p0 = pair(a0, s), p1 = pair(a1, s);
    acc0.v0 = _mm256_add_epi32(acc0.v0, _mm256_madd_epi16(p0, w0));
    acc0.v1 = _mm256_add_epi32(acc0.v1, _mm256_madd_epi16(p0, w1));
    acc1.v0 = _mm256_add_epi32(acc1.v0, _mm256_madd_epi16(p1, w0));
    acc1.v1 = _mm256_add_epi32(acc1.v1, _mm256_madd_epi16(p1, w1));
  }
  s0 = acc0;
  s1 = acc1;
}

// acc + (a_scale * w_scale) * float(sum), lane by lane.
__m256 rescale_add(__m256 acc, float a_scale, const float* w_scale, __m256i sum) {
  const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(a_scale), _mm256_loadu_ps(w_scale));
  return _mm256_add_ps(acc, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sum)));
}

void rescale_add(Flt2& acc, float a_scale, const std::uint8_t* header, const Vec2& sums) {
  const float* w_scale = reinterpret_cast<const float*>(header);
  acc.v0 = rescale_add(acc.v0, a_scale, w_scale, sums.v0);
  acc.v1 = rescale_add(acc.v1, a_scale, w_scale + 8, sums.v1);
}

// Lanes [0, count) all ones, the rest zero.
__m256i first_lanes(std::uint32_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<std::int32_t>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Columns [col, min(col + 16, n_end)) of one row.
void store_f32(float* c, std::uint32_t col, std::uint32_t n_end, const Flt2& acc) {
  const std::uint32_t valid = n_end - col;
  if (valid >= kNr) {
    _mm256_storeu_ps(c + col, acc.v0);
    _mm256_storeu_ps(c + col + 8, acc.v1);
    return;
  }
  _mm256_maskstore_ps(c + col, first_lanes(valid), acc.v0);
  if (valid > 8) _mm256_maskstore_ps(c + col + 8, first_lanes(valid - 8), acc.v1);
}

// Group g's sums of columns [col, min(col + 16, n_end)) of one row, to c[j * groups + g].
void store_s32(std::int32_t* c, std::uint32_t col, std::uint32_t n_end, std::uint32_t groups,
               std::uint32_t g, const Vec2& sums) {
  alignas(32) std::int32_t lanes[kNr];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), sums.v0);
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes + 8), sums.v1);
  for (std::uint32_t j = 0; j < kNr && col + j < n_end; ++j) {
    c[static_cast<std::size_t>(col + j) * groups + g] = lanes[j];
  }
}

// Column blocks outermost, then 2-row tiles, then groups. `c32` (test path) receives the group
// sums; otherwise `c` receives the rescaled result.
void gemm(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
          const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
          float* c, std::int32_t* c32, std::size_t c_stride) {
  const std::uint32_t groups = group_count(k);
  const std::size_t stride = block_bytes(k);
  for (std::uint32_t col = n_begin; col < n_end; col += kNr) {
    const std::uint8_t* block = static_cast<const std::uint8_t*>(packed) + (col / kNr) * stride;
    for (std::uint32_t row = 0; row < m; row += kMr) {
      const bool two = m - row > 1;
      const std::int8_t* a0 = a + row * a_stride;
      const std::int8_t* a1 = two ? a0 + a_stride : a0;
      const float* s0 = a_scale + static_cast<std::size_t>(row) * groups;
      const float* s1 = two ? s0 + groups : s0;
      Flt2 acc0 = {_mm256_setzero_ps(), _mm256_setzero_ps()}, acc1 = acc0;
      const std::uint8_t* group = block;
      for (std::uint32_t g = 0; g < groups; ++g, group += kGroupBytes) {
        Widened w0, w1;
        widen(a0 + g * kGroupSize, w0);
        widen(a1 + g * kGroupSize, w1);
        Vec2 sum0, sum1;
        group_2x16(w0, w1, group + kHeaderBytes, sum0, sum1);
        if (c32 != nullptr) {
          store_s32(c32 + row * c_stride, col, n_end, groups, g, sum0);
          if (two) store_s32(c32 + (row + 1) * c_stride, col, n_end, groups, g, sum1);
          continue;
        }
        rescale_add(acc0, s0[g], group, sum0);
        rescale_add(acc1, s1[g], group, sum1);
      }
      if (c32 != nullptr) continue;
      store_f32(c + row * c_stride, col, n_end, acc0);
      if (two) store_f32(c + (row + 1) * c_stride, col, n_end, acc1);
    }
  }
}

void gemm_s32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
              std::size_t c_stride) {
  gemm(m, n_begin, n_end, k, a, a_stride, nullptr, packed, nullptr, c, c_stride);
}

void gemm_f32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
              float* c, std::size_t c_stride) {
  gemm(m, n_begin, n_end, k, a, a_stride, a_scale, packed, c, nullptr, c_stride);
}

// GEMV group: even and odd steps in separate accumulators (4 independent chains), added at the
// end of the group (exact int32 addition).
__attribute__((noinline)) void group_1x16(const Widened& a, const std::uint8_t* steps,
                                          Vec2& sums) {
  const __m256i zero = _mm256_setzero_si256();
  Vec2 even = {zero, zero}, odd = {zero, zero};
  for (std::uint32_t s = 0; s < kSteps; s += 2, steps += 2 * kStepBytes) {
    const __m256i pe = pair(a, s), po = pair(a, s + 1);
    even.v0 = _mm256_add_epi32(even.v0, _mm256_madd_epi16(pe, load_w(steps, 0)));
    even.v1 = _mm256_add_epi32(even.v1, _mm256_madd_epi16(pe, load_w(steps, 1)));
    odd.v0 = _mm256_add_epi32(odd.v0, _mm256_madd_epi16(po, load_w(steps + kStepBytes, 0)));
    odd.v1 = _mm256_add_epi32(odd.v1, _mm256_madd_epi16(po, load_w(steps + kStepBytes, 1)));
  }
  sums = {_mm256_add_epi32(even.v0, odd.v0), _mm256_add_epi32(even.v1, odd.v1)};
}

void gemv_f32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
              const float* a_scale, const void* packed, float* c) {
  const std::uint32_t groups = group_count(k);
  const std::size_t stride = block_bytes(k);
  for (std::uint32_t col = n_begin; col < n_end; col += kNr) {
    const std::uint8_t* group = static_cast<const std::uint8_t*>(packed) + (col / kNr) * stride;
    Flt2 acc = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (std::uint32_t g = 0; g < groups; ++g, group += kGroupBytes) {
      Widened wa;
      widen(a + g * kGroupSize, wa);
      Vec2 sums;
      group_1x16(wa, group + kHeaderBytes, sums);
      rescale_add(acc, a_scale[g], group, sums);
    }
    store_f32(c, col, n_end, acc);
  }
}

}  // namespace

extern constinit const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_2x16c2 = {
    .name = "qgemm_f32_qs8dg32_qs8cg32__avx2_2x16c2",
    .gemv_name = "qgemv_f32_qs8dg32_qs8cg32__avx2_16c2",
    .isa = "avx2",
    .supported = isa_avx2_supported,
    .mr = kMr,
    .nr = kNr,
    .kr = kKr,
    .packed_size = packed_size,
    .pack = pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = gemv_f32,
};

}  // namespace mobilellm::kernels::avx2
