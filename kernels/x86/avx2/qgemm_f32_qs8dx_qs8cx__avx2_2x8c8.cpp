// AVX2 W8A8 GEMM (prefill) and its packing: int8 widened to int16 (vpmovsxbw) and multiplied
// pairwise into int32 (vpmaddwd). Exact for every int8 value: a product is at most 128 * 128 =
// 2^14 and vpmaddwd adds two of them into an int32, so nothing saturates. (vpmaddubsw saturates
// the int16 sum of two u8 x s8 products; the decode GEMV, qgemv_f32_qs8dx_qs8cx__avx2_8x32.cpp,
// uses its exact sign-transfer form when the activations hold no -128.)
//
// Packed layout ("8c8"): columns in blocks of 8 (the last block zero-padded), K zero-padded to a
// multiple of 8. A block is K/8 steps of 64 bytes; a step holds, for columns 0..7 in order, that
// column's 8 consecutive int8 weights. One 16-byte load + vpmovsxbw gives columns 2c and 2c+1 as
// 8 int16 each, to be multiplied by the same 8 activations broadcast to both 128-bit halves:
// lanes 0-3 of the vpmaddwd result are partial sums of column 2c, lanes 4-7 of column 2c+1.
// Three vphaddd and one vpermd turn the 4 accumulators of a row into 8 column sums at the end.
// pack() builds a block 32 bytes of K at a time: the 8 rows' chunks, as 8-byte elements, are
// transposed into 4 steps (vpunpck[lh]qdq + vperm2i128), so it runs at memory speed
// (qgemm_f32_canonical() packs on every call).
//
// GEMM tile 2x8: 2 rows x 4 column pairs = 8 accumulators, 2 activation registers, 1 weight
// register (a third row would need 12 accumulators and 3 activations: more than the 16 ymm
// registers once the temporaries count). Per K step: 6 widening loads, 8 vpmaddwd, 8 vpaddd.
// The column loop is outermost, so a weight block (8 * K bytes) stays in L1 while every row tile
// uses it.
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

constexpr std::uint32_t kMr = 2, kNr = 8, kKr = 8;
constexpr std::size_t kStepBytes = kNr * kKr;  // one K step of one column block

std::uint32_t k_steps(std::uint32_t k) { return (k + kKr - 1) / kKr; }
std::size_t block_bytes(std::uint32_t k) { return k_steps(k) * kStepBytes; }

std::size_t packed_size(std::uint32_t n, std::uint32_t k) {
  return static_cast<std::size_t>((n + kNr - 1) / kNr) * block_bytes(k);
}

// 32 bytes of K of row `row` from offset kc (zeros past k, and for rows >= n).
__m256i load_chunk(std::uint32_t n, std::uint32_t k, const std::int8_t* w, std::uint32_t row,
                   std::uint32_t kc) {
  if (row >= n) return _mm256_setzero_si256();
  const std::int8_t* p = w + static_cast<std::size_t>(row) * k + kc;
  if (k - kc >= 32) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  alignas(32) std::int8_t bytes[32] = {};
  std::memcpy(bytes, p, k - kc);
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(bytes));
}

// One block (columns col..col + 7), 32 bytes of K at a time: the 8 rows' chunks, as 4 x 8-byte
// elements each, are transposed into the chunk's 4 steps (columns 0-3 and 4-7 of a step are
// two 32-byte vectors).
void pack_block(std::uint32_t n, std::uint32_t k, std::uint32_t col, const std::int8_t* w,
                std::int8_t* out) {
  const std::uint32_t steps = k_steps(k);
  for (std::uint32_t kc = 0; kc < k; kc += 32) {
    __m256i half[2][4];  // [columns 0-3 or 4-7][step of the chunk]
    for (int h = 0; h < 2; ++h) {
      const __m256i r0 = load_chunk(n, k, w, col + 4 * h, kc);
      const __m256i r1 = load_chunk(n, k, w, col + 4 * h + 1, kc);
      const __m256i r2 = load_chunk(n, k, w, col + 4 * h + 2, kc);
      const __m256i r3 = load_chunk(n, k, w, col + 4 * h + 3, kc);
      const __m256i u0 = _mm256_unpacklo_epi64(r0, r1), u1 = _mm256_unpackhi_epi64(r0, r1);
      const __m256i u2 = _mm256_unpacklo_epi64(r2, r3), u3 = _mm256_unpackhi_epi64(r2, r3);
      half[h][0] = _mm256_permute2x128_si256(u0, u2, 0x20);
      half[h][1] = _mm256_permute2x128_si256(u1, u3, 0x20);
      half[h][2] = _mm256_permute2x128_si256(u0, u2, 0x31);
      half[h][3] = _mm256_permute2x128_si256(u1, u3, 0x31);
    }
    const std::uint32_t first = kc / kKr;
    const std::uint32_t count = steps - first < 4 ? steps - first : 4;
    for (std::uint32_t s = 0; s < count; ++s) {
      std::int8_t* step = out + (first + s) * kStepBytes;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(step), half[0][s]);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(step + 32), half[1][s]);
    }
  }
}

