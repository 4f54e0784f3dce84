// AVX-512 VNNI W8A8 GEMM/GEMV with vpdpbusd, exact for every int8 value.
//
// vpdpbusd multiplies unsigned by signed bytes, so activations are offset to unsigned on the fly
// (a ^ 0x80 = a + 128, one vpxord per broadcast) and the excess is removed with the weights' row
// sums, precomputed by pack():
//     sum_k a*w = sum_k (a + 128) * w  -  128 * sum_k w.
// The accumulators start at -128 * sum_k w instead of 0. vpdpbusd adds without saturation, i.e.
// modulo 2^32, and the true result fits in int32 (k <= kMaxK), so the wrapped arithmetic is exact
// even when the biased partial sums overflow (they do for k near kMaxK).
//
// Packed layout ("64c4"): columns in blocks of 64 (the last block zero-padded), K zero-padded to a
// multiple of 4. A block is a 256-byte header of 64 int32 corrections (-128 * row sum, by column)
// followed by K/4 steps of 256 bytes; a step holds, for columns 0..63 in order, that column's 4
// consecutive int8 weights. So one 64-byte load is a vpdpbusd operand for 16 columns, and a block
// is one contiguous stream. Block size is a multiple of 64 bytes: a 64-byte-aligned buffer keeps
// every weight load aligned.
//
// GEMM tile 4x64: 4 rows x 4 vectors = 16 accumulators. Per K step: 4 weight loads, 4 broadcast
// loads + vpxord, 16 vpdpbusd; the tile is bound by vpdpbusd throughput. The column loop is
// outermost, so a weight block (64 * K bytes) stays in L2 while every row tile uses it. When
// fewer than 4 rows remain, the spare rows of the tile repeat the last one and are not stored.
// GEMV: one block at a time, K unrolled by two into 8 independent accumulators.
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

constexpr std::uint32_t kMr = 4, kNr = 64, kKr = 4;
constexpr std::size_t kStepBytes = kNr * kKr;                     // one K step of one block
constexpr std::size_t kHeaderBytes = kNr * sizeof(std::int32_t);  // the corrections

std::uint32_t k_steps(std::uint32_t k) { return (k + kKr - 1) / kKr; }
std::size_t block_bytes(std::uint32_t k) { return kHeaderBytes + k_steps(k) * kStepBytes; }

std::size_t packed_size(std::uint32_t n, std::uint32_t k) {
  return static_cast<std::size_t>((n + kNr - 1) / kNr) * block_bytes(k);
}

void pack(std::uint32_t n, std::uint32_t k, const std::int8_t* w, void* packed) {
  auto* out = static_cast<std::uint8_t*>(packed);
  const std::uint32_t blocks = (n + kNr - 1) / kNr, steps = k_steps(k);
  for (std::uint32_t b = 0; b < blocks; ++b) {
    for (std::uint32_t c = 0; c < kNr; ++c) {
      const std::uint32_t col = b * kNr + c;
      std::int32_t row_sum = 0;  // |row_sum| <= 128 * kMaxK, so -128 * row_sum fits in int32
      for (std::uint32_t kk = 0; col < n && kk < k; ++kk) {
        row_sum += w[static_cast<std::size_t>(col) * k + kk];
      }
      const std::int32_t correction = -128 * row_sum;
      std::memcpy(out + c * sizeof correction, &correction, sizeof correction);
    }
    out += kHeaderBytes;
    for (std::uint32_t s = 0; s < steps; ++s) {
      for (std::uint32_t c = 0; c < kNr; ++c) {
        const std::uint32_t col = b * kNr + c;
        for (std::uint32_t t = 0; t < kKr; ++t) {
          const std::uint32_t kk = s * kKr + t;
          const std::int8_t v = col < n && kk < k ? w[static_cast<std::size_t>(col) * k + kk] : 0;
          *out++ = static_cast<std::uint8_t>(v);
        }
      }
    }
  }
}

// 4 activations broadcast to every dword and offset to unsigned (+128 == flipping the sign bit).
__m512i load_a4(const std::int8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm512_xor_si512(_mm512_set1_epi32(v),
                          _mm512_set1_epi32(static_cast<std::int32_t>(0x80808080u)));
}

// Four vectors: the weights of one K step for 64 columns, or one row's 64 accumulators (columns
// 16v..16v+15 in v<v>). Named members, not an array: GCC 12 keeps arrays of vectors partly in
// memory inside the K loop.
struct Vec4 {
  __m512i v0, v1, v2, v3;
};

Vec4 load4(const std::uint8_t* p) {
  return {_mm512_loadu_si512(p), _mm512_loadu_si512(p + 64), _mm512_loadu_si512(p + 128),
          _mm512_loadu_si512(p + 192)};
}

void dpbusd4(Vec4& acc, __m512i a, const Vec4& w) {
  acc.v0 = _mm512_dpbusd_epi32(acc.v0, a, w.v0);
  acc.v1 = _mm512_dpbusd_epi32(acc.v1, a, w.v1);
  acc.v2 = _mm512_dpbusd_epi32(acc.v2, a, w.v2);
  acc.v3 = _mm512_dpbusd_epi32(acc.v3, a, w.v3);
}

__m512i vector(const Vec4& x, int v) {
  switch (v) {
    case 0: return x.v0;
    case 1: return x.v1;
    case 2: return x.v2;
    default: return x.v3;
  }
}

// Columns [col, col + 16) of those below `n_end`, as a lane mask.
__mmask16 column_mask(std::uint32_t col, std::uint32_t n_end) {
  if (col >= n_end) return 0;
  const std::uint32_t valid = n_end - col;
  return valid >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << valid) - 1);
}

// The K loops below are kept out of line and hand their accumulators back as they are: inlined
// into their callers they get a worse register allocation from GCC 12 (copies inside the loop).

