// AVX-512 VNNI group-wise W8A8 GEMM/GEMV (contract: kernels/kernels.hpp, "group-wise W8A8") with
// vpdpbusd, exact for every int8 value.
//
// vpdpbusd multiplies unsigned by signed bytes. Here the weights are the unsigned operand: pack()
// stores w ^ 0x80 = w + 128 (0..255), the activations are used as they are (signed), and the
// excess is removed with the activations' own group sums:
//     sum_k a * w = sum_k (w + 128) * a  -  128 * sum_k a.
// A group's accumulators start at -128 * (sum of the row's 32 activations of the group), one
// vpsadbw per row and group, so the packed weights carry no correction data. Every partial sum is
// at most 32 * 255 * 128 < 2^20 in magnitude: nothing wraps.
//
// Packed layout ("32c4"): columns in blocks of 32 (the last block zero-padded: weight 0, stored
// as 0x80, and scale 0), K zero-padded to a multiple of 32. A block is, for each group of 32 K, a
// 128-byte header of the 32 columns' float scales followed by 8 steps of 128 bytes; step s holds,
// for columns 0..31 in order, that column's 4 weights at K = 32g + 4s .. 32g + 4s + 3. One 64-byte
// load is a vpdpbusd operand for 16 columns. A block's group is 1152 bytes (18 cache lines), so a
// 64-byte-aligned buffer keeps every load aligned.
//
// At the end of a group the int32 sums are converted and added into float accumulators as the
// contract writes it: acc = acc + (a_scale * w_scale) * float(sum) (no FMA: -ffp-contract=off).
//
// GEMM tile 4x32: 4 rows x 2 vectors = 8 int32 and 8 float accumulators; per step 2 weight loads,
// 4 broadcasts, 8 vpdpbusd. GEMV: one 32-column block, even and odd steps in separate
// accumulators (4 chains).
//
// Built with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; called only on CPUs that have them.
// Helpers live in an unnamed namespace and no standard-library template is used (see
// kernels/README.md, "ODR").
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"

namespace mobilellm::kernels::avx512vnni {
namespace {

constexpr std::uint32_t kMr = 4, kNr = 32, kKr = 4;
constexpr std::uint32_t kSteps = kGroupSize / kKr;                      // steps per group: 8
constexpr std::size_t kHeaderBytes = kNr * sizeof(float);               // a group's scales
constexpr std::size_t kStepBytes = kNr * kKr;                           // 128
constexpr std::size_t kGroupBytes = kHeaderBytes + kSteps * kStepBytes;  // 1152

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
            *out++ = static_cast<std::uint8_t>(v) ^ 0x80u;  // w + 128
          }
        }
      }
    }
  }
}

// -128 * (sum of the 32 signed activations at p), broadcast: the start of a group's accumulators.
// vpsadbw sums bytes as unsigned, so the bytes are offset by 128 first and 32 * 128 removed.
__m512i correction(const std::int8_t* p) {
  const __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
                                     _mm256_set1_epi8(static_cast<char>(0x80)));
  const __m256i sad = _mm256_sad_epu8(x, _mm256_setzero_si256());  // 4 x u64
  const __m128i half = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
  const std::int64_t biased = _mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1);
  const std::int32_t sum = static_cast<std::int32_t>(biased) - 32 * 128;
  return _mm512_set1_epi32(-128 * sum);
}

// 4 activations broadcast to every dword.
__m512i load_a4(const std::int8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}

// One row's 32 columns: v0 columns 0-15, v1 columns 16-31. Named members, not an array
// (kernels/README.md, "Register allocation").
struct Vec2 {
  __m512i v0, v1;
};
struct Flt2 {
  __m512 v0, v1;
};

void dpbusd2(Vec2& acc, __m512i a, __m512i w0, __m512i w1) {
  acc.v0 = _mm512_dpbusd_epi32(acc.v0, w0, a);  // unsigned weights x signed activations
  acc.v1 = _mm512_dpbusd_epi32(acc.v1, w1, a);
}

