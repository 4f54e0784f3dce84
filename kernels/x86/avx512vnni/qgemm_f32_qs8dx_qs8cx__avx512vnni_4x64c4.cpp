// AVX-512 VNNI W8A8 GEMM (prefill) with vpdpbusd, exact for every int8 value, and its packing.
// The decode GEMV, on canonical rows, is qgemv_f32_qs8dx_qs8cx__avx512vnni_16x64.cpp.
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
// every weight load aligned. pack() builds a block 16 columns at a time: 64 bytes of K of each
// of the 16 rows, transposed as 32-bit elements (64 shuffles), are 16 steps of those columns, and
// vpdpbusd by ones on the same vectors gives the row sums. (qgemm_f32_canonical() packs on every
// call, so pack() runs at memory speed rather than byte by byte.)
//
// GEMM tile 4x64: 4 rows x 4 vectors = 16 accumulators. Per K step: 4 weight loads, 4 broadcast
// loads + vpxord, 16 vpdpbusd; the tile is bound by vpdpbusd throughput. The column loop is
// outermost, so a weight block (64 * K bytes) stays in L2 while every row tile uses it. When
// fewer than 4 rows remain, the spare rows of the tile repeat the last one and are not stored.
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

constexpr std::uint32_t kMr = 4, kNr = 64, kKr = 4;
constexpr std::size_t kStepBytes = kNr * kKr;                     // one K step of one block
constexpr std::size_t kHeaderBytes = kNr * sizeof(std::int32_t);  // the corrections

std::uint32_t k_steps(std::uint32_t k) { return (k + kKr - 1) / kKr; }
std::size_t block_bytes(std::uint32_t k) { return kHeaderBytes + k_steps(k) * kStepBytes; }

std::size_t packed_size(std::uint32_t n, std::uint32_t k) {
  return static_cast<std::size_t>((n + kNr - 1) / kNr) * block_bytes(k);
}

// Bytes [0, count) of a 64-byte chunk, count in [1, 64].
__mmask64 first_bytes(std::uint32_t count) {
  return count >= 64 ? ~__mmask64{0} : (__mmask64{1} << count) - 1;
}

// One group of 16 columns of a block (columns col..col + 15 of W, those >= n zero), all of K:
// 64 bytes of each of the 16 rows (the last chunk masked to k, so the padding reads as zeros)
// are transposed as 32-bit elements, which gives the 16 steps of the chunk for these columns,
// one vector each; the same vectors give the row sums (vpdpbusd by ones: 4 bytes per lane).
// `out` is the block's first step, `header` its corrections, both at this group's offset.
void pack_group(std::uint32_t n, std::uint32_t k, std::uint32_t col, const std::int8_t* w,
                std::uint8_t* out, std::uint8_t* header) {
  const std::uint32_t steps = k_steps(k);
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i sums = _mm512_setzero_si512();
  for (std::uint32_t kc = 0; kc < k; kc += 64) {
    const __mmask64 mask = first_bytes(k - kc);
    __m512i x[16];
    for (std::uint32_t i = 0; i < 16; ++i) {
      x[i] = col + i < n
                 ? _mm512_maskz_loadu_epi8(mask, w + static_cast<std::size_t>(col + i) * k + kc)
                 : _mm512_setzero_si512();
    }
    transpose16x16(x);
    const std::uint32_t first = kc / kKr;
    const std::uint32_t count = steps - first < 16 ? steps - first : 16;
    for (std::uint32_t j = 0; j < count; ++j) {
      _mm512_storeu_si512(out + (first + j) * kStepBytes, x[j]);
      sums = _mm512_dpbusd_epi32(sums, ones, x[j]);
    }
  }
  // |sum| <= 128 * kMaxK, so -128 * sum fits in int32.
  _mm512_storeu_si512(header, _mm512_mullo_epi32(sums, _mm512_set1_epi32(-128)));
}

void pack(std::uint32_t n, std::uint32_t k, const std::int8_t* w, void* packed) {
  auto* out = static_cast<std::uint8_t*>(packed);
  const std::uint32_t blocks = (n + kNr - 1) / kNr;
  for (std::uint32_t b = 0; b < blocks; ++b, out += block_bytes(k)) {
    for (std::uint32_t g = 0; g < kNr / 16; ++g) {
      pack_group(n, k, b * kNr + 16 * g, w, out + kHeaderBytes + 64 * g, out + 64 * g);
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

}  // namespace

// The decode GEMV on canonical rows: qgemv_f32_qs8dx_qs8cx__avx512vnni_16x64.cpp.
void qgemv_s32_qs8dx_qs8cx_16x64(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                 const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                 std::int32_t* c);
void qgemv_f32_qs8dx_qs8cx_16x64(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                 const std::int8_t* a, float a_scale, const std::int8_t* w,
                                 std::size_t w_stride, const float* w_scale, float* c);

extern constinit const QGemmVariant qgemm_f32_qs8dx_qs8cx_4x64c4 = {
    .name = "qgemm_f32_qs8dx_qs8cx__avx512vnni_4x64c4",
    .gemv_name = "qgemv_f32_qs8dx_qs8cx__avx512vnni_16x64",
    .isa = "avx512vnni",
    .supported = isa_avx512vnni_supported,
    .mr = kMr,
    .nr = kNr,
    .kr = kKr,
    .packed_size = packed_size,
    .pack = pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = qgemv_f32_qs8dx_qs8cx_16x64,
    .gemv_s32 = qgemv_s32_qs8dx_qs8cx_16x64,
};

}  // namespace mobilellm::kernels::avx512vnni