void pack(std::uint32_t n, std::uint32_t k, const std::int8_t* w, void* packed) {
  auto* out = static_cast<std::int8_t*>(packed);
  const std::uint32_t blocks = (n + kNr - 1) / kNr;
  for (std::uint32_t b = 0; b < blocks; ++b) pack_block(n, k, b * kNr, w, out + b * block_bytes(k));
}

// Lanes [0, count) all ones, the rest zero.
__m256i first_lanes(std::uint32_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<std::int32_t>(count)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// 8 activations, sign-extended to int16 and repeated in both 128-bit halves.
__m256i load_a8(const std::int8_t* p) {
  std::int64_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_cvtepi8_epi16(_mm_set1_epi64x(v));
}

// Weights of columns 2c and 2c+1 for one K step, as 2 x 8 int16.
__m256i load_w16(const std::int8_t* step, int c) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(step + 16 * c)));
}

// The accumulators of one row against one column block: v<c> holds columns 2c (lanes 0-3) and
// 2c+1 (lanes 4-7). Named members, not an array: GCC 12 keeps arrays of vectors partly in memory
// inside the K loop.
struct Vec4 {
  __m256i v0, v1, v2, v3;
};

Vec4 zero4() {
  const __m256i z = _mm256_setzero_si256();
  return {z, z, z, z};
}

__m256i madd(__m256i acc, __m256i a, __m256i w) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, w));
}

// One K step of two rows sharing each weight load.
void step2(Vec4& acc0, Vec4& acc1, __m256i a0, __m256i a1, const std::int8_t* step) {
  __m256i w = load_w16(step, 0);
  acc0.v0 = madd(acc0.v0, a0, w);
  acc1.v0 = madd(acc1.v0, a1, w);
  w = load_w16(step, 1);
  acc0.v1 = madd(acc0.v1, a0, w);
  acc1.v1 = madd(acc1.v1, a1, w);
  w = load_w16(step, 2);
  acc0.v2 = madd(acc0.v2, a0, w);
  acc1.v2 = madd(acc1.v2, a1, w);
  w = load_w16(step, 3);
  acc0.v3 = madd(acc0.v3, a0, w);
  acc1.v3 = madd(acc1.v3, a1, w);
}

// acc.v<c>: lanes 0-3 partial sums of column 2c, lanes 4-7 of column 2c+1 -> the 8 column sums.
__m256i reduce(const Vec4& acc) {
  const __m256i h01 = _mm256_hadd_epi32(acc.v0, acc.v1);  // c0 c0 c2 c2 | c1 c1 c3 c3
  const __m256i h23 = _mm256_hadd_epi32(acc.v2, acc.v3);  // c4 c4 c6 c6 | c5 c5 c7 c7
  const __m256i h = _mm256_hadd_epi32(h01, h23);          // c0 c2 c4 c6 | c1 c3 c5 c7
  return _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The K loops below are kept out of line and hand their accumulators back unreduced: inlined
// into their callers, or followed by the reduction, they get a worse register allocation from
// GCC 12 (copies and spills inside the loop).

// The 2x8 tile: rows a0 and a1 (the same pointer when one row remains) against one column block.
__attribute__((noinline)) void tile_2x8(std::uint32_t steps, const std::int8_t* a0,
                                        const std::int8_t* a1, const std::int8_t* block,
                                        Vec4& acc0_out, Vec4& acc1_out) {
  Vec4 acc0 = zero4(), acc1 = zero4();
  for (std::uint32_t s = 0; s < steps; ++s) {
    step2(acc0, acc1, load_a8(a0 + s * kKr), load_a8(a1 + s * kKr), block + s * kStepBytes);
  }
  acc0_out = acc0;
  acc1_out = acc1;
}

// Output stages: `valid` (1..8) columns starting at `col` of row `row`.
struct StoreS32 {
  std::int32_t* c;
  std::size_t c_stride;
  void operator()(std::uint32_t row, std::uint32_t col, std::uint32_t valid, __m256i sums) const {
    std::int32_t* dst = c + row * c_stride + col;
    if (valid == kNr) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), sums);
    } else {
      _mm256_maskstore_epi32(dst, first_lanes(valid), sums);
    }
  }
};