// The int32 group sums of rows a0..a3 (each at the group's first activation; repeated pointers
// when fewer than 4 rows remain) against one group of a block.
__attribute__((noinline)) void group_4x32(const std::int8_t* a0, const std::int8_t* a1,
                                          const std::int8_t* a2, const std::int8_t* a3,
                                          const std::uint8_t* steps, Vec2 sums[4]) {
  const __m512i c0 = correction(a0), c1 = correction(a1), c2 = correction(a2),
                c3 = correction(a3);
  Vec2 acc0 = {c0, c0}, acc1 = {c1, c1}, acc2 = {c2, c2}, acc3 = {c3, c3};
  for (std::uint32_t s = 0; s < kSteps; ++s, steps += kStepBytes) {
    const __m512i w0 = _mm512_loadu_si512(steps), w1 = _mm512_loadu_si512(steps + 64);
    dpbusd2(acc0, load_a4(a0 + s * kKr), w0, w1);
    dpbusd2(acc1, load_a4(a1 + s * kKr), w0, w1);
    dpbusd2(acc2, load_a4(a2 + s * kKr), w0, w1);
    dpbusd2(acc3, load_a4(a3 + s * kKr), w0, w1);
  }
  sums[0] = acc0;
  sums[1] = acc1;
  sums[2] = acc2;
  sums[3] = acc3;
}

// int32 -> float, to nearest. (The zero-masked form with a full mask: GCC 12's unmasked
// _mm512_cvtepi32_ps trips -Wmaybe-uninitialized on its own undefined-vector operand.)
__m512 to_f32(__m512i x) { return _mm512_maskz_cvtepi32_ps(static_cast<__mmask16>(0xffff), x); }

// acc + (a_scale * w_scale) * float(sum), lane by lane.
void rescale_add(Flt2& acc, float a_scale, const std::uint8_t* header, const Vec2& sums) {
  const __m512 as = _mm512_set1_ps(a_scale);
  const __m512 s0 = _mm512_mul_ps(as, _mm512_loadu_ps(reinterpret_cast<const float*>(header)));
  const __m512 s1 = _mm512_mul_ps(as, _mm512_loadu_ps(reinterpret_cast<const float*>(header + 64)));
  acc.v0 = _mm512_add_ps(acc.v0, _mm512_mul_ps(s0, to_f32(sums.v0)));
  acc.v1 = _mm512_add_ps(acc.v1, _mm512_mul_ps(s1, to_f32(sums.v1)));
}

// Columns [col, col + 16) of those below `n_end`, as a lane mask.
__mmask16 column_mask(std::uint32_t col, std::uint32_t n_end) {
  if (col >= n_end) return 0;
  const std::uint32_t valid = n_end - col;
  return valid >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << valid) - 1);
}

void store_f32(float* c, std::uint32_t col, std::uint32_t n_end, const Flt2& acc) {
  _mm512_mask_storeu_ps(c + col, column_mask(col, n_end), acc.v0);
  _mm512_mask_storeu_ps(c + col + 16, column_mask(col + 16, n_end), acc.v1);
}

// Group g's sums of columns [col, min(col + 32, n_end)) of one row, to c[j * groups + g].
void store_s32(std::int32_t* c, std::uint32_t col, std::uint32_t n_end, std::uint32_t groups,
               std::uint32_t g, const Vec2& sums) {
  alignas(64) std::int32_t lanes[kNr];
  _mm512_store_si512(lanes, sums.v0);
  _mm512_store_si512(lanes + 16, sums.v1);
  for (std::uint32_t j = 0; j < kNr && col + j < n_end; ++j) {
    c[static_cast<std::size_t>(col + j) * groups + g] = lanes[j];
  }
}

Flt2 zero_f32() { return {_mm512_setzero_ps(), _mm512_setzero_ps()}; }