// The 4x64 tile: sums of rows a0..a3 (each a row of A; repeated pointers when fewer than 4 rows
// remain) against one block, which starts with the corrections.
__attribute__((noinline)) void tile_4x64(std::uint32_t steps, const std::int8_t* a0,
                                         const std::int8_t* a1, const std::int8_t* a2,
                                         const std::int8_t* a3, const std::uint8_t* block,
                                         Vec4 sums[4]) {
  Vec4 acc0 = load4(block), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  const std::uint8_t* step = block + kHeaderBytes;
  for (std::uint32_t s = 0; s < steps; ++s, step += kStepBytes) {
    const Vec4 w = load4(step);
    dpbusd4(acc0, load_a4(a0 + s * kKr), w);
    dpbusd4(acc1, load_a4(a1 + s * kKr), w);
    dpbusd4(acc2, load_a4(a2 + s * kKr), w);
    dpbusd4(acc3, load_a4(a3 + s * kKr), w);
  }
  sums[0] = acc0;
  sums[1] = acc1;
  sums[2] = acc2;
  sums[3] = acc3;
}

// c = (a_scale * w_scale) * float(sum), the contract's expression, for the columns in `mask`.
// (The zero-masked conversion is used because GCC 12's unmasked _mm512_cvtepi32_ps trips
// -Wmaybe-uninitialized on its own undefined-vector operand; the lanes outside `mask` are not
// stored anyway.)
void store_f32(float* dst, const float* w_scale, float a_scale, __mmask16 mask, __m512i sums) {
  const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(a_scale), _mm512_maskz_loadu_ps(mask, w_scale));
  _mm512_mask_storeu_ps(dst, mask, _mm512_mul_ps(scale, _mm512_maskz_cvtepi32_ps(mask, sums)));
}

struct StoreS32 {
  std::int32_t* c;
  std::size_t c_stride;
  void operator()(std::uint32_t row, std::uint32_t col, __mmask16 mask, __m512i sums) const {
    _mm512_mask_storeu_epi32(c + row * c_stride + col, mask, sums);
  }
};

struct StoreF32 {
  const float* a_scale;
  const float* w_scale;
  float* c;
  std::size_t c_stride;
  void operator()(std::uint32_t row, std::uint32_t col, __mmask16 mask, __m512i sums) const {
    store_f32(c + row * c_stride + col, w_scale + col, a_scale[row], mask, sums);
  }
};

// Column blocks outermost: a block (64 * K bytes) stays in L2 while every row tile reads it.
template <typename Store>
void gemm(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
          const std::int8_t* a, std::size_t a_stride, const void* packed, const Store& store) {
  const std::uint32_t steps = k_steps(k);
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
      Vec4 sums[kMr];
      tile_4x64(steps, a0, a1, a2, a3, block, sums);
      for (int v = 0; v < 4; ++v) {
        const __mmask16 mask = column_mask(col + 16 * v, n_end);
        if (mask == 0) break;
        for (std::uint32_t r = 0; r < rows; ++r)
          store(row + r, col + 16 * v, mask, vector(sums[r], v));
      }
    }
  }
}

void gemm_s32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const void* packed, std::int32_t* c,
              std::size_t c_stride) {
  gemm(m, n_begin, n_end, k, a, a_stride, packed, StoreS32{c, c_stride});
}

void gemm_f32(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
              const std::int8_t* a, std::size_t a_stride, const float* a_scale, const void* packed,
              const float* w_scale, float* c, std::size_t c_stride) {
  gemm(m, n_begin, n_end, k, a, a_stride, packed, StoreF32{a_scale, w_scale, c, c_stride});
}

// GEMV: one activation row against one block, with even and odd K steps in separate
// accumulators: 8 independent vpdpbusd chains over one contiguous stream of weights.
__attribute__((noinline)) void gemv_1x64(std::uint32_t steps, const std::int8_t* a,
                                         const std::uint8_t* block, Vec4& even_out, Vec4& odd_out) {
  Vec4 even = load4(block);
  const __m512i zero = _mm512_setzero_si512();
  Vec4 odd = {zero, zero, zero, zero};
  const std::uint8_t* step = block + kHeaderBytes;
  std::uint32_t s = 0;
  for (; s + 2 <= steps; s += 2, step += 2 * kStepBytes) {
    dpbusd4(even, load_a4(a + s * kKr), load4(step));
    dpbusd4(odd, load_a4(a + (s + 1) * kKr), load4(step + kStepBytes));
  }
  if (s < steps) dpbusd4(even, load_a4(a + s * kKr), load4(step));
  even_out = even;
  odd_out = odd;
}

void gemv_f32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
              float a_scale, const void* packed, const float* w_scale, float* c) {
  const std::uint32_t steps = k_steps(k);
  const std::size_t stride = block_bytes(k);
  for (std::uint32_t col = n_begin; col < n_end; col += kNr) {
    Vec4 even, odd;
    gemv_1x64(steps, a, static_cast<const std::uint8_t*>(packed) + (col / kNr) * stride, even, odd);
    for (int v = 0; v < 4; ++v) {
      const __mmask16 mask = column_mask(col + 16 * v, n_end);
      if (mask == 0) break;
      store_f32(c + col + 16 * v, w_scale + col + 16 * v, a_scale, mask,
                _mm512_add_epi32(vector(even, v), vector(odd, v)));
    }
  }
}

}  // namespace

extern constinit const QGemmVariant qgemm_f32_qs8dx_qs8cx_4x64c4 = {
    .name = "qgemm_f32_qs8dx_qs8cx__avx512vnni_4x64c4",
    .gemv_name = "qgemv_f32_qs8dx_qs8cx__avx512vnni_64c4",
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