// c = (a_scale * w_scale) * float(sum), the contract's expression.
void store_f32(float* dst, const float* w_scale, float a_scale, std::uint32_t valid, __m256i sums) {
  if (valid == kNr) {
    const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(a_scale), _mm256_loadu_ps(w_scale));
    _mm256_storeu_ps(dst, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sums)));
  } else {
    const __m256i mask = first_lanes(valid);
    const __m256 scale = _mm256_mul_ps(_mm256_set1_ps(a_scale), _mm256_maskload_ps(w_scale, mask));
    _mm256_maskstore_ps(dst, mask, _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sums)));
  }
}

struct StoreF32 {
  const float* a_scale;
  const float* w_scale;
  float* c;
  std::size_t c_stride;
  void operator()(std::uint32_t row, std::uint32_t col, std::uint32_t valid, __m256i sums) const {
    store_f32(c + row * c_stride + col, w_scale + col, a_scale[row], valid, sums);
  }
};

// Column blocks outermost: a block (8 * K bytes) stays in L1 while every row tile reads it.
template <typename Store>
void gemm(std::uint32_t m, std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
          const std::int8_t* a, std::size_t a_stride, const void* packed, const Store& store) {
  const std::uint32_t steps = k_steps(k);
  const std::size_t stride = block_bytes(k);
  for (std::uint32_t col = n_begin; col < n_end; col += kNr) {
    const std::int8_t* block = static_cast<const std::int8_t*>(packed) + (col / kNr) * stride;
    const std::uint32_t valid = n_end - col < kNr ? n_end - col : kNr;
    for (std::uint32_t row = 0; row < m; row += kMr) {
      // A last single row is computed twice and stored once.
      const bool two = m - row > 1;
      const std::int8_t* a0 = a + row * a_stride;
      Vec4 acc0, acc1;
      tile_2x8(steps, a0, two ? a0 + a_stride : a0, block, acc0, acc1);
      store(row, col, valid, reduce(acc0));
      if (two) store(row + 1, col, valid, reduce(acc1));
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

// The decode GEMV on canonical rows: qgemv_f32_qs8dx_qs8cx__avx2_8x32.cpp.
void qgemv_s32_qs8dx_qs8cx_8x32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, const std::int8_t* w, std::size_t w_stride,
                                std::int32_t* c);
void qgemv_f32_qs8dx_qs8cx_8x32(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k,
                                const std::int8_t* a, float a_scale, const std::int8_t* w,
                                std::size_t w_stride, const float* w_scale, float* c);

extern constinit const QGemmVariant qgemm_f32_qs8dx_qs8cx_2x8c8 = {
    .name = "qgemm_f32_qs8dx_qs8cx__avx2_2x8c8",
    .gemv_name = "qgemv_f32_qs8dx_qs8cx__avx2_8x32",
    .isa = "avx2",
    .supported = isa_avx2_supported,
    .mr = kMr,
    .nr = kNr,
    .kr = kKr,
    .packed_size = packed_size,
    .pack = pack,
    .gemm_s32 = gemm_s32,
    .gemm_f32 = gemm_f32,
    .gemv_f32 = qgemv_f32_qs8dx_qs8cx_8x32,
    .gemv_s32 = qgemv_s32_qs8dx_qs8cx_8x32,
};

}  // namespace mobilellm::kernels::avx2