// Column blocks outermost, then 4-row tiles, then groups. `c32` (test path) receives the group
// sums; otherwise `c` receives the rescaled result.
void gemm(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
          const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
          float* c, std::int32_t* c32, std::size_t c_stride) {
  const std::uint32_t groups = group_count(k);
  const std::size_t stride = block_bytes(k);
  for (std::uint32_t col = n_begin; col < n_end; col += kNr) {
    const std::uint8_t* block = static_cast<const std::uint8_t*>(packed) + (col / kNr) * stride;
    for (std::uint32_t row = 0; row < m; row += kMr) {
      // The last tile may have fewer than 4 rows: it recomputes the last row in the spare slots.
      const std::uint32_t rows = m - row < kMr ? m - row : kMr;
      const std::int8_t* a0 = a + row * a_stride;
      const std::int8_t* a1 = rows > 1 ? a0 + a_stride : a0;
      const std::int8_t* a2 = rows > 2 ? a1 + a_stride : a1;
      const std::int8_t* a3 = rows > 3 ? a2 + a_stride : a2;
      Flt2 acc[kMr] = {zero_f32(), zero_f32(), zero_f32(), zero_f32()};
      const std::uint8_t* group = block;
      for (std::uint32_t g = 0; g < groups; ++g, group += kGroupBytes) {
        const std::size_t at = static_cast<std::size_t>(g) * kGroupSize;
        Vec2 sums[kMr];
        group_4x32(a0 + at, a1 + at, a2 + at, a3 + at, group + kHeaderBytes, sums);
        for (std::uint32_t r = 0; r < rows; ++r) {
          if (c32 != nullptr) {
            store_s32(c32 + (row + r) * c_stride, col, n_end, groups, g, sums[r]);
          } else {
            rescale_add(acc[r], a_scale[static_cast<std::size_t>(row + r) * groups + g], group,
                        sums[r]);
          }
        }
      }
      if (c32 != nullptr) continue;
      for (std::uint32_t r = 0; r < rows; ++r) {
        store_f32(c + (row + r) * c_stride, col, n_end, acc[r]);
      }
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

// GEMV group: even and odd steps in separate accumulators (4 chains), added at the end (exact).
__attribute__((noinline)) void group_1x32(const std::int8_t* a, const std::uint8_t* steps,
                                          Vec2& sums) {
  const __m512i zero = _mm512_setzero_si512(), c = correction(a);
  Vec2 even = {c, c}, odd = {zero, zero};
  for (std::uint32_t s = 0; s < kSteps; s += 2, steps += 2 * kStepBytes) {
    dpbusd2(even, load_a4(a + s * kKr), _mm512_loadu_si512(steps), _mm512_loadu_si512(steps + 64));
    dpbusd2(odd, load_a4(a + (s + 1) * kKr), _mm512_loadu_si512(steps + kStepBytes),
            _mm512_loadu_si512(steps + kStepBytes + 64));
  }
  sums = {_mm512_add_epi32(even.v0, odd.v0), _mm512_add_epi32(even.v1, odd.v1)};
}

void gemv_f32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
              const float* a_scale, const void* packed, float* c) {
  const std::uint32_t groups = group_count(k);
  const std::size_t stride = block_bytes(k);
  for (std::uint32_t col = n_begin; col < n_end; col += kNr) {
    const std::uint8_t* group = static_cast<const std::uint8_t*>(packed) + (col / kNr) * stride;
    Flt2 acc = zero_f32();
    for (std::uint32_t g = 0; g < groups; ++g, group += kGroupBytes) {
      Vec2 sums;
      group_1x32(a + static_cast<std::size_t>(g) * kGroupSize, group + kHeaderBytes, sums);
      rescale_add(acc, a_scale[g], group, sums);
    }
    store_f32(c, col, n_end, acc);
  }
}

}  // namespace

extern constinit const QGemmG32Variant qgemm_f32_qs8dg32_qs8cg32_4x32c4 = {
    .name = "qgemm_f32_qs8dg32_qs8cg32__avx512vnni_4x32c4",
    .gemv_name = "qgemv_f32_qs8dg32_qs8cg32__avx512vnni_32c4",
    .isa = "avx512vnni",
    .supported = isa_avx512vnni_supported,
    .mr = kMr,
    .nr = kNr,
    .kr = kKr,
    .packed_size = packed_size,
    .pack = pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = gemv_f32,
};

}  // namespace mobilellm::kernels::avx512vnni
