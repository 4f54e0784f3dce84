// Pieces shared by the three ARM W8A8 variants (neon, neondot, neoni8mm): the packed weight layout
// of the GEMMs, the output stages and the GEMV driver on canonical rows. Only Armv8.0 Advanced
// SIMD instructions, valid in every ARM translation unit.
//
// Everything here is in an unnamed namespace on purpose: each ISA translation unit that includes
// this header gets its own internal-linkage copies, compiled with that unit's flags. An inline
// function with external linkage would instead be emitted once per unit under one symbol, and the
// linker could pick the copy built with -march=armv8.2-a+i8mm for the baseline variant (see
// kernels/README.md, "ODR").
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mobilellm::kernels::arm {
namespace {

// The packed layout of every ARM variant ("<nr>c<kr>"): columns in blocks of Nr (the last block
// zero-padded), K zero-padded to a multiple of Kr. A block is K/Kr steps of Nr * Kr bytes; a step
// holds, for columns 0..Nr-1 in order, that column's Kr consecutive int8 weights:
//     packed[((block * steps + step) * Nr + column) * Kr + t] = W[block * Nr + column][step * Kr + t]
// So a block is one contiguous stream, read once from start to end by the K loop. What one
// 16-byte load of a step means depends on Kr: one column's 16 weights (Kr = 16, smull), 4 columns'
// 4 weights (Kr = 4, sdot), or 2 columns' 8 weights, i.e. one smmla 8x2 operand (Kr = 8).
template <std::uint32_t Nr, std::uint32_t Kr>
struct BlockedLayout {
  static constexpr std::size_t kStepBytes = std::size_t{Nr} * Kr;

  static std::uint32_t k_steps(std::uint32_t k) { return (k + Kr - 1) / Kr; }
  static std::size_t block_bytes(std::uint32_t k) { return k_steps(k) * kStepBytes; }

  static std::size_t packed_size(std::uint32_t n, std::uint32_t k) {
    return static_cast<std::size_t>((n + Nr - 1) / Nr) * block_bytes(k);
  }

  static void pack(std::uint32_t n, std::uint32_t k, const std::int8_t* w, void* packed) {
    auto* out = static_cast<std::int8_t*>(packed);
    const std::uint32_t blocks = (n + Nr - 1) / Nr, steps = k_steps(k);
    for (std::uint32_t b = 0; b < blocks; ++b) {
      for (std::uint32_t s = 0; s < steps; ++s) {
        for (std::uint32_t c = 0; c < Nr; ++c) {
          const std::uint32_t col = b * Nr + c;
          for (std::uint32_t t = 0; t < Kr; ++t) {
            const std::uint32_t kk = s * Kr + t;
            *out++ = col < n && kk < k ? w[static_cast<std::size_t>(col) * k + kk] : 0;
          }
        }
      }
    }
  }

  // The block holding column `col` (a multiple of Nr).
  static const std::int8_t* block(const void* packed, std::uint32_t col, std::uint32_t k) {
    return static_cast<const std::int8_t*>(packed) + (col / Nr) * block_bytes(k);
  }
};

// Output stages. Kernels hand over the sums of 4 consecutive columns at a time; `valid` (1..4) of
// them are inside [n_begin, n_end), and only those are read (w_scale) or written (c).

inline void store_s32x4(std::int32_t* dst, std::uint32_t valid, int32x4_t sums) {
  if (valid == 4) {
    vst1q_s32(dst, sums);
    return;
  }
  std::int32_t lanes[4];
  vst1q_s32(lanes, sums);
  std::memcpy(dst, lanes, valid * sizeof(std::int32_t));
}

// c = (a_scale * w_scale) * float(sum), the contract's expression (built with -ffp-contract=off,
// so no fused multiply-add; vcvtq_f32_s32 rounds to nearest like the reference's conversion).
inline void store_f32x4(float* dst, const float* w_scale, float a_scale, std::uint32_t valid,
                        int32x4_t sums) {
  if (valid == 4) {
    const float32x4_t scale = vmulq_n_f32(vld1q_f32(w_scale), a_scale);
    vst1q_f32(dst, vmulq_f32(scale, vcvtq_f32_s32(sums)));
    return;
  }
  float lanes[4] = {};
  std::memcpy(lanes, w_scale, valid * sizeof(float));
  const float32x4_t scale = vmulq_n_f32(vld1q_f32(lanes), a_scale);
  vst1q_f32(lanes, vmulq_f32(scale, vcvtq_f32_s32(sums)));
  std::memcpy(dst, lanes, valid * sizeof(float));
}

// gemm_s32's output: row `row`, columns [col, col + valid).
struct StoreS32 {
  std::int32_t* c;
  std::size_t c_stride;
  void operator()(std::uint32_t row, std::uint32_t col, std::uint32_t valid,
                  int32x4_t sums) const {
    store_s32x4(c + row * c_stride + col, valid, sums);
  }
};

// gemm_f32's output.
struct StoreF32 {
  const float* a_scale;
  const float* w_scale;
  float* c;
  std::size_t c_stride;
  void operator()(std::uint32_t row, std::uint32_t col, std::uint32_t valid,
                  int32x4_t sums) const {
    store_f32x4(c + row * c_stride + col, w_scale + col, a_scale[row], valid, sums);
  }
};

// Hands the Nr column sums of one row of a tile (Nr / 4 vectors, columns 4g..4g+3 in sums[g]) to
// `store`, as far as they lie below n_end.
template <std::uint32_t Nr, typename Store>
void store_row(const Store& store, std::uint32_t row, std::uint32_t col, std::uint32_t n_end,
               const int32x4_t (&sums)[Nr / 4]) {
  for (std::uint32_t g = 0; g < Nr / 4 && col + 4 * g < n_end; ++g) {
    const std::uint32_t left = n_end - col - 4 * g;
    store(row, col + 4 * g, left < 4 ? left : 4, sums[g]);
  }
}

// The decode GEMV on canonical rows (kernels.hpp: row j at w + j * w_stride, only bytes [0, k) of
// it read), shared by every ARM variant: output columns in passes of 4 rows whose K loop shares
// each 16-byte activation load, K in steps of 16 bytes, the 4 sums of a pass as one int32x4
// (columns j..j+3, each row reduced once, at the end of K). `dot` is the variant's K loop:
//     int32x4_t dot(std::uint32_t steps, const std::int8_t* a, const std::int8_t* w0,
//                   const std::int8_t* w1, const std::int8_t* w2, const std::int8_t* w3,
//                   const std::int8_t* prefetch)
// returns the sums over `steps` whole 16-byte steps of a against the 4 rows, and prefetches one
// 64-byte line from `prefetch` onwards per step, in address order: the next pass's rows (this
// pass's own on the last one, so never past n_end), as the x86 GEMVs do. A step reads 4 x 16 = 64
// bytes of weights, so the prefetches cover the next pass when its rows are contiguous. The K tail
// (k % 16 bytes) never comes from past a row: the tails of a and of the 4 rows are copied into
// zeroed 16-byte buffers and run as one more step (zeros add nothing). A last pass of fewer than 4
// rows repeats its last row (computed, not stored); `store` (StoreS32 or StoreF32 with row 0)
// receives only the outputs in [n_begin, n_end).
constexpr std::uint32_t kGemvRows = 4, kGemvStep = 16;
constexpr std::size_t kGemvPrefetchLine = 64;  // bytes of weights per step, one cache line

template <typename Dot, typename Store>
void gemv_rows4(std::uint32_t n_begin, std::uint32_t n_end, std::uint32_t k, const std::int8_t* a,
                const std::int8_t* w, std::size_t w_stride, Dot dot, const Store& store) {
  const std::uint32_t steps = k / kGemvStep, tail = k % kGemvStep;
  const std::size_t done = std::size_t{steps} * kGemvStep;
  alignas(16) std::int8_t a_tail[kGemvStep] = {};
  alignas(16) std::int8_t w_tail[kGemvRows][kGemvStep] = {};  // bytes [tail, 16) stay zero
  if (tail != 0) std::memcpy(a_tail, a + done, tail);
  for (std::uint32_t j = n_begin; j < n_end; j += kGemvRows) {
    const std::uint32_t rows = n_end - j < kGemvRows ? n_end - j : kGemvRows;
    const std::int8_t* w0 = w + std::size_t{j} * w_stride;
    const std::int8_t* w1 = rows > 1 ? w0 + w_stride : w0;
    const std::int8_t* w2 = rows > 2 ? w1 + w_stride : w1;
    const std::int8_t* w3 = rows > 3 ? w2 + w_stride : w2;
    const std::int8_t* next = j + 2 * kGemvRows <= n_end ? w0 + kGemvRows * w_stride : w0;
    int32x4_t sums = dot(steps, a, w0, w1, w2, w3, next);
    if (tail != 0) {
      std::memcpy(w_tail[0], w0 + done, tail);
      std::memcpy(w_tail[1], w1 + done, tail);
      std::memcpy(w_tail[2], w2 + done, tail);
      std::memcpy(w_tail[3], w3 + done, tail);
      sums = vaddq_s32(sums, dot(1, a_tail, w_tail[0], w_tail[1], w_tail[2], w_tail[3], w_tail[0]));
    }
    store(0, j, rows, sums);
  }
}

}  // namespace
}  // namespace mobilellm::kernels::arm
